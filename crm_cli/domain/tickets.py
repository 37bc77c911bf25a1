"""Customer service tickets: open, assign, comment, change status, close.

A ticket's due time is when a first response is due: the time it was opened plus the
team's response target for its priority (settings ``ticket.target.PRIORITY``). Its
comments are activities of kind 'comment' on the same timeline as calls and emails
(with the ticket's contact as participant and its organization), so whoever answers
sees the same history. A comment's direction says who spoke: ``in`` the customer,
``out`` staff answering (the first one sets ``first_response_at``); an internal note
has no direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from crm_cli.domain import activities, validate
from crm_cli.errors import Conflict, InvalidInput, NotFound
from crm_cli.storage import tickets as store
from crm_cli.storage.db import Db, Transaction, transaction

PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("new", "open", "pending", "resolved", "closed")
ACTIVE = ("new", "open", "pending")  # not yet resolved or closed
DIRECTIONS = ("in", "out")


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int
    subject: str
    type: str | None
    status: str
    priority: str
    channel: str | None
    contact_id: int | None
    contact: str | None
    org_id: int | None
    org: str | None
    assignee_id: int | None
    assignee: str | None
    due_at: str | None
    overdue: bool
    first_response_at: str | None
    resolved_at: str | None
    closed_at: str | None
    satisfaction: int | None
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in JSON_KEYS}


JSON_KEYS = tuple(Ticket.__dataclass_fields__)


def _overdue(row: dict, now_text: str) -> bool:
    """Still waiting for a first response past its due time."""
    return bool(
        row["status"] in ACTIVE
        and row["first_response_at"] is None
        and row["due_at"] is not None
        and row["due_at"] < now_text
    )


def load(rows: list[dict], *, now: datetime | None = None) -> list[Ticket]:
    from crm_cli.domain import dates

    now_text = dates.to_db(now or dates.now())
    return [
        Ticket(**{k: r[k] for k in JSON_KEYS if k != "overdue"}, overdue=_overdue(r, now_text))
        for r in rows
    ]


def get(db: Db, ticket_id: int, *, now: datetime | None = None) -> Ticket:
    row = store.get(db, ticket_id)
    if row is None:
        raise NotFound(f"no ticket with id {ticket_id}")
    return load([row], now=now)[0]


def _choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    v = (value or "").strip().lower()
    if v not in allowed:
        raise InvalidInput(f"{what} must be one of {', '.join(allowed)}, not '{value}'")
    return v


def _word(value: str | None, what: str) -> str | None:
    """A free-form label such as a channel or type: trimmed, lower case, one line."""
    v = validate.text(value)
    if v is None:
        return None
    if "\n" in v or len(v) > 40:
        raise InvalidInput(f"{what} should be a short word like email or phone, not '{v[:40]}'")
    return v.lower()


MAX_TARGET_SECONDS = 366 * 86400


def target_from_text(name: str, text: str) -> int:
    """Read a response target (``4h``, ``30m``, ``1d``) in seconds: above zero, at most a year."""
    from crm_cli.domain import dates

    try:
        seconds = dates.parse_duration(text)
    except InvalidInput as e:
        raise InvalidInput(f"{name}: {e}") from None
    if seconds <= 0:
        raise InvalidInput(f"{name} must be a response time above zero, like 4h or 30m")
    if seconds > MAX_TARGET_SECONDS:
        raise InvalidInput(f"{name} must be a response time of at most 366d")
    return seconds


def target_seconds(db: Db, priority: str) -> int:
    """The response target for a priority, in seconds (team setting ticket.target.PRIORITY)."""
    from crm_cli.domain import settings

    name = f"ticket.target.{priority}"
    try:
        return target_from_text(name, str(settings.get(db, name)))
    except InvalidInput as e:
        raise InvalidInput(f"team setting {e} (fix it with: crm config set {name} 4h)") from None


def due_at(db: Db, priority: str, opened_at: str) -> str:
    """When a first response is due: opened plus the priority's response target."""
    from crm_cli.domain import dates

    return dates.to_db(dates.from_db(opened_at) + timedelta(seconds=target_seconds(db, priority)))


def _attach(db: Db, contact: str | None, org: str | None) -> tuple[int | None, int | None]:
    from crm_cli.domain import selectors

    contact_id = selectors.contacts(db, contact)[0] if contact is not None else None
    org_id = selectors.orgs(db, org)[0] if org is not None else None
    if org_id is None and contact_id is not None:
        org_id = store.contact_org_id(db, contact_id)
    return contact_id, org_id


