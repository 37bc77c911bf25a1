"""Follow-ups (tasks), stay-in-touch cadences, and what ``crm remind`` reports exactly once.

A follow-up has a due instant (stored in UTC, typed in local words), an assignee (by
default whoever adds it), optional links to a contact, an organization and a deal, and
optionally a repeat rule (see ``recurrence``): completing a recurring one creates the
next occurrence in the same change set. A contact with a cadence falls due
``cadence_days`` after its last logged activity (or after the cadence was set); storage
keeps ``last_activity_at`` current, so any logged activity resets the clock.

``remind`` claims what it reports in ``reminder_claims``, keyed by item, recipient and
due time, in a change set marked not undoable, under ``BEGIN IMMEDIATE``: two runs at
the same moment report each item once between them, and snoozing (a new due time)
makes an item reportable again. If delivering the report fails, ``release`` deletes
the claims in another non-undoable change set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

from crm_cli.domain import dates, recurrence, selectors, users, validate
from crm_cli.errors import InvalidInput, NotFound
from crm_cli.storage import followups as store
from crm_cli.storage.db import Db, transaction

GROUPS = ("overdue", "today", "upcoming", "done")
MAX_ID = 2**63 - 1
MAX_CADENCE_DAYS = 3650


@dataclass(frozen=True, slots=True)
class Followup:
    """A follow-up, or (kind 'cadence') a contact due for a touch, as the agenda shows it."""

    kind: str  # "followup" or "cadence"
    id: int  # the follow-up's id; for kind "cadence", the contact's id
    text: str
    due_at: str
    group: str  # overdue, today, upcoming or done
    status: str
    rule: str | None = None
    every: str | None = None  # the rule in words
    contact_id: int | None = None
    contact: str | None = None
    org_id: int | None = None
    org: str | None = None
    deal_id: int | None = None
    deal: str | None = None
    ticket_id: int | None = None
    assignee_id: int | None = None
    assignee: str | None = None
    done_at: str | None = None
    previous_id: int | None = None
    rule_start_at: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    cadence_days: int | None = None  # kind "cadence" only
    last_activity_at: str | None = None  # kind "cadence" only

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape (documented in README.md)."""
        return {
            "kind": self.kind,
            "id": self.id,
            "text": self.text,
            "due_at": self.due_at,
            "group": self.group,
            "status": self.status,
            "rule": self.rule,
            "every": self.every,
            "contact_id": self.contact_id,
            "contact": self.contact,
            "org_id": self.org_id,
            "org": self.org,
            "deal_id": self.deal_id,
            "deal": self.deal,
            "ticket_id": self.ticket_id,
            "assignee_id": self.assignee_id,
            "assignee": self.assignee,
            "done_at": self.done_at,
            "previous_id": self.previous_id,
            "rule_start_at": self.rule_start_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "cadence_days": self.cadence_days,
            "last_activity_at": self.last_activity_at,
        }


# ---------------------------------------------------------------- time helpers


def _clock(now: datetime | None) -> datetime:
    return dates.now() if now is None else now


def _zone(tz: tzinfo | None) -> tzinfo:
    return tz or dates.local_tz()


