"""Activities: one timeline of every interaction on every channel, with its participants.

An email to three people or a meeting with four is one activity with a participant row
per contact, so it appears on each of their timelines (and on their organizations').
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm_cli.domain import validate
from crm_cli.errors import InvalidInput, NotFound
from crm_cli.storage import activities as store
from crm_cli.storage.db import Db, Transaction, transaction

# What `crm log` records; 'comment' is a ticket comment (crm ticket comment).
KINDS = ("call", "email", "meeting", "chat", "visit", "social", "note")
ALL_KINDS = (*KINDS, "comment")
DIRECTIONS = ("in", "out")


@dataclass(frozen=True, slots=True)
class Activity:
    id: int
    kind: str
    direction: str | None
    subject: str | None
    body: str | None
    outcome: str | None
    duration_seconds: int | None
    occurred_at: str
    channel: str | None
    contacts: tuple[dict, ...]
    org_id: int | None
    org: str | None
    deal_id: int | None
    deal: str | None
    ticket_id: int | None
    actor_id: int | None
    actor: str | None
    created_at: str
    updated_at: str
    thread_key: str | None = None  # imported mail: the Message-ID of its thread's root
    message_id: str | None = None  # imported mail: its own Message-ID (or content key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "occurred_at": self.occurred_at,
            "direction": self.direction,
            "subject": self.subject,
            "body": self.body,
            "outcome": self.outcome,
            "duration_seconds": self.duration_seconds,
            "duration": format_duration(self.duration_seconds),
            "channel": self.channel,
            "contacts": [dict(c) for c in self.contacts],
            "contact_ids": [c["id"] for c in self.contacts],
            "org_id": self.org_id,
            "org": self.org,
            "deal_id": self.deal_id,
            "deal": self.deal,
            "ticket_id": self.ticket_id,
            "actor_id": self.actor_id,
            "actor": self.actor,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "thread_key": self.thread_key,
            "message_id": self.message_id,
        }


JSON_KEYS = ("id", "kind", "occurred_at", "direction", "subject", "body", "outcome",
             "duration_seconds", "duration", "channel", "contacts", "contact_ids", "org_id", "org",
             "deal_id", "deal", "ticket_id", "actor_id", "actor", "created_at", "updated_at",
             "thread_key", "message_id")  # fmt: skip


def format_duration(seconds: int | None) -> str | None:
    """Write seconds as '1h30m', '15m' or '45s'."""
    if seconds is None:
        return None
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")
    return out or "0m"


def load(db: Db, rows: list[dict]) -> list[Activity]:
    from crm_cli.storage import mail as mail_store

    people = store.participants_of(db, [r["id"] for r in rows])
    emails = [r["id"] for r in rows if r["kind"] == "email"]
    threads = mail_store.threads_of_activities(db, emails) if emails else {}
    return [
        Activity(
            id=r["id"],
            kind=r["kind"],
            direction=r["direction"],
            subject=r["subject"],
            body=r["body"],
            outcome=r["outcome"],
            duration_seconds=r["duration_seconds"],
            occurred_at=r["occurred_at"],
            channel=r["channel"],
            contacts=tuple({"id": p["contact_id"], "name": p["name"]} for p in people[r["id"]]),
            org_id=r["org_id"],
            org=r["org"],
            deal_id=r["deal_id"],
            deal=r["deal"],
            ticket_id=r["ticket_id"],
            actor_id=r["actor_id"],
            actor=r["actor"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            thread_key=threads.get(r["id"], (None, None))[0],
            message_id=threads.get(r["id"], (None, None))[1],
        )  # fmt: skip
        for r in rows
    ]


def get(db: Db, activity_id: int) -> Activity:
    row = store.get(db, activity_id)
    if row is None:
        raise NotFound(f"no activity with id {activity_id}")
    return load(db, [row])[0]


def _choice(value: str | None, allowed: tuple[str, ...], what: str) -> str | None:
    if value is None:
        return None
    v = value.strip().lower()
    if v not in allowed:
        raise InvalidInput(f"{what} must be one of {', '.join(allowed)}, not '{value}'")
    return v


def new_row(
    tx: Transaction,
    kind: str,
    *,
    org_id: int | None = None,
    deal_id: int | None = None,
    ticket_id: int | None = None,
    direction: str | None = None,
    subject: str | None = None,
    body: str | None = None,
    outcome: str | None = None,
    duration_seconds: int | None = None,
    occurred_at: str | None = None,
    channel: str | None = None,
) -> dict:
    """An activity row, validated, for ``write`` or a bulk insert (``tx.insert_many``)."""
    if kind not in ALL_KINDS:
        raise InvalidInput(f"activity kind must be one of {', '.join(KINDS)}, not '{kind}'")
    return {
        "kind": kind,
        "direction": _choice(direction, DIRECTIONS, "direction"),
        "subject": validate.text(subject),
        "body": validate.body(body),
        "outcome": validate.text(outcome),
        "duration_seconds": duration_seconds,
        "occurred_at": occurred_at or tx.at,
        "channel": validate.text(channel),
        "org_id": org_id,
        "deal_id": deal_id,
        "ticket_id": ticket_id,
        "actor_id": tx.actor_id,
        "created_at": tx.at,
        "updated_at": tx.at,
    }


def write(
    db: Db,
    tx: Transaction,
    kind: str,
    *,
    contact_ids: list[int] = (),
    org_id: int | None = None,
    deal_id: int | None = None,
    ticket_id: int | None = None,
    direction: str | None = None,
    subject: str | None = None,
    body: str | None = None,
    outcome: str | None = None,
    duration_seconds: int | None = None,
    occurred_at: str | None = None,
    channel: str | None = None,
) -> int:
    """Insert an activity and its participants inside an open transaction; return its id."""
    row = new_row(tx, kind, org_id=org_id, deal_id=deal_id, ticket_id=ticket_id,
                  direction=direction, subject=subject, body=body, outcome=outcome,
                  duration_seconds=duration_seconds, occurred_at=occurred_at, channel=channel)  # fmt: skip
    at = row["occurred_at"]
    aid = tx.insert("activities", row)
    for cid in dict.fromkeys(contact_ids):
        tx.insert(
            "activity_participants", {"activity_id": aid, "contact_id": cid, "occurred_at": at}
        )
    return aid


def log(
    db: Db,
    kind: str,
    *,
    contacts: list[str] = (),
    org: str | None = None,
    deal: str | None = None,
    direction: str | None = None,
    subject: str | None = None,
    body: str | None = None,
    outcome: str | None = None,
    duration: str | None = None,
    at: str | None = None,
    channel: str | None = None,
) -> Activity:
    """Log an interaction with contacts, an organization and/or a deal as one change set."""
    from crm_cli.domain import dates, selectors

    kind = _choice(kind, KINDS, "activity kind")
    if not contacts and org is None and deal is None:
        raise InvalidInput("attach the activity to --contact, --org or --deal (or several)")
    seconds = dates.parse_duration(duration) if duration is not None else None
    when = None
    if at is not None:
        from datetime import timedelta

        instant = dates.parse_when(at)
        if instant > dates.now() + timedelta(hours=1):
            raise InvalidInput(
                f"--at {at!r} is in the future: an activity records what happened;"
                " plan what is to come with crm followup add"
            )
        when = dates.to_db(instant)
    direction = _choice(direction, DIRECTIONS, "--direction")
    contact_ids: list[int] = []
    for sel in contacts:
        contact_ids += selectors.contacts(db, sel)
    org_id = selectors.orgs(db, org)[0] if org is not None else None
    deal_id = selectors.deal(db, deal) if deal is not None else None
    who = ", ".join(contacts) or org or f"deal {deal}"
    with transaction(db, f"log {kind} {who}"[:120]) as tx:
        aid = write(
            db, tx, kind, contact_ids=contact_ids, org_id=org_id, deal_id=deal_id,
            direction=direction, subject=subject, body=body, outcome=outcome,
            duration_seconds=seconds, occurred_at=when, channel=channel,
        )  # fmt: skip
    return get(db, aid)


def delete(db: Db, activity_id: int) -> None:
    """Delete an activity with its participant rows (crm undo brings it back)."""
    with transaction(db, f"activity delete {activity_id}") as tx:
        if not store.exists(db, activity_id):
            raise NotFound(f"no activity with id {activity_id}")
        for p in store.participant_rows(db, activity_id):
            tx.delete("activity_participants", p["id"])
        tx.delete("activities", activity_id)


def drop_orphans(db: Db, tx: Transaction, ids) -> list[int]:
    """Delete activities left attached to nothing (no participant, organization, deal or ticket)."""
    gone = store.orphans(db, sorted(ids))
    for aid in gone:
        tx.delete("activities", aid)
    return gone


def timeline(
    db: Db, target: tuple[str, int] | None, filter_args: list[str] | None = None, *, limit=None
) -> list[Activity]:
    """Activities on a record's timeline, newest first, matching the filters."""
    where, params = filter_sql(filter_args)
    return load(db, store.timeline(db, target, where, params, limit=limit))