def open_ticket(
    db: Db,
    subject: str,
    *,
    contact: str | None = None,
    org: str | None = None,
    channel: str | None = None,
    priority: str = "normal",
    type: str | None = None,
    assign: str | None = None,
    body: str | None = None,
) -> Ticket:
    """Open a ticket; its due time comes from the priority's response target."""
    from crm_cli.domain import users

    subject = validate.text(subject) or ""
    if not subject:
        raise InvalidInput("a ticket needs a subject")
    if contact is None and org is None:
        raise InvalidInput("say who the ticket is for with --contact and/or --org")
    priority = _choice(priority, PRIORITIES, "priority")
    channel = _word(channel, "channel")
    kind = _word(type, "type")
    body = validate.body(body)  # multi-line: newlines and tabs are kept
    contact_id, org_id = _attach(db, contact, org)
    target_seconds(db, priority)  # a broken team setting fails before anything is written
    with transaction(db, f"ticket open {subject}"[:120]) as tx:
        assignee_id = users.resolve_id(db, assign) if assign is not None else None
        tid = tx.insert(
            "tickets",
            {
                "subject": subject, "type": kind, "contact_id": contact_id, "org_id": org_id,
                "channel": channel, "priority": priority, "status": "new",
                "assignee_id": assignee_id, "due_at": due_at(db, priority, tx.at),
                "created_at": tx.at, "updated_at": tx.at,
            },
        )  # fmt: skip
        if body:
            _comment(db, tx, store.get(db, tid), body, "in")
    return get(db, tid)


def _comment(db: Db, tx: Transaction, t: dict, body: str, direction: str | None) -> int:
    return activities.write(
        db,
        tx,
        "comment",
        contact_ids=[t["contact_id"]] if t["contact_id"] is not None else [],
        org_id=t["org_id"],
        ticket_id=t["id"],
        direction=direction,
        subject=t["subject"],
        body=body,
        channel=t["channel"] if direction is not None else "internal",
    )


def _current(db: Db, ticket_id: int) -> dict:
    row = store.get(db, ticket_id)
    if row is None:
        raise NotFound(f"no ticket with id {ticket_id}")
    return row


def comment(
    db: Db, ticket_id: int, body: str, *, direction: str = "out", internal: bool = False
) -> int:
    """Add a comment (multi-line text) to a ticket's timeline; return the activity id.

    ``out`` (staff answering) sets the first response time if unset and moves a new
    ticket to open; ``in`` (the customer writing) moves a pending or resolved ticket
    back to open; an internal note changes nothing but the timeline.
    """
    text = validate.body(body)  # multi-line: newlines and tabs are kept
    if not text:
        raise InvalidInput("a comment needs some text")
    if internal:
        direction = None
    else:
        direction = _choice(direction, DIRECTIONS, "--direction")
    with transaction(db, f"ticket comment {ticket_id}") as tx:
        t = _current(db, ticket_id)
        aid = _comment(db, tx, t, text, direction)
        values: dict = {"updated_at": tx.at}
        if direction == "out":
            if t["first_response_at"] is None:
                values["first_response_at"] = tx.at
            if t["status"] == "new":
                values["status"] = "open"
        elif direction == "in" and t["status"] in ("pending", "resolved"):
            values.update(status="open", resolved_at=None)
        tx.update("tickets", ticket_id, values)
    return aid


def assign(db: Db, ticket_id: int, user: str | None) -> Ticket:
    """Give a ticket to a team member (None or '' leaves it unassigned)."""
    from crm_cli.domain import users

    with transaction(db, f"ticket assign {ticket_id}") as tx:
        _current(db, ticket_id)
        uid = users.resolve_id(db, user)
        tx.update("tickets", ticket_id, {"assignee_id": uid, "updated_at": tx.at})
    return get(db, ticket_id)


def _status_values(t: dict, status: str, at: str) -> dict:
    values: dict = {"status": status, "updated_at": at}
    if status in ("resolved", "closed"):
        if t["resolved_at"] is None:
            values["resolved_at"] = at
        values["closed_at"] = at if status == "closed" else None
    else:  # reopened (or still active): no longer resolved or closed
        values.update(resolved_at=None, closed_at=None)
    return values


def set_status(db: Db, ticket_id: int, status: str) -> Ticket:
    """Move a ticket to a status; resolved/closed stamp their times, reopening clears them."""
    status = _choice(status, STATUSES, "status")
    with transaction(db, f"ticket status {ticket_id} {status}") as tx:
        t = _current(db, ticket_id)
        if t["status"] != status:
            tx.update("tickets", ticket_id, _status_values(t, status, tx.at))
    return get(db, ticket_id)


