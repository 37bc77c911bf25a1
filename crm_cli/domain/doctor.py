"""``crm doctor``: a data-quality lint; every finding comes with a command that fixes it.

Checks (``CHECKS``, in this order), each finding one of three severities:

- ``emails``: addresses still marked deliverable (ok or deferred) that are not valid
  addresses (error), whose imported hard bounce or complaint is newer than their status
  (error), or that were deferred ``DEFERRALS`` (3) times or more (warning). Bounces,
  complaints and deferrals count when ``crm import mail`` matched them to the campaign
  message they report on (that is where the address is known).
- ``phones``: phones not stored in E.164 form: phonenumbers could not read them when they
  were stored (warning). The fix writes the E.164 form when the number reads now (with
  ``phone.region``, or the record's two-letter country), else removes it.
- ``consent``: contacts with consent ``unknown`` who will be mailed: in the segment of an
  email campaign not yet done (a draft's segment as it is now; a send under way: its
  frozen list's recipients still waiting), or in a segment named with ``segments``
  (``--segment``) (warning). Sent campaigns are history, not a risk.
- ``orphans``: deals with neither contact nor organization (warning), activities attached
  to nothing (warning), follow-ups pointing at records that no longer exist (error).
- ``duplicates``: groups of likely duplicate contacts from the duplicate finder at its
  default threshold (warning). Above ``DUPES_MAX_CONTACTS`` contacts it looks at that
  many, the most recently changed, and says so (``crm contact dupes`` looks at all).
- ``stale``: open deals untouched for longer than their stage allows, by the thresholds
  of ``crm alerts`` (warning).
- ``overdue``: open follow-ups more than ``days`` (default ``alerts.overdue_days``) days
  past due (warning).
- ``tickets``: active tickets past their response target with no answer (warning).
- ``empty-orgs``: organizations nothing refers to: no people, deals, activities, tickets
  or follow-ups (info).

A fix is a ``crm`` command line (the words after ``crm``) that makes its finding go away
when run: it closes, links, corrects or deletes the record. Each is one change set,
so ``crm undo`` reverts it. The lint itself writes nothing and claims nothing: run it
as often as you like.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from crm_cli.errors import InvalidInput
from crm_cli.storage import doctor as store
from crm_cli.storage.db import Db

CHECKS = ("emails", "phones", "consent", "orphans", "duplicates", "stale", "overdue", "tickets",
          "empty-orgs")  # fmt: skip
SEVERITIES = ("info", "warning", "error")  # lowest first
_RANK = {s: i for i, s in enumerate(SEVERITIES)}
DEFAULT_LIMIT = 20
DEFERRALS = 3  # deferred this many times: the address is probably dead
DUPES_MAX_CONTACTS = 20_000  # the duplicate finder takes ~25 s on 100,000 contacts


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    severity: str
    ref: str  # contact:12, deal:3, org:5, followup:7, ticket:4, activity:9, email:ana@x.es
    text: str  # what it is about: a name, a title, a subject
    detail: str  # what is wrong
    fix: tuple[str, ...]  # the crm command line that fixes it, without the leading 'crm'

    def to_dict(self, fix_line: str) -> dict:
        return {"check": self.check, "severity": self.severity, "ref": self.ref,
                "text": self.text, "detail": self.detail, "fix": fix_line}  # fmt: skip


@dataclass(slots=True)
class CheckResult:
    check: str
    count: int = 0  # findings in all
    findings: list[Finding] = field(default_factory=list)  # the first `limit`, worst first
    by_severity: dict[str, int] = field(default_factory=dict)
    note: str | None = None  # e.g. that the check looked at part of the data
    seconds: float = 0.0

    @property
    def left_out(self) -> int:
        return self.count - len(self.findings)


@dataclass(slots=True)
class Report:
    results: list[CheckResult]

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.results for f in r.findings]

    @property
    def total(self) -> int:
        return sum(r.count for r in self.results)

    def by_severity(self) -> dict[str, int]:
        out = {s: 0 for s in reversed(SEVERITIES)}
        for r in self.results:
            for s, n in r.by_severity.items():
                out[s] += n
        return out


@dataclass(slots=True)
class _Run:
    db: Db
    now: datetime
    limit: int
    days: int | None
    segments: tuple[str, ...]
    min_rank: int
    notes: dict[str, str] = field(default_factory=dict)  # check -> what it left out


# A part of a check: its severity and a function of the run giving (count, first findings).
_Part = tuple[str, Callable[[_Run], tuple[int, list[Finding]]]]


def parse_checks(names: list[str] | None) -> list[str]:
    """The checks to run, in their usual order (all when none are named)."""
    if not names:
        return list(CHECKS)
    wanted = set()
    for n in names:
        for part in n.split(","):
            key = part.strip().lower()
            if not key:
                continue
            if key not in CHECKS:
                raise InvalidInput(f"unknown check '{part.strip()}'; checks: {', '.join(CHECKS)}")
            wanted.add(key)
    if not wanted:
        raise InvalidInput(f"name a check: {', '.join(CHECKS)}")
    return [c for c in CHECKS if c in wanted]


def severity(text: str) -> str:
    s = text.strip().lower()
    if s not in _RANK:
        raise InvalidInput(f"severity must be info, warning or error, not '{text}'")
    return s


def run(
    db: Db, checks: list[str] | None = None, *, limit: int = DEFAULT_LIMIT,
    days: int | None = None, segments: list[str] | tuple[str, ...] = (),
    min_severity: str = "info", now: datetime | None = None,
) -> Report:  # fmt: skip
    """Run the named checks (default: all) and return, per check, how many findings of at
    least ``min_severity`` there are and the first ``limit`` of them, worst first."""
    from crm_cli.domain import dates

    names = parse_checks(checks)
    if limit < 0:
        raise InvalidInput(f"--limit must be 0 or more, not {limit}")
    if days is not None and days < 0:
        raise InvalidInput(f"--days must be 0 or more, not {days}")
    ctx = _Run(db, now or dates.now(), limit, days, tuple(segments), _RANK[severity(min_severity)])
    if ctx.segments:
        from crm_cli.domain import segments as segs

        for s in ctx.segments:
            segs.get(db, s)  # NotFound before any work
    results = []
    for name in names:
        t0 = time.perf_counter()
        res = CheckResult(name)
        parts: list[_Part] = _PARTS[name]
        collected: list[Finding] = []
        for sev, part in parts:
            if _RANK[sev] < ctx.min_rank:
                continue
            n, found = part(ctx)
            res.count += n
            res.by_severity[sev] = res.by_severity.get(sev, 0) + n
            collected += found
        collected.sort(key=lambda f: -_RANK[f.severity])  # stable: each part's order kept
        res.findings = collected[:limit]
        res.note = ctx.notes.get(name)
        res.seconds = time.perf_counter() - t0
        results.append(res)
    return Report(results)


# ---------------------------------------------------------------- emails


def _edit_email(contact_id: int, remove: str, add: str | None = None, opt_out=False):
    words = ["contact", "edit", str(contact_id), "--remove-email", remove]
    if add:
        words += ["--add-email", add]
    if opt_out:
        words += ["--consent", "opted-out"]
    return tuple(words)


def _repaired_email(value: str) -> str | None:
    """An obvious repair of an invalid address (spaces, brackets, 'mailto:', a trailing
    dot or comma), if it makes a valid one."""
    from crm_cli.domain import validate

    v = "".join(value.split()).strip("<>\"'()[]")
    if v.lower().startswith("mailto:"):
        v = v[7:]
    v = v.rstrip(".,;:").strip("<>\"'")
    if not v or v == value:
        return None
    try:
        return validate.email(v)
    except InvalidInput:
        return None


def _invalid_emails(ctx: _Run) -> tuple[int, list[Finding]]:
    from crm_cli.domain import validate

    bad: list[tuple[int, str, str]] = []
    n = 0
    for _id, cid, value in store.deliverable_emails(ctx.db):
        try:
            validate.email(value)
        except InvalidInput as e:
            n += 1
            if len(bad) < ctx.limit:
                bad.append((cid, value, e.message))
    people = store.contacts_brief(ctx.db, [cid for cid, _, _ in bad])
    out = []
    for cid, value, why in bad:
        why = why.split(": ", 1)[1] if ": " in why else why
        fixed = _repaired_email(value)
        detail = f"not a valid address: {why}" + (f" (meant {fixed}?)" if fixed else "")
        out.append(Finding("emails", "error", f"email:{value}", _name(people, cid), detail,
                           _edit_email(cid, value, fixed)))  # fmt: skip
    return n, out


def _name(people: dict[int, dict], cid: int) -> str:
    p = people.get(cid)
    return p["name"] if p else f"contact {cid}"


def _bounced_emails(ctx: _Run) -> tuple[int, list[Finding]]:
    rows = store.reported_but_deliverable(ctx.db)
    out = []
    for r in rows[: ctx.limit]:
        complaint = (r["complained_at"] or "") >= (r["bounced_at"] or "")
        what, at = (
            ("complaint", r["complained_at"]) if complaint else ("hard bounce", r["bounced_at"])
        )
        detail = (f"{what} of {_day(at)} is newer than its status '{r['status']}'"
                  + (f" (set {_day(r['status_at'])})" if r["status_at"] else ""))  # fmt: skip
        opt_out = complaint and r["consent"] != "opted_out"
        out.append(Finding("emails", "error", f"email:{r['value']}", r["name"], detail,
                           _edit_email(r["contact_id"], r["value"], opt_out=opt_out)))  # fmt: skip
    return len(rows), out


def _deferred_emails(ctx: _Run) -> tuple[int, list[Finding]]:
    rows = store.often_deferred(ctx.db, DEFERRALS)
    out = []
    for r in rows[: ctx.limit]:
        detail = f"deferred {r['deferrals']} times, last on {_day(r['deferred_at'])}"
        if r["status_reason"]:
            detail += f" ({r['status_reason'][:80]})"
        out.append(Finding("emails", "warning", f"email:{r['value']}", r["name"], detail,
                           _edit_email(r["contact_id"], r["value"])))  # fmt: skip
    return len(rows), out


def _day(at: str | None) -> str:
    """A stored instant as the local calendar day."""
    if not at:
        return "?"
    from crm_cli.domain import dates

    try:
        return dates.to_local(dates.from_db(at)).date().isoformat()
    except (ValueError, InvalidInput):
        return at[:10]


# ---------------------------------------------------------------- phones


def _e164(raw: str, region: str | None) -> str | None:
    """The number in E.164 form if phonenumbers reads it as valid (with ``region`` for
    numbers written without their country code)."""
    import phonenumbers

    try:
        num = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def _phones(ctx: _Run) -> tuple[int, list[Finding]]:
    import phonenumbers

    from crm_cli import config

    bad = []
    for row in store.phone_suspects(ctx.db):
        value = row[3]
        if value.startswith("+") and value[1:].isdigit() and _e164(value, None) == value:
            continue  # written in E.164 and valid: nothing to do
        bad.append(row)
    first = bad[: ctx.limit]
    people = store.contacts_brief(ctx.db, [r[1] for r in first if r[1] is not None])
    orgs = store.orgs_brief(ctx.db, [r[2] for r in first if r[2] is not None])
    region = (config.get("phone.region") or "").upper() or None
    out = []
    for _pid, cid, oid, value, raw, label in first:
        owner = people.get(cid) if cid is not None else orgs.get(oid)
        country = ((owner or {}).get("country") or "").strip().upper()
        tries = [r for r in (region, country) if r and r in phonenumbers.SUPPORTED_REGIONS]
        fixed, used = None, None
        for reg in [None, *dict.fromkeys(tries)]:
            fixed = _e164(raw or value, reg)
            if fixed:
                used = reg
                break
        words = ["contact", "edit", str(cid)] if cid is not None else ["org", "edit", str(oid)]
        words += ["--remove-phone", value]
        if fixed and fixed != value:
            words += ["--add-phone", f"{label}={fixed}" if label else fixed]
            how = f" with region {used}" if used else ""
            detail = f"'{raw or value}' is not stored in E.164 form; it reads as {fixed}{how}"
        else:
            where = f" for region {', '.join(dict.fromkeys(tries))}" if tries else ""
            detail = (f"'{raw or value}' is not a valid phone number{where}: re-add it with its"
                      " country code (--add-phone +CC…), or drop it")  # fmt: skip
        ref = f"contact:{cid}" if cid is not None else f"org:{oid}"
        name = (owner or {}).get("name") or ref
        out.append(Finding("phones", "warning", ref, name, detail, tuple(words)))
    return len(bad), out


# ---------------------------------------------------------------- consent


def _consent(ctx: _Run) -> tuple[int, list[Finding]]:
    from crm_cli.domain import segments as segs

    why: dict[int, str] = {}  # contact -> the first reason it is mailed

    def mark(ids, reason: str) -> None:
        for i in ids:
            why.setdefault(i, reason)

    for c in store.unsent_email_campaigns(ctx.db):
        if c["frozen_at"]:
            mark(store.pending_recipients(ctx.db, c["id"]),
                 f"waiting in the list of email campaign '{c['name']}' ({c['status']})")  # fmt: skip
        else:
            ids = segs.member_ids(ctx.db, segs.get(ctx.db, str(c["segment_id"])), now=ctx.now)
            mark(ids, f"in segment '{c['segment']}' of email campaign '{c['name']}' (not sent)")
    for s in ctx.segments:
        seg = segs.get(ctx.db, s)
        mark(segs.member_ids(ctx.db, seg, now=ctx.now), f"in segment '{seg.name}' (--segment)")
    unknown = store.consent_unknown(ctx.db, sorted(why))
    first = unknown[: ctx.limit]
    people = store.contacts_brief(ctx.db, first)
    out = [
        Finding(
            "consent",
            "warning",
            f"contact:{cid}",
            _name(people, cid),
            f"consent unknown, {why[cid]}: record it (granted) or opt them out",
            ("contact", "edit", str(cid), "--consent", "opted-out"),
        )  # fmt: skip
        for cid in first
    ]
    return len(unknown), out


# ---------------------------------------------------------------- orphans


def _partyless_deals(ctx: _Run) -> tuple[int, list[Finding]]:
    from crm_cli.storage import graph

    n, rows = store.partyless_deals(ctx.db, ctx.limit)
    out = []
    for r in rows:
        did = r["id"]
        who = store.deal_main_participant(ctx.db, did)
        if who is not None:
            fix = ("deal", "edit", str(did), "--contact", str(who))
            detail = f"no contact and no organization ({r['status']}); contact {who} took part in its activities"
        else:
            refs = graph.referrers(ctx.db, "deals", did)
            fix = ("deal", "delete", str(did)) + (("--cascade",) if refs else ())
            detail = f"no contact and no organization ({r['status']}, {r['stage']}): link it with --contact or --org, or delete it"
            if refs:
                what = ", ".join(f"{len(ids)} {t.replace('_', ' ')}" for t, _, ids in refs)
                detail += f" (referred to by {what})"
        out.append(Finding("orphans", "warning", f"deal:{did}", r["title"], detail, fix))
    return n, out


def _unattached_activities(ctx: _Run) -> tuple[int, list[Finding]]:
    n, rows = store.unattached_activities(ctx.db, ctx.limit)
    out = [
        Finding(
            "orphans",
            "warning",
            f"activity:{r['id']}",
            f"{r['kind']}: {r['subject']}" if r["subject"] else r["kind"],
            f"of {_day(r['occurred_at'])}, attached to no contact, organization, deal or ticket",
            ("log", "delete", str(r["id"])),
        )  # fmt: skip
        for r in rows
    ]
    return n, out


def _dangling_followups(ctx: _Run) -> tuple[int, list[Finding]]:
    n, rows = store.dangling_followups(ctx.db, ctx.limit)
    out = []
    for r in rows:
        gone = [(k, r[f"{k}_gone"]) for k in ("contact", "org", "deal", "ticket") if r[f"{k}_gone"]]
        detail = "points at " + ", ".join(f"{k} {i}" for k, i in gone) + ", which no longer exists"
        if any(k == "ticket" for k, _ in gone):
            fix: tuple[str, ...] = (
                "followup",
                "delete",
                str(r["id"]),
            )  # edit cannot unlink tickets
        else:
            fix = ("followup", "edit", str(r["id"]))
            for k, _ in gone:
                fix += (f"--{k}", "")
        out.append(Finding("orphans", "error", f"followup:{r['id']}", r["text"], detail, fix))
    return n, out


# ---------------------------------------------------------------- duplicates


def _duplicates(ctx: _Run) -> tuple[int, list[Finding]]:
    from crm_cli.domain import dupes

    total = store.contact_count(ctx.db)
    cap = DUPES_MAX_CONTACTS if total > DUPES_MAX_CONTACTS else None
    if cap:
        ctx.notes["duplicates"] = (
            f"looked at the {cap:,} most recently changed of {total:,} contacts;"
            " crm contact dupes looks at all of them")  # fmt: skip
    records = store.recent_contact_records(ctx.db, cap)
    found = dupes.clusters(dupes.person_candidates(records), dupes.DEFAULT_MIN_SCORE)
    first = found[: ctx.limit]
    names = store.contact_names(ctx.db, sorted({i for c in first for i in c.ids}))
    out = []
    for c in first:
        keep, *others = c.ids  # the oldest record stays; merge fills its gaps from the rest
        fix = ("contact", "merge", str(keep), *map(str, others))
        if len(others) > 3:
            fix += ("--yes",)
        who = " / ".join(dict.fromkeys(names.get(i, f"contact {i}") for i in c.ids))
        detail = (f"likely duplicates (score {c.score:.2f}: {', '.join(c.reasons)}): "
                  f"contacts {', '.join(map(str, c.ids))}")  # fmt: skip
        out.append(Finding("duplicates", "warning", f"contact:{keep}", who, detail, fix))
    return len(found), out


# ---------------------------------------------------------------- stale, overdue, tickets


def _stale(ctx: _Run) -> tuple[int, list[Finding]]:
    from crm_cli.domain import alerts

    default, per = alerts.stage_limits(ctx.db)
    before = {name: alerts._midnight_before(ctx.now, d) for name, d in per.items()}
    n, rows = store.stale_deals(
        ctx.db, alerts._midnight_before(ctx.now, default), before, ctx.limit
    )
    out = []
    for r in rows:
        days = per.get(r["stage"].casefold(), default)
        detail = (f"no activity or stage change for {alerts._days(r['since'], ctx.now)} days in "
                  f"{r['stage']} (limit {days}): log what happened, move it, or close it")  # fmt: skip
        out.append(Finding("stale", "warning", f"deal:{r['id']}", r["title"], detail,
                           ("deal", "lost", str(r["id"]), "--reason", "stale")))  # fmt: skip
    return n, out


def _overdue(ctx: _Run) -> tuple[int, list[Finding]]:
    from crm_cli.domain import alerts, settings

    days = ctx.days if ctx.days is not None else int(settings.get(ctx.db, "alerts.overdue_days"))
    n, rows = store.overdue_followups(ctx.db, alerts._midnight_before(ctx.now, days), ctx.limit)
    out = [
        Finding(
            "overdue",
            "warning",
            f"followup:{r['id']}",
            r["text"],
            f"{alerts._days(r['due_at'], ctx.now)} days overdue (limit {days}): mark it done,"
            f" or snooze it (crm followup snooze {r['id']} WHEN)",
            ("followup", "done", str(r["id"])),
        )  # fmt: skip
        for r in rows
    ]
    return n, out


def _tickets(ctx: _Run) -> tuple[int, list[Finding]]:
    from crm_cli.domain import dates

    n, rows = store.unanswered_tickets(ctx.db, dates.to_db(ctx.now), ctx.limit)
    out = []
    for r in rows:
        hours = (ctx.now - dates.from_db(r["due_at"])).total_seconds() / 3600
        late = f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"
        detail = (f"{r['priority']}, {r['status']}: unanswered {late} past its response"
                  f" target; answer it (crm ticket comment {r['id']} TEXT) or resolve it")  # fmt: skip
        out.append(Finding("tickets", "warning", f"ticket:{r['id']}", r["subject"], detail,
                           ("ticket", "status", str(r["id"]), "resolved")))  # fmt: skip
    return n, out


# ---------------------------------------------------------------- empty organizations


def _empty_orgs(ctx: _Run) -> tuple[int, list[Finding]]:
    n, rows = store.unreferenced_orgs(ctx.db, ctx.limit)
    out = [
        Finding(
            "empty-orgs",
            "info",
            f"org:{r['id']}",
            r["name"],
            "no people, deals, activities, tickets or follow-ups",
            ("org", "delete", str(r["id"])),
        )  # fmt: skip
        for r in rows
    ]
    return n, out


_PARTS: dict[str, list[_Part]] = {
    "emails": [("error", _invalid_emails), ("error", _bounced_emails),
               ("warning", _deferred_emails)],
    "phones": [("warning", _phones)],
    "consent": [("warning", _consent)],
    "orphans": [("error", _dangling_followups), ("warning", _partyless_deals),
                ("warning", _unattached_activities)],
    "duplicates": [("warning", _duplicates)],
    "stale": [("warning", _stale)],
    "overdue": [("warning", _overdue)],
    "tickets": [("warning", _tickets)],
    "empty-orgs": [("info", _empty_orgs)],
}  # fmt: skip
