"""Mail in (`crm import mail PATH…`): messages threaded onto the timelines of the people in them.

``crm_cli.io.mail_in`` reads .eml files, mbox files and Maildir folders into plain records;
this module writes them. The rules:

- A message is one ``email`` activity whose participants are every known contact among its
  From, To and Cc (matched by address, case-insensitively); its organization is theirs
  when they share one, else the sender's. Direction is ``out`` when From is one of our own
  addresses (``mail.own_addresses``, ``--own``, the team members' emails; ``@domain``
  takes a whole domain), else ``in``. Subject, the text body and the attachment names (a
  last line ``Attachments: …`` of the body), the date (the message's, else the newest
  Received header's, the mbox separator's, the file's time, or the import's: the summary
  counts which) and the mailbox it came from (the channel).
- Each message gets a ``mail_messages`` row keyed by its Message-ID (or ``sha256:`` of its
  content when it has none): importing it again creates nothing. Its thread is the first
  id of References, else the thread of the message it replies to (In-Reply-To), else its
  own id; a parent imported after its replies re-roots them, so a thread is one key
  whatever the order of import. A message that answers a campaign message (by
  In-Reply-To/References), or answers a message that is linked, is linked to that campaign
  recipient (our own replies too: their direction tells them apart).
- A message with no known contact is skipped (not recorded: importing it after its sender
  became a contact logs it). Its external correspondents -- From, and To/Cc when our own
  addresses are known, never our own or a mail system's (mailer-daemon, no-reply…) -- are
  listed as unknown; ``--create-contacts`` makes them leads (source ``email``).
- Auto-replies and read receipts are logged with outcome ``auto-reply`` / ``read receipt``
  (kind ``auto_reply``): they are not replies.
- A bounce marks the failed address's email rows: a hard one ``bounced``, a soft one
  (delayed, or given up on a temporary error) ``deferred`` unless already bounced or
  complained, with the time and the diagnostic; a newer status set since is left alone.
  A complaint (ARF feedback report) marks them ``complained`` and opts their contacts out.
  Neither is an interaction: no activity, so "last activity" and churn stay honest; the
  ``mail_messages`` row links it to the campaign recipient its original message was sent
  to (then that recipient's address and contact are the ones marked).
- A successful delivery report, a not-spam feedback report or mail-system mail naming no
  address is counted and skipped.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from crm_cli import config
from crm_cli.domain import activities, contacts, settings, validate
from crm_cli.domain.imports import ROW_ERRORS, Item, Options, Result
from crm_cli.storage import imports as import_store
from crm_cli.storage import mail as store
from crm_cli.storage.db import Db, Transaction, transaction

# Addresses that are never a person to add as a lead.
_ROBOT = re.compile(
    r"^(?:mailer-daemon|mail-daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply|"
    r"bounces?|bounce[+-=.].*|.*[-_.]bounces?|notifications?|notify|abuse|listserv|majordomo|"
    r"owner-.*|.*-owner|.*-request|daemon|root)$",
    re.I,
)
OUTCOMES = {"auto_reply": "auto-reply", "receipt": "read receipt"}


def parse_own(values) -> tuple[set[str], set[str]]:
    """Own addresses and @domains (lower-case) from config values and --own options."""
    exact, domains = set(), set()
    for v in values or ():
        for part in str(v).replace(";", ",").split(","):
            a = part.strip().lower().strip("<>")
            if not a:
                continue
            if a.startswith("@"):
                domains.add(a[1:])
            elif "@" in a:
                exact.add(a)
    return exact, domains


class _Run:
    """What one import remembers across its batches."""

    def __init__(self, db: Db, opts: Options, res: Result):
        extra = opts.extra
        own = list(config.get("mail.own_addresses") or []) + list(extra.get("own") or [])
        self.own, self.own_domains = parse_own(own + store.user_emails(db))
        self.create = bool(extra.get("create_contacts"))
        self.stages = settings.stages(db)
        self.msgs: dict[str, dict] = {}  # Message-ID (or content key) -> what this run wrote
        self.by_thread: dict[str, list[dict]] = {}  # thread key -> this run's message rows
        self.ids: set[int] = set()  # ids of this run's mail_messages rows
        self.unknown: Counter[str] = Counter()
        self.created: dict[str, int] = {}  # address -> lead created by this run
        self._external: dict[str, bool] = {}
        self.d = self.empty()
        self.d["own_addresses"] = len(self.own) + len(self.own_domains)
        res.details = self.d

    @staticmethod
    def empty() -> dict[str, Any]:
        return {
            "imported": 0, "logged": 0, "already": 0, "no_contact": 0, "mail_system": 0,
            "auto_replies": 0, "read_receipts": 0, "bounces": {"hard": 0, "soft": 0},
            "addresses_bounced": 0, "addresses_deferred": 0, "complaints": 0, "opted_out": 0,
            "campaign_replies": 0, "dates": {"header": 0, "received": 0, "mbox": 0,
                                             "mtime": 0, "import": 0},
            "own_addresses": 0, "contacts_created": [], "unknown": {},
        }  # fmt: skip

    def external(self, addr: str) -> bool:
        """Whether an address is someone else's, and a person's (not a mail robot's)."""
        known = self._external.get(addr)
        if known is None:
            known = self._external[addr] = not self.is_own(addr) and not _ROBOT.match(
                addr.split("@", 1)[0]
            )
        return known

    def is_own(self, addr: str | None) -> bool:
        if not addr:
            return False
        return addr in self.own or addr.rsplit("@", 1)[-1] in self.own_domains

    def finish(self) -> None:
        self.d["unknown"] = dict(sorted(self.unknown.items(), key=lambda kv: (-kv[1], kv[0])))


def complete(res: Result, walk) -> None:
    """Add what the reader met to the counts: the files read, files that were not mail, the
    messages it could not read (a run where no message could be read has only these)."""
    if not res.details:
        res.details = _Run.empty()
    res.details.update(files=walk.files, not_mail=list(walk.skipped),
                       unreadable=list(walk.problems))  # fmt: skip


def _state(db: Db, opts: Options, res: Result) -> _Run:
    run = opts.state.get("mail")
    if run is None:
        run = opts.state["mail"] = _Run(db, opts, res)
    return run


def _key(rec: dict) -> str:
    return rec["message_id"] or rec["hash"]


def _addrs(rec: dict) -> list[tuple[str, str]]:
    return rec["from"] + rec["to"] + rec["cc"]


def _ref_ids(rec: dict) -> list[str]:
    """The ids a message points back at: In-Reply-To, References, a report's original."""
    ids = list(rec["references"])
    if rec["in_reply_to"]:
        ids.append(rec["in_reply_to"])
    original = (rec.get("report") or {}).get("original_message_id")
    if original:
        ids.append(original)
    return ids


def write_batch(
    db: Db, tx: Transaction, items: list[Item], opts: Options, res: Result, reject, source=None
) -> None:
    """Write a batch of messages (see the module)."""
    run = _state(db, opts, res)
    batch = _Batch(db, tx, run, items)
    if run.create:
        batch.create_leads()
    for item in items:
        try:
            outcome = batch.one(item.record)
        except ROW_ERRORS as e:
            reject(item, str(e))
            continue
        if outcome == "created":
            res.created += 1
        else:
            res.unchanged += 1
    batch.flush()
    run.d["imported"] = res.created
    run.finish()


class _Batch:
    """One batch: its lookups done once, its new rows inserted together at the end."""

    def __init__(self, db: Db, tx: Transaction, run: _Run, items: list[Item]):
        self.db, self.tx, self.run = db, tx, run
        recs = [it.record for it in items]
        keys = [_key(r) for r in recs]
        refs = [i for r in recs for i in _ref_ids(r)]
        self.known = store.messages_by_ids(db, [*keys, *refs])
        self.campaign = store.recipients_by_message_ids(db, refs)
        addrs = {a for r in recs for _, a in _addrs(r)}
        for r in recs:
            report = r.get("report") or {}
            addrs.update(x["address"] for x in report.get("recipients", ()))
            addrs.update(x["original"] for x in report.get("recipients", ()) if x["original"])
            addrs.update(report.get("addresses", ()))
        addrs.update(c["email"].lower() for c in self.campaign.values() if c["email"])
        self.people = import_store.contacts_by_emails(db, addrs)
        for addr, cid in run.created.items():
            self.people.setdefault(addr, [cid])
        self.orphans = {}  # messages imported before their parent, by the parent's id
        for row in store.messages_in_threads(db, [k for k in keys if not k.startswith("sha256:")]):
            self.orphans.setdefault(row["thread_key"], []).append(row)
        self.recs = recs
        self.new: list[tuple[dict, list[int], dict]] = []  # (activity, contact ids, message)
        self.bare: list[dict] = []  # message rows without an activity (bounces, complaints)
        self._orgs: dict[int, int | None] | None = None

    # -- looking things up ---------------------------------------------------
    def message(self, mid: str | None) -> dict | None:
        if not mid:
            return None
        return self.run.msgs.get(mid) or self.known.get(mid)

    def thread(self, rec: dict) -> str:
        ids = rec["references"]
        first = ids[0] if ids else None
        for mid in (first, rec["in_reply_to"], *ids[1:]):
            m = self.message(mid)
            if m is not None:
                return m["thread_key"]
        return first or rec["in_reply_to"] or _key(rec)

    def recipient(self, ids: list[str]) -> int | None:
        """The campaign recipient these ids lead to: a campaign message among them, else an
        imported message (newest reference first) that carries one."""
        for mid in ids:
            c = self.campaign.get(mid)
            if c is not None:
                return c["id"]
        for mid in reversed(ids):
            m = self.message(mid)
            if m is not None and m.get("recipient_id"):
                return m["recipient_id"]
        return None

    def recipient_row(self, rid: int | None) -> dict | None:
        if rid is None:
            return None
        for c in self.campaign.values():
            if c["id"] == rid:
                return c
        return store.recipients_by_ids(self.db, [rid]).get(rid)

    def orgs(self, cids) -> dict[int, int | None]:
        if self._orgs is None:
            every = {c for cs in self.people.values() for c in cs}
            self._orgs = store.contact_orgs(self.db, every)
        missing = [c for c in cids if c not in self._orgs]
        if missing:
            self._orgs.update(store.contact_orgs(self.db, missing))
        return self._orgs

    def correspondents(self, rec: dict, direction: str) -> list[tuple[str, str]]:
        """The external people of a message who could be contacts (see the module)."""
        out = rec["from"][:1]
        if self.run.own or self.run.own_domains or direction == "out":
            out = out + rec["to"] + rec["cc"]
        return [(n, a) for n, a in out if self.run.external(a)]

    # -- leads -----------------------------------------------------------------
    def create_leads(self) -> None:
        """--create-contacts: one lead per unknown correspondent of the new messages."""
        wanted: dict[str, str] = {}
        for rec in self.recs:
            if rec["kind"] != "message" or self.message(_key(rec)) is not None:
                continue
            direction = "out" if rec["from"] and self.run.is_own(rec["from"][0][1]) else "in"
            for name, addr in self.correspondents(rec, direction):
                if addr not in self.people and addr not in wanted:
                    wanted[addr] = name
        drafts, addrs = [], []
        for addr, name in wanted.items():
            try:
                d = contacts.draft(None, _lead_name(name, addr), emails=[addr], source="email",
                                   stages=self.run.stages)  # fmt: skip
            except ROW_ERRORS:
                continue  # an address our validation refuses stays unknown
            drafts.append(d)
            addrs.append(addr)
        if not drafts:
            return
        ids = contacts.write_drafts(self.db, self.tx, drafts)
        for addr, cid in zip(addrs, ids):
            self.people[addr] = [cid]
            self.run.created[addr] = cid
            self.run.d["contacts_created"].append(addr)

    # -- one message -----------------------------------------------------------
    def one(self, rec: dict) -> str:
        run, d = self.run, self.run.d
        key = _key(rec)
        if self.message(key) is not None:
            d["already"] += 1
            return "unchanged"
        kind = rec["kind"]
        if kind == "report":
            d["mail_system"] += 1
            return "unchanged"
        if kind == "bounce":
            return self.bounce(rec, key)
        if kind == "complaint":
            return self.complaint(rec, key)
        sender = rec["from"][0][1] if rec["from"] else None
        direction = "out" if run.is_own(sender) else "in"
        if kind == "message":
            for _, addr in self.correspondents(rec, direction):
                if addr not in self.people:
                    run.unknown[addr] += 1
        elif kind == "auto_reply":
            d["auto_replies"] += 1
        else:
            d["read_receipts"] += 1
        cids = list(dict.fromkeys(c for _, a in _addrs(rec) for c in self.people.get(a, ())))
        if not cids:
            d["no_contact"] += 1
            return "unchanged"
        orgs = self.orgs(cids)
        shared = {orgs.get(c) for c in cids}
        org_id = next(iter(shared)) if len(shared) == 1 else None
        if org_id is None and sender in self.people:
            org_id = orgs.get(self.people[sender][0])
        body = rec["body"]
        if rec["attachments"]:
            names = "Attachments: " + ", ".join(rec["attachments"])
            body = f"{body}\n\n{names}" if body else names
        at = self.date(rec)
        row = activities.new_row(
            self.tx, "email", org_id=org_id, direction=direction, subject=rec["subject"],
            body=body, outcome=OUTCOMES.get(kind), occurred_at=at,
            channel=_channel(rec.get("folder")),
        )  # fmt: skip
        recipient = self.recipient(_ref_ids(rec))  # ours too: campaign reports count them apart
        mkind = "message" if kind == "message" else "auto_reply"
        message = self.message_row(rec, key, mkind, direction, at, recipient)
        self.new.append((row, cids, message))
        d["logged"] += 1
        if kind == "message" and direction == "in" and recipient is not None:
            d["campaign_replies"] += 1
        return "created"

    def date(self, rec: dict) -> str:
        dates = self.run.d["dates"]
        if rec["date"]:
            dates["header" if rec["date_from"] == "date" else rec["date_from"]] += 1
            return rec["date"]
        dates["import"] += 1
        return self.tx.at

    def message_row(self, rec, key, kind, direction, at, recipient) -> dict:
        """The mail_messages row (its activity id set on insert), remembered for threading;
        messages imported earlier whose thread is this message's id join its thread."""
        thread = self.thread(rec)
        sender = rec["from"][0][1] if rec["from"] else None
        row = {
            "message_id": key, "thread_key": thread, "in_reply_to": rec["in_reply_to"],
            "refs": " ".join(rec["references"]) or None, "kind": kind, "direction": direction,
            "from_addr": sender, "subject": validate.text(rec["subject"]), "sent_at": at,
            "activity_id": None, "recipient_id": recipient, "created_at": self.tx.at,
        }  # fmt: skip
        if thread != key:
            self.rekey(key, thread)
        self.register(row)
        return row

    def register(self, row: dict) -> None:
        self.run.msgs[row["message_id"]] = row
        self.run.by_thread.setdefault(row["thread_key"], []).append(row)

    def rekey(self, key: str, thread: str) -> None:
        """Messages whose thread is ``key`` (imported before the message with that id,
        which turns out to belong to ``thread``) move to ``thread``."""
        moved = self.run.by_thread.pop(key, [])
        moved += [r for r in self.orphans.pop(key, ()) if r["id"] not in self.run.ids]
        for row in moved:
            row["thread_key"] = thread
            if row.get("id") is not None:
                self.tx.update("mail_messages", row["id"], {"thread_key": thread})
        if moved:
            self.run.by_thread.setdefault(thread, []).extend(moved)

    # -- bounces and complaints -------------------------------------------------
    def _status_rows(self, addrs) -> list[dict]:
        rows = store.emails_by_values(self.db, addrs)
        return [r for a in dict.fromkeys(addrs) for r in rows.get(a, ())]

    def bounce(self, rec: dict, key: str) -> str:
        d = self.run.d
        report = rec["report"]
        recips = report["recipients"]
        hard = any(r["hard"] for r in recips)
        d["bounces"]["hard" if hard else "soft"] += 1
        original = report.get("original_message_id")
        recipient = self.recipient([original] if original else [])
        targets: dict[str, dict] = {}
        for r in recips:
            targets.setdefault(r["address"], r)
            if r["original"]:
                targets.setdefault(r["original"], r)
        c = self.recipient_row(recipient)
        if c is not None and c["email"] and len(recips) == 1:
            targets.setdefault(c["email"].lower(), recips[0])
        rows = self._status_rows(list(targets))
        if not rows and recipient is None:
            d["no_contact"] += 1
            return "unchanged"
        at = self.date(rec)
        with transaction(self.db, "import row"):
            for row in rows:
                r = targets[row["value"]]
                status = "bounced" if r["hard"] else "deferred"
                if not _raises(row, status, at):
                    continue
                self.tx.update("emails", row["id"], {
                    "status": status, "status_at": at,
                    "status_reason": validate.text((r["diagnostic"] or status)[:500]),
                })  # fmt: skip
                d["addresses_bounced" if status == "bounced" else "addresses_deferred"] += 1
            self.report_row(rec, key, "bounce" if hard else "deferral", at, recipient, original)
        return "created"

    def complaint(self, rec: dict, key: str) -> str:
        d = self.run.d
        report = rec["report"]
        d["complaints"] += 1
        original = report.get("original_message_id")
        recipient = self.recipient([original] if original else [])
        addrs = list(report["addresses"])
        cids: list[int] = []
        c = self.recipient_row(recipient)
        if c is not None:
            cids.append(c["contact_id"])
            if c["email"]:
                addrs.append(c["email"].lower())
        rows = self._status_rows(addrs)
        cids += [r["contact_id"] for r in rows]
        cids = list(dict.fromkeys(cids))
        if not cids:
            d["no_contact"] += 1
            return "unchanged"
        at = self.date(rec)
        reason = f"complaint ({report.get('feedback_type') or 'abuse'})"
        with transaction(self.db, "import row"):
            for row in rows:
                if _raises(row, "complained", at):
                    self.tx.update("emails", row["id"], {"status": "complained", "status_at": at,
                                                         "status_reason": reason})  # fmt: skip
            consents = store.contact_consents(self.db, cids)
            for cid in cids:
                if consents.get(cid) not in (None, "opted_out"):
                    self.tx.update("contacts", cid, {"consent": "opted_out", "consent_at": at,
                                                     "updated_at": self.tx.at})  # fmt: skip
                    d["opted_out"] += 1
            self.report_row(rec, key, "complaint", at, recipient, original)
        return "created"

    def report_row(self, rec, key, kind, at, recipient, original) -> None:
        """A bounce's or complaint's row: in the thread of the message it reports on."""
        m = self.message(original)
        row = {
            "message_id": key, "thread_key": m["thread_key"] if m else (original or key),
            "in_reply_to": original, "refs": None, "kind": kind, "direction": "in",
            "from_addr": rec["from"][0][1] if rec["from"] else None,
            "subject": validate.text(rec["subject"]), "sent_at": at, "activity_id": None,
            "recipient_id": recipient, "created_at": self.tx.at,
        }  # fmt: skip
        self.register(row)
        self.bare.append(row)

    # -- writing -----------------------------------------------------------------
    def flush(self) -> None:
        """Insert the batch's activities, participants and message rows, a statement each."""
        tx = self.tx
        if self.new:
            ids = tx.insert_many("activities", [a for a, _, _ in self.new])
            parts = []
            for aid, (a, cids, m) in zip(ids, self.new):
                m["activity_id"] = aid
                parts += [{"activity_id": aid, "contact_id": c, "occurred_at": a["occurred_at"]}
                          for c in cids]  # fmt: skip
            tx.insert_many("activity_participants", parts)
        rows = [m for _, _, m in self.new] + self.bare
        if rows:
            cols = ("message_id", "thread_key", "in_reply_to", "refs", "kind", "direction",
                    "from_addr", "subject", "sent_at", "activity_id", "recipient_id", "created_at")  # fmt: skip
            ids = tx.insert_many("mail_messages", [{c: m[c] for c in cols} for m in rows])
            for mid, m in zip(ids, rows):
                m["id"] = mid
            self.run.ids.update(ids)


_RANK = {"ok": 0, "deferred": 1, "bounced": 2, "complained": 3}


def _raises(row: dict, status: str, at: str) -> bool:
    """Whether a report at ``at`` moves an email's status to ``status``: only upwards
    (ok < deferred < bounced < complained, whatever order the mail is imported in), and not
    over an address set back to ok after that time."""
    if row["status"] == "ok" and row["status_at"] and row["status_at"] > at:
        return False
    return _RANK.get(status, 0) > _RANK.get(row["status"], 0)


def _lead_name(name: str, addr: str) -> str | None:
    """A lead's name: the display name without comments or quotes, unless it is an address."""
    n = re.sub(r"\([^()]*\)", " ", name or "").strip().strip("'\"").strip()
    n = " ".join(n.split())
    if not n or "@" in n:
        return None  # the draft names it by its address
    return n[:200]


def _channel(folder: str | None) -> str:
    text = " ".join(re.sub("[\x00-\x1f\x7f-\x9f\ud800-\udfff]", " ", folder or "").split())
    return f"mail: {text}"[:120] if text else "mail"