def group_of(due_at: str, status: str, now: datetime, tz: tzinfo) -> str:
    """overdue (before now), today (the rest of the local day), upcoming, or done.

    A due time at local midnight is a date without a time ('friday', '2026-12-01'): it
    covers that whole day, so it is 'today' on the day and overdue from the next.
    """
    if status == "done":
        return "done"
    due = dates.from_db(due_at)
    local_due = due.astimezone(tz)
    if local_due.time() == time(0):
        next_day = datetime.combine(local_due.date() + timedelta(days=1), time(0))
        if next_day.replace(tzinfo=tz) <= now:
            return "overdue"
        if local_due <= now:
            return "today"
    if due < now:
        return "overdue"
    local_now = now.astimezone(tz)
    tomorrow = (local_now.replace(tzinfo=None) + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    if due < tomorrow.replace(tzinfo=tz).astimezone(now.tzinfo):
        return "today"
    return "upcoming"


def local_text(at: str | None, tz: tzinfo | None = None) -> str:
    """A stored instant as local 'Tue 2026-03-10 09:00' for people."""
    if not at:
        return ""
    return dates.from_db(at).astimezone(_zone(tz)).strftime("%a %Y-%m-%d %H:%M")


_UNSIGNED_SPAN = re.compile(r"(?:[0-9]{1,7}\s*[a-z]+\s*)+")


def parse_due(text: str, *, now: datetime | None = None, tz: tzinfo | None = None) -> datetime:
    """Read a due time in plain words ('tomorrow 9am', '+3d', 'next friday', ISO)."""
    return dates.parse_when(text, now=now, tz=tz)


def parse_snooze(text: str, *, now: datetime | None = None, tz: tzinfo | None = None) -> datetime:
    """Read a snooze target: a due time, or a bare span ('2h', '3d') meaning from now."""
    s = text.strip().lower() if isinstance(text, str) else text
    if isinstance(s, str) and _UNSIGNED_SPAN.fullmatch(s) and not s.isdigit():
        try:
            return dates.parse_when("+" + s, now=now, tz=tz)
        except InvalidInput:
            pass
    return dates.parse_when(text, now=now, tz=tz)


# ---------------------------------------------------------------- reading


def _from_row(row: dict, now: datetime, tz: tzinfo) -> Followup:
    return Followup(
        kind="followup",
        id=row["id"],
        text=row["text"],
        due_at=row["due_at"],
        group=group_of(row["due_at"], row["status"], now, tz),
        status=row["status"],
        rule=row["rule"],
        every=recurrence.describe(row["rule"]),
        contact_id=row["contact_id"],
        contact=row["contact"],
        org_id=row["org_id"],
        org=row["org"],
        deal_id=row["deal_id"],
        deal=row["deal"],
        ticket_id=row["ticket_id"],
        assignee_id=row["assignee_id"],
        assignee=row["assignee"],
        done_at=row["done_at"],
        previous_id=row["previous_id"],
        rule_start_at=row["rule_start_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _cadence_item(row: dict, now: datetime, tz: tzinfo) -> Followup:
    days = row["cadence_days"]
    last = row["last_activity_at"]
    since = f"last activity {local_text(last, tz)[4:14]}" if last else "no activity logged yet"
    return Followup(
        kind="cadence",
        id=row["id"],
        text=f"Get in touch with {row['name']} (every {days} days; {since})",
        due_at=row["due_at"],
        group=group_of(row["due_at"], "open", now, tz),
        status="open",
        every=f"every {days} days",
        contact_id=row["id"],
        contact=row["name"],
        org_id=row["org_id"],
        org=row["org"],
        assignee_id=row["owner_id"],
        assignee=row["owner"],
        cadence_days=days,
        last_activity_at=last,
    )


def _check_id(followup_id: int) -> None:
    if not 0 < followup_id <= MAX_ID:
        raise NotFound(f"no follow-up with id {followup_id}")


def _row(db: Db, followup_id: int) -> dict:
    _check_id(followup_id)
    row = store.get(db, followup_id)
    if row is None:
        raise NotFound(f"no follow-up with id {followup_id}")
    return row


def get(
    db: Db, followup_id: int, *, now: datetime | None = None, tz: tzinfo | None = None
) -> Followup:
    """Return one follow-up by id."""
    return _from_row(_row(db, followup_id), _clock(now), _zone(tz))


def agenda(
    db: Db,
    *,
    include_done: bool = False,
    assignee: str | None = None,
    contact: str | None = None,
    org: str | None = None,
    deal: str | None = None,
    cadence: bool = True,
    days: int | None = None,
    filter_args: list[str] | None = None,
    limit: int | None = None,
    now: datetime | None = None,
    tz: tzinfo | None = None,
) -> list[Followup]:
    """Open follow-ups (and done ones with include_done) plus contacts past their cadence.

    Items come ordered by group (overdue, today, upcoming, done), then due time.
    ``assignee`` narrows to one user's follow-ups and the contacts they own; ``days``
    keeps upcoming ones to the next N local days (None: all of them).
    """
    now, tz = _clock(now), _zone(tz)
    assignee_id = users.resolve(db, assignee).id if assignee is not None else None
    contact_id = selectors.contacts(db, contact)[0] if contact is not None else None
    org_id = selectors.orgs(db, org)[0] if org is not None else None
    deal_id = selectors.deal(db, deal) if deal is not None else None
    filter_sql = None
    if filter_args:
        from crm_cli import query
        from crm_cli.domain import filters
        from crm_cli.storage import filters as compiled

        node = filters.parse(list(filter_args), compiled.filter_types(store.FIELDS), now=now, tz=tz)
        if query.mentions(node, "status"):
            include_done = True  # status:done asks for done ones
        filter_sql = compiled.compile_filter(_statuses(node), store.FIELDS)
        cadence = False  # a filter is about follow-ups, not contacts due for a touch
    rows = store.select(
        db,
        filter_sql=filter_sql,
        include_done=include_done,
        assignee_id=assignee_id,
        contact_id=contact_id,
        org_id=org_id,
        deal_id=deal_id,
        due_before=horizon(days, now, tz),
        limit=limit,
    )
    items = [_from_row(r, now, tz) for r in rows]
    if cadence and deal_id is None:
        items += [
            _cadence_item(r, now, tz)
            for r in store.cadence_due(
                db, dates.to_db(now), owner_id=assignee_id, contact_id=contact_id, org_id=org_id
            )
        ]
    order = {g: i for i, g in enumerate(GROUPS)}
    items.sort(key=lambda i: (order[i.group], i.due_at, i.kind != "followup", i.id))
    return items[:limit] if limit is not None else items


def _statuses(node):
    """Check status values, so status:dne is an error instead of nothing found."""
    from crm_cli.domain.filters import check_values

    def status(value: str) -> str:
        v = value.strip().lower()
        if v not in ("open", "done"):
            raise InvalidInput(f"status must be open or done, not '{value}'")
        return v

    return check_values(node, {"status": status})


def horizon(days: int | None, now: datetime | None = None, tz: tzinfo | None = None) -> str | None:
    """The end of the agenda: local midnight after the next ``days`` days (None: no end)."""
    if days is None:
        return None
    if days < 0:
        raise InvalidInput(f"--days must be 0 or more, not {days}")
    now, tz = _clock(now), _zone(tz)
    day = now.astimezone(tz).date() + timedelta(days=days + 1)
    return dates.to_db(datetime.combine(day, time(0)).replace(tzinfo=tz))


def later_count(
    db: Db, days: int, *, assignee: str | None = None, contact: str | None = None,
    org: str | None = None, deal: str | None = None, now: datetime | None = None,
) -> int:  # fmt: skip
    """How many open follow-ups fall due after the agenda's ``days``."""
    assignee_id = users.resolve(db, assignee).id if assignee is not None else None
    contact_id = selectors.contacts(db, contact)[0] if contact is not None else None
    org_id = selectors.orgs(db, org)[0] if org is not None else None
    deal_id = selectors.deal(db, deal) if deal is not None else None
    return store.count_from(db, horizon(days, now), assignee_id=assignee_id,
                            contact_id=contact_id, org_id=org_id, deal_id=deal_id)  # fmt: skip


# ---------------------------------------------------------------- writing


def _text(text: str | None) -> str:
    t = validate.text(text) or ""
    if not t:
        raise InvalidInput(
            "a follow-up needs some text, e.g. crm followup add 'Call Ana' --due +2d"
        )
    return t


def _links(db: Db, *, contact=None, org=None, deal=None) -> dict[str, int | None]:
    """Resolve --contact/--org/--deal selectors to ids ('' clears a link)."""
    out: dict[str, int | None] = {}
    if contact is not None:
        out["contact_id"] = selectors.contacts(db, contact)[0] if contact.strip() else None
    if org is not None:
        out["org_id"] = selectors.orgs(db, org)[0] if org.strip() else None
    if deal is not None:
        out["deal_id"] = selectors.deal(db, deal) if deal.strip() else None
    return out


def _rule(every: str | None, tz: tzinfo) -> str | None:
    if every is None or every.strip().lower() in ("", "none", "never", "off"):
        return None
    return recurrence.parse(every, tz=tz)


def _check_starts(rule: str | None, due_at: str, every: str, tz: tzinfo) -> None:
    """Refuse a rule whose series has no occurrence from the first due time on."""
    if rule is None:
        return
    due = dates.from_db(due_at)
    if recurrence.next_after(rule, due, due - timedelta(seconds=1), tz=tz) is None:
        raise InvalidInput(
            f"--every {every!r} has no occurrence from the due time on (UNTIL or COUNT ends it)"
        )


def add(
    db: Db,
    text: str,
    due: str,
    *,
    contact: str | None = None,
    org: str | None = None,
    deal: str | None = None,
    every: str | None = None,
    assign: str | None = None,
    now: datetime | None = None,
    tz: tzinfo | None = None,
) -> Followup:
    """Add a follow-up due at a time given in plain words; return it."""
    now, tz = _clock(now), _zone(tz)
    text = _text(text)
    due_at = dates.to_db(parse_due(due, now=now, tz=tz))
    if every is not None and every.strip().lower() in ("", "none", "never", "off"):
        raise InvalidInput(f"--every {every!r} is not a repeat rule; leave --every out instead")
    rule = _rule(every, tz)
    _check_starts(rule, due_at, every or "", tz)
    links = _links(db, contact=contact, org=org, deal=deal)
    assignee_id = users.resolve(db, assign).id if assign is not None else None
    with transaction(db, f"followup add {text[:40]}") as tx:
        fid = tx.insert(
            "followups",
            {
                "text": text,
                "due_at": due_at,
                "status": "open",
                "rule": rule,
                "rule_start_at": due_at if rule else None,
                **{"contact_id": None, "org_id": None, "deal_id": None, **links},
                "assignee_id": assignee_id if assignee_id is not None else tx.actor_id,
                "created_at": tx.at,
                "updated_at": tx.at,
            },
        )
    return get(db, fid, now=now, tz=tz)


@dataclass(frozen=True, slots=True)
class Completed:
    done: Followup
    next: Followup | None  # the next occurrence of a recurring follow-up
    ended: bool = False  # a recurring series with no further occurrence


def done(
    db: Db, ids: Iterable[int], *, now: datetime | None = None, tz: tzinfo | None = None
) -> list[Completed]:
    """Mark follow-ups done; a recurring one gets its next occurrence (one change set)."""
    now, tz = _clock(now), _zone(tz)
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise InvalidInput("give the id of a follow-up to mark done")
    created: list[tuple[int, int | None, bool]] = []
    with transaction(db, f"followup done {' '.join(map(str, ids))}") as tx:
        for fid in ids:
            row = _row(db, fid)
            if row["status"] == "done":
                raise InvalidInput(
                    f"follow-up {fid} is already done (at {local_text(row['done_at'], tz)})"
                )
            tx.update("followups", fid, {"status": "done", "done_at": tx.at, "updated_at": tx.at})
            next_id, ended = None, False
            if row["rule"]:
                due = dates.from_db(row["due_at"])
                start = dates.from_db(row["rule_start_at"] or row["due_at"])
                nxt = recurrence.next_after(row["rule"], start, max(due, now), tz=tz)
                if nxt is None:
                    ended = True
                else:
                    next_id = tx.insert(
                        "followups",
                        {
                            "text": row["text"],
                            "due_at": dates.to_db(nxt),
                            "status": "open",
                            "rule": row["rule"],
                            "rule_start_at": row["rule_start_at"] or row["due_at"],
                            "previous_id": fid,
                            "contact_id": row["contact_id"],
                            "org_id": row["org_id"],
                            "deal_id": row["deal_id"],
                            "ticket_id": row["ticket_id"],
                            "assignee_id": row["assignee_id"],
                            "created_at": tx.at,
                            "updated_at": tx.at,
                        },
                    )
            created.append((fid, next_id, ended))
    return [
        Completed(
            get(db, fid, now=now, tz=tz),
            get(db, nid, now=now, tz=tz) if nid is not None else None,
            ended,
        )
        for fid, nid, ended in created
    ]


def snooze(
    db: Db, followup_id: int, when: str, *, now: datetime | None = None, tz: tzinfo | None = None
) -> Followup:
    """Move an open follow-up's due time (a time in words, or a span such as 2h from now)."""
    now, tz = _clock(now), _zone(tz)
    target = parse_snooze(when, now=now, tz=tz)
    with transaction(db, f"followup snooze {followup_id}") as tx:
        row = _row(db, followup_id)
        if row["status"] == "done":
            raise InvalidInput(
                f"follow-up {followup_id} is done; only open follow-ups can be snoozed"
            )
        if target <= now:
            raise InvalidInput(
                f"{when.strip()!r} is {local_text(dates.to_db(target), tz)}, not in the future;"
                " snooze to a later time (or change the due time with crm followup edit --due)"
            )
        tx.update("followups", followup_id, {"due_at": dates.to_db(target), "updated_at": tx.at})
    return get(db, followup_id, now=now, tz=tz)


def edit(
    db: Db,
    followup_id: int,
    *,
    text: str | None = None,
    due: str | None = None,
    every: str | None = None,
    assign: str | None = None,
    contact: str | None = None,
    org: str | None = None,
    deal: str | None = None,
    now: datetime | None = None,
    tz: tzinfo | None = None,
) -> Followup:
    """Change a follow-up's text, due time, repeat rule ('none' stops it), assignee or links."""
    now, tz = _clock(now), _zone(tz)
    values: dict[str, Any] = {}
    if text is not None:
        values["text"] = _text(text)
    if due is not None:
        values["due_at"] = dates.to_db(parse_due(due, now=now, tz=tz))
    if every is not None:
        values["rule"] = _rule(every, tz)
    if assign is not None:
        values["assignee_id"] = users.resolve(db, assign).id
    values.update(_links(db, contact=contact, org=org, deal=deal))
    if not values:
        raise InvalidInput(
            "nothing to change: give --text, --due, --every, --assign, --contact, --org or --deal"
        )
    with transaction(db, f"followup edit {followup_id}") as tx:
        row = _row(db, followup_id)
        if row["status"] == "done" and ("rule" in values or "due_at" in values):
            raise InvalidInput(
                f"follow-up {followup_id} is done: its due time and repeat rule no longer apply"
            )
        if "rule" in values and values["rule"] != row["rule"]:
            # A new rule starts a new series at this occurrence; moving one occurrence's
            # due time keeps the series (its COUNT and its time of day) as it was.
            rule = values["rule"]
            values["rule_start_at"] = values.get("due_at", row["due_at"]) if rule else None
            if rule:
                _check_starts(rule, values["rule_start_at"], every or "", tz)
        if tx.update("followups", followup_id, values):
            tx.update("followups", followup_id, {"updated_at": tx.at})
    return get(db, followup_id, now=now, tz=tz)


def delete(db: Db, ids: Iterable[int]) -> list[int]:
    """Delete follow-ups; a later occurrence keeps its place in the series (crm undo restores)."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise InvalidInput("give the id of a follow-up to delete")
    with transaction(db, f"followup delete {' '.join(map(str, ids))}") as tx:
        for fid in ids:
            row = _row(db, fid)
            for nid in store.next_of(db, fid):
                tx.update("followups", nid, {"previous_id": row["previous_id"]})
            tx.delete("followups", fid)
    return ids


# ---------------------------------------------------------------- stay in touch

_CADENCE_RE = re.compile(
    r"(?:every\s+)?([0-9]{1,5})\s*(d|day|days|w|wk|wks|week|weeks)", re.IGNORECASE
)
_CADENCE_WORDS = {"daily": 1, "weekly": 7, "fortnightly": 14}


def parse_cadence(text: str | None) -> int | None:
    """Read '30d', '2w', 'every 45 days' into days; 'none' (or '') means no cadence."""
    if text is None:
        return None
    s = re.sub(r"\s+", " ", text.strip().lower())
    if s in ("", "none", "never", "off"):
        return None
    if s in _CADENCE_WORDS:
        return _CADENCE_WORDS[s]
    m = _CADENCE_RE.fullmatch(s)
    if not m:
        raise InvalidInput(
            f"cannot read {text.strip()!r} as a cadence; give days or weeks, e.g. 30d, 2w or "
            "'every 45 days' (none clears it)"
        )
    n = int(m.group(1)) * (7 if m.group(2).startswith("w") else 1)
    if not 1 <= n <= MAX_CADENCE_DAYS:
        raise InvalidInput(f"a cadence must be from 1 to {MAX_CADENCE_DAYS} days, not {n}")
    return n


def set_cadence(db: Db, contact_ids: list[int], days: int | None) -> list[int]:
    """Set (or with None clear) how often these contacts should hear from you; return the changed."""
    changed = []
    label = "contact cadence " + (f"{days}d" if days else "clear")
    with transaction(db, f"{label} {' '.join(map(str, contact_ids[:20]))}") as tx:
        for cid in contact_ids:
            row = store.cadence_row(db, cid)
            if row is None:
                raise NotFound(f"no contact with id {cid}")
            if row["cadence_days"] == days:
                continue
            values = {"cadence_days": days, "cadence_set_at": tx.at if days else None}
            tx.update("contacts", cid, {**values, "updated_at": tx.at})
            changed.append(cid)
    return changed


# ---------------------------------------------------------------- remind


@dataclass(frozen=True, slots=True)
class Reminder:
    """What one ``crm remind`` run reports to one recipient, and the claims that mark it."""

    recipient_id: int
    recipient: str
    items: tuple[Followup, ...]
    claim_ids: tuple[int, ...] = ()


def due_items(
    db: Db, recipient_id: int, *, now: datetime | None = None, tz: tzinfo | None = None
) -> list[Followup]:
    """Open follow-ups due by now assigned to the recipient, and contacts they own past cadence."""
    now, tz = _clock(now), _zone(tz)
    at = dates.to_db(now)
    items = [
        _from_row(r, now, tz) for r in store.select(db, assignee_id=recipient_id, due_until=at)
    ]
    items += [_cadence_item(r, now, tz) for r in store.cadence_due(db, at, owner_id=recipient_id)]
    items.sort(key=lambda i: (i.due_at, i.kind != "followup", i.id))
    return items


def remind(
    db: Db,
    recipient: str | None = None,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    tz: tzinfo | None = None,
) -> Reminder:
    """Claim and return what is due for the recipient that no earlier run reported to them.

    The claims are written in one change set marked not undoable under BEGIN IMMEDIATE,
    after reading under the same lock, so concurrent runs never report an item twice.
    ``dry_run`` returns the same items without claiming them.
    """
    now, tz = _clock(now), _zone(tz)
    user = users.resolve(db, recipient if recipient is not None else (db.actor or ""))

    def fresh() -> list[Followup]:
        return [
            i
            for i in due_items(db, user.id, now=now, tz=tz)
            if not store.is_claimed(db, i.kind, i.id, user.id, i.due_at)
        ]

    if dry_run:
        return Reminder(user.id, user.name, tuple(fresh()))
    claim_ids = []
    with transaction(db, f"remind {user.name}", undoable=False) as tx:
        items = fresh()
        for i in items:
            claim_ids.append(
                tx.insert(
                    "reminder_claims",
                    {
                        "item_kind": i.kind,
                        "item_id": i.id,
                        "recipient_id": user.id,
                        "due_at": i.due_at,
                        "claimed_at": tx.at,
                    },
                )
            )
    return Reminder(user.id, user.name, tuple(items), tuple(claim_ids))


def release(db: Db, reminder: Reminder) -> int:
    """Delete a run's claims (its report was not delivered), so the next run reports them again."""
    if not reminder.claim_ids:
        return 0
    with transaction(db, f"remind release {reminder.recipient}", undoable=False) as tx:
        gone = sum(tx.delete("reminder_claims", cid) is not None for cid in reminder.claim_ids)
    return gone


def digest(
    reminder: Reminder, *, now: datetime | None = None, tz: tzinfo | None = None
) -> tuple[str, str]:
    """The subject and plain-text body of a reminder digest email."""
    now, tz = _clock(now), _zone(tz)
    tasks = [i for i in reminder.items if i.kind == "followup"]
    touch = [i for i in reminder.items if i.kind == "cadence"]
    parts = []
    if tasks:
        parts.append(f"{len(tasks)} follow-up{'s' if len(tasks) != 1 else ''} due")
    if touch:
        parts.append(f"{len(touch)} contact{'s' if len(touch) != 1 else ''} to get in touch with")
    subject = "crm: " + (", ".join(parts) or "nothing due")
    lines = [f"Due for {reminder.recipient} as of {local_text(dates.to_db(now), tz)}:", ""]
    if tasks:
        lines.append("Follow-ups")
        for i in tasks:
            about = ", ".join(x for x in (i.contact, i.org, i.deal) if x)
            lines.append(
                f"  #{i.id}  {local_text(i.due_at, tz)}  {i.text}"
                + (f"  ({about})" if about else "")
                + (f"  [{i.every}]" if i.every else "")
            )
        lines.append("")
    if touch:
        lines.append("Stay in touch")
        for i in touch:
            lines.append(f"  contact {i.id}  due {local_text(i.due_at, tz)}  {i.text}")
        lines.append("")
    lines.append(
        "Mark one done with: crm followup done ID; snooze with: crm followup snooze ID WHEN"
    )
    return subject, "\n".join(lines) + "\n"
