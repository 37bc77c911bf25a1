"""SQL for customer service tickets (their comments are activities with a ticket_id)."""

from __future__ import annotations

import json

from crm_cli.storage.contacts import order_by
from crm_cli.storage.db import Db, fetch_all, fetch_one
from crm_cli.storage.filters import FieldSql

COLUMNS = ("subject", "type", "contact_id", "org_id", "channel", "priority", "status",
           "assignee_id", "due_at", "first_response_at", "resolved_at", "closed_at",
           "satisfaction", "created_at", "updated_at")  # fmt: skip

_PRIORITY_RANK = (
    "(CASE t.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END)"
)

SORTS = {
    "id": "t.id",
    "subject": "crm_fold(t.subject)",
    "type": "t.type",
    "status": "t.status",
    "priority": _PRIORITY_RANK,
    "channel": "t.channel",
    "assignee": "u.name",
    "contact": "crm_fold(c.name)",
    "org": "crm_fold(o.name)",
    "due": "(t.due_at IS NULL), t.due_at",
    "created": "t.created_at",
    "updated": "t.updated_at",
    "resolved": "t.resolved_at",
    "closed": "t.closed_at",
    "satisfaction": "t.satisfaction",
}

# The queue's order: soonest due first, then the most urgent, then the oldest.
DEFAULT_ORDER = f"(t.due_at IS NULL), t.due_at, {_PRIORITY_RANK}, t.id"

_SELECT = """
SELECT t.*, c.name AS contact, o.name AS org, u.name AS assignee
FROM tickets t
LEFT JOIN contacts c ON c.id = t.contact_id
LEFT JOIN orgs o ON o.id = t.org_id
LEFT JOIN users u ON u.id = t.assignee_id
"""

FIELDS: dict[str, FieldSql] = {
    "id": FieldSql("number", "t.id", doc="the ticket's id"),
    "subject": FieldSql("text", "t.subject", doc="subject line"),
    "type": FieldSql("text", "t.type", doc="type: complaint, question, suggestion..."),
    "status": FieldSql("enum", "t.status", doc="new, open, pending, resolved, closed"),
    "priority": FieldSql("enum", "t.priority", doc="low, normal, high, urgent"),
    "channel": FieldSql("text", "t.channel", doc="where it came in: email, phone, chat, web..."),
    "assignee": FieldSql(
        "text", "(SELECT xu.name FROM users xu WHERE xu.id = t.assignee_id)", doc="assignee's name"
    ),
    "contact": FieldSql(
        "text", "(SELECT xc.name FROM contacts xc WHERE xc.id = t.contact_id)", doc="contact's name"
    ),
    "contact_id": FieldSql("number", "t.contact_id", doc="contact id"),
    "email": FieldSql(
        "multi",
        "x.value",
        "EXISTS (SELECT 1 FROM emails x WHERE x.contact_id = t.contact_id AND {cond})",
        doc="any of the contact's email addresses",
    ),
    "org": FieldSql(
        "text", "(SELECT xo.name FROM orgs xo WHERE xo.id = t.org_id)", doc="organization name"
    ),
    "org_id": FieldSql("number", "t.org_id", doc="organization id"),
    "due": FieldSql("instant", "t.due_at", doc="when a first response is due"),
    "first_response": FieldSql(
        "instant", "t.first_response_at", doc="when staff first answered the customer"
    ),
    "resolved": FieldSql("instant", "t.resolved_at", doc="when it was resolved"),
    "closed": FieldSql("instant", "t.closed_at", doc="when it was closed"),
    "satisfaction": FieldSql("number", "t.satisfaction", doc="satisfaction score 1-5"),
    "created": FieldSql("instant", "t.created_at", doc="when it was opened"),
    "updated": FieldSql("instant", "t.updated_at", doc="when it last changed"),
}


def select(db: Db, where: str = "1", params=(), *, sort=None, limit=None, offset=0) -> list[dict]:
    """Return ticket rows (with contact, org and assignee names) matching a compiled filter."""
    order = order_by(sort, SORTS, "t.id") if sort else DEFAULT_ORDER
    sql = f"{_SELECT} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
    return fetch_all(db, sql, [*params, -1 if limit is None else limit, offset])


def get(db: Db, ticket_id: int) -> dict | None:
    return fetch_one(db, f"{_SELECT} WHERE t.id = ?", (ticket_id,))


def get_many(db: Db, ids: list[int]) -> list[dict]:
    if not ids:
        return []
    return fetch_all(
        db,
        f"{_SELECT} WHERE t.id IN (SELECT value FROM json_each(?)) ORDER BY t.id",
        (json.dumps(ids),),
    )


def exists(db: Db, ticket_id: int) -> bool:
    return (
        db.conn.execute("SELECT 1 FROM tickets WHERE id = ?", (ticket_id,)).fetchone() is not None
    )


def contact_org_id(db: Db, contact_id: int) -> int | None:
    """The organization a contact belongs to (None if none)."""
    row = db.conn.execute("SELECT org_id FROM contacts WHERE id = ?", (contact_id,)).fetchone()
    return row[0] if row else None