def _satisfaction(value: int | str | None) -> int | None:
    if value is None:
        return None
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 5:
        raise InvalidInput(f"satisfaction must be a whole number from 1 to 5, not '{value}'")
    return int(text)


def close(db: Db, ticket_id: int, *, satisfaction: int | str | None = None) -> Ticket:
    """Close a ticket (resolving it if it was not), optionally with a satisfaction score."""
    score = _satisfaction(satisfaction)
    with transaction(db, f"ticket close {ticket_id}") as tx:
        t = _current(db, ticket_id)
        if t["status"] == "closed":
            if score is None:
                raise Conflict(f"ticket {ticket_id} is already closed")
            values = {"satisfaction": score, "updated_at": tx.at}  # a late survey answer
        else:
            values = _status_values(t, "closed", tx.at)
            if score is not None:
                values["satisfaction"] = score
        tx.update("tickets", ticket_id, values)
    return get(db, ticket_id)


def edit(
    db: Db,
    ticket_id: int,
    *,
    subject: str | None = None,
    priority: str | None = None,
    type: str | None = None,
    channel: str | None = None,
    contact: str | None = None,
    org: str | None = None,
    due: str | None = None,
) -> Ticket:
    """Change a ticket's fields; a new priority recomputes the due time unless --due is given."""
    from crm_cli.domain import dates, selectors

    values: dict = {}
    if subject is not None:
        values["subject"] = validate.text(subject)
        if not values["subject"]:
            raise InvalidInput("a ticket's subject cannot be empty")
    if priority is not None:
        values["priority"] = _choice(priority, PRIORITIES, "priority")
    if type is not None:
        values["type"] = _word(type, "type")
    if channel is not None:
        values["channel"] = _word(channel, "channel")
    if contact is not None:
        values["contact_id"] = selectors.contacts(db, contact)[0] if contact.strip() else None
    if org is not None:
        values["org_id"] = selectors.orgs(db, org)[0] if org.strip() else None
    if due is not None:
        values["due_at"] = dates.to_db(dates.parse_when(due)) if due.strip() else None
    with transaction(db, f"ticket edit {ticket_id}") as tx:
        t = _current(db, ticket_id)
        if "priority" in values and due is None and values["priority"] != t["priority"]:
            values["due_at"] = due_at(db, values["priority"], t["created_at"])
        after = {**t, **values}
        if after["contact_id"] is None and after["org_id"] is None:
            raise InvalidInput("a ticket needs a contact or an organization")
        if any(t[k] != v for k, v in values.items()):
            tx.update("tickets", ticket_id, {**values, "updated_at": tx.at})
    return get(db, ticket_id)


def _enums(node):
    """Check status and priority values, so status:opn is an error instead of nothing found."""
    from crm_cli.domain.filters import check_values

    return check_values(node, {
        "status": lambda v: _choice(v, STATUSES, "status"),
        "priority": lambda v: _choice(v, PRIORITIES, "priority"),
    })  # fmt: skip


def list_tickets(
    db: Db,
    filter_args: list[str] | None = None,
    *,
    all_: bool = False,
    sort=None,
    limit=None,
    now: datetime | None = None,
) -> list[Ticket]:
    """Tickets matching the filters; only active ones (not resolved or closed) unless all_
    or a filter names the status."""
    where, params = filter_sql(filter_args, all_=all_, now=now)
    return load(store.select(db, where, params, sort=sort, limit=limit), now=now)


def filter_sql(
    filter_args: list[str] | None, *, all_: bool = False, now: datetime | None = None
) -> tuple[str, list]:
    """The filter language as SQL over the tickets table (reports use it too)."""
    from crm_cli import query
    from crm_cli.domain import filters
    from crm_cli.storage import filters as compiled

    node = None
    if filter_args:
        node = _enums(
            filters.parse(list(filter_args), compiled.filter_types(store.FIELDS), now=now)
        )
    if not all_ and not query.mentions(node, "status"):
        active = query.Or(tuple(query.Cond("status", "=", s) for s in ACTIVE))
        node = active if node is None else query.And((node, active))
    return compiled.compile_filter(node, store.FIELDS)


def comments(db: Db, ticket_id: int) -> list[activities.Activity]:
    """The ticket's comments (its timeline), oldest first: the conversation in order."""
    return list(reversed(activities.timeline(db, ("tickets", ticket_id))))