def thread(
    db: Db, activity_id: int, filter_args: list[str] | None = None, *, limit=None
) -> list[Activity]:
    """The email conversation an imported message belongs to, oldest first."""
    from crm_cli.storage import mail as mail_store

    key = mail_store.thread_of_activity(db, activity_id)
    if key is None:
        if not store.exists(db, activity_id):
            raise NotFound(f"no activity with id {activity_id}")
        raise InvalidInput(f"activity {activity_id} is not an imported email: it has no thread")
    where, params = filter_sql(filter_args)
    return load(db, store.thread(db, key, where, params, limit=limit))


def filter_sql(filter_args: list[str] | None) -> tuple[str, list]:
    """The filter language as SQL over ``activities a``: (where, params)."""
    from crm_cli.domain import filters
    from crm_cli.storage import filters as compiled

    if not filter_args:
        return "1", []
    node = filters.parse(list(filter_args), compiled.filter_types(store.FIELDS))
    return compiled.compile_filter(_kinds(node), store.FIELDS)


def _kinds(node):
    """Check kind and direction values, so kind:cal is an error instead of nothing found."""
    from crm_cli.domain.filters import check_values

    return check_values(node, {
        "kind": lambda v: _choice(v, ALL_KINDS, "kind"),
        "direction": lambda v: _choice(v, DIRECTIONS, "direction"),
    })  # fmt: skip
