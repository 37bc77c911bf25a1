"""SQL for orders (purchases) and their lines."""

from __future__ import annotations

import json

from crm_cli.storage.contacts import order_by
from crm_cli.storage.db import Db, fetch_all, fetch_one
from crm_cli.storage.filters import FieldSql

SORTS = {
    "id": "o.id",
    "number": "o.number",
    "date": "o.order_date",
    "status": "o.status",
    "total": "o.total_minor",
    "currency": "o.currency",
    "contact": "crm_fold(c.name)",
    "source": "o.source",
    "created": "o.created_at",
    "updated": "o.updated_at",
}

# Newest orders first.
DEFAULT_ORDER = "o.order_date DESC, o.id DESC"

_SELECT = """
SELECT o.*, c.name AS contact
FROM orders o
LEFT JOIN contacts c ON c.id = o.contact_id
"""

FIELDS: dict[str, FieldSql] = {
    "id": FieldSql("number", "o.id", doc="the order's id"),
    "number": FieldSql("text", "o.number", doc="order number (A-1001)"),
    "contact": FieldSql(
        "text", "(SELECT xc.name FROM contacts xc WHERE xc.id = o.contact_id)", doc="contact's name"
    ),
    "contact_id": FieldSql("number", "o.contact_id", doc="contact id"),
    "email": FieldSql(
        "multi",
        "x.value",
        "EXISTS (SELECT 1 FROM emails x WHERE x.contact_id = o.contact_id AND {cond})",
        doc="any of the contact's email addresses",
    ),
    "date": FieldSql("date", "o.order_date", doc="order date"),
    "status": FieldSql("enum", "o.status", doc="paid, refunded, cancelled"),
    "total": FieldSql(
        "money", "o.total_minor", doc="order total (in money.currency; add currency:XXX)"
    ),
    "currency": FieldSql("text", "o.currency", doc="ISO 4217 currency code"),
    "source": FieldSql("text", "o.source", doc="where the order came from (shop, pos...)"),
    "sku": FieldSql(
        "multi",
        "x.sku",
        "EXISTS (SELECT 1 FROM order_lines x WHERE x.order_id = o.id AND {cond})",
        doc="any line's SKU",
    ),
    "item": FieldSql(
        "multi",
        "x.description",
        "EXISTS (SELECT 1 FROM order_lines x WHERE x.order_id = o.id AND {cond})",
        doc="any line's description",
    ),
    "lines": FieldSql(
        "number",
        "(SELECT count(*) FROM order_lines xl WHERE xl.order_id = o.id)",
        doc="number of lines",
    ),
    "quantity": FieldSql(
        "number",
        "(SELECT coalesce(sum(xl.quantity), 0) FROM order_lines xl WHERE xl.order_id = o.id)",
        doc="number of items (sum of line quantities)",
    ),
    "coupon": FieldSql("text", "o.coupon_code", doc="the coupon code used (has:coupon)"),
    "created": FieldSql("instant", "o.created_at", doc="when the order was recorded"),
    "updated": FieldSql("instant", "o.updated_at", doc="when the order last changed"),
}


def select(db: Db, where: str = "1", params=(), *, sort=None, limit=None, offset=0) -> list[dict]:
    """Return order rows (with the contact's name) matching a compiled filter."""
    order = order_by(sort, SORTS, "o.id") if sort else DEFAULT_ORDER
    sql = f"{_SELECT} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
    return fetch_all(db, sql, [*params, -1 if limit is None else limit, offset])


def get(db: Db, order_id: int) -> dict | None:
    return fetch_one(db, f"{_SELECT} WHERE o.id = ?", (order_id,))


def id_by_number(db: Db, number: str) -> int | None:
    """The order with this number, compared case-insensitively like the UNIQUE index."""
    row = db.conn.execute(
        "SELECT id FROM orders WHERE number = ? COLLATE NOCASE", (number,)
    ).fetchone()
    return row[0] if row else None


def lines_of(db: Db, ids: list[int]) -> dict[int, list[dict]]:
    """Each order's lines in position order."""
    out: dict[int, list[dict]] = {i: [] for i in ids}
    if not ids:
        return out
    for r in fetch_all(
        db,
        """SELECT * FROM order_lines WHERE order_id IN (SELECT value FROM json_each(?))
           ORDER BY order_id, position, id""",
        (json.dumps(ids),),
    ):
        out[r["order_id"]].append(r)
    return out


def line_ids(db: Db, order_id: int) -> list[int]:
    return [
        r[0]
        for r in db.conn.execute(
            "SELECT id FROM order_lines WHERE order_id = ? ORDER BY position, id", (order_id,)
        )
    ]
