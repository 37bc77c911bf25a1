"""Which rows refer to which: owned child rows and other referrers, from the schema itself.

Owned rows (a contact's emails, phones and tags) go with their parent. Any other
foreign key pointing at a row is a referrer: deleting the row refuses unless the
caller cascades. Referrers are read from ``PRAGMA foreign_key_list``, so tables
added by later migrations take part without changes here.
"""

from __future__ import annotations

from crm_cli.storage.db import Db

OWNED: dict[str, tuple[tuple[str, str], ...]] = {
    "contacts": (
        ("emails", "contact_id"),
        ("phones", "contact_id"),
        ("contact_tags", "contact_id"),
    ),
    "orgs": (("phones", "org_id"), ("org_tags", "org_id")),
    "deals": (("deal_tags", "deal_id"), ("deal_moves", "deal_id")),
    "activities": (("activity_participants", "activity_id"),),
    "orders": (("order_lines", "order_id"),),
}

# References that a cascading delete clears instead of following: the referring record
# stands on its own. A deal whose contact is deleted is still its organization's deal;
# an activity whose deal or organization goes stays on its participants' timelines.
DETACH: set[tuple[str, str]] = {
    ("deals", "contact_id"),
    ("deals", "org_id"),
    ("activities", "org_id"),
    ("activities", "deal_id"),
}

# Bookkeeping tables never count as referrers of data rows.
_IGNORED = {
    "changes",
    "change_sets",
    "settings",
    "_sqlite_migrations",
    "sqlite_sequence",
    "reminder_claims",
}


def foreign_keys(db: Db) -> dict[str, list[tuple[str, str]]]:
    """Map each table to the (table, column) pairs whose foreign keys point at it."""
    out: dict[str, list[tuple[str, str]]] = {}
    tables = [
        r[0]
        for r in db.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'"
        )
    ]
    for t in tables:
        if t in _IGNORED or t.startswith("search_fts"):
            continue
        for fk in db.conn.execute(f"PRAGMA foreign_key_list({t})"):
            out.setdefault(fk[2], []).append((t, fk[3]))
    return out


def owned_rows(db: Db, table: str, row_id: int) -> list[tuple[str, int]]:
    """(table, id) of the rows that belong to this row and go with it."""
    out = []
    for child, col in OWNED.get(table, ()):
        out += [
            (child, r[0])
            for r in db.conn.execute(f"SELECT id FROM {child} WHERE {col} = ?", (row_id,))
        ]
    return out


def referrers(db: Db, table: str, row_id: int) -> list[tuple[str, str, list[int]]]:
    """(table, column, ids) of rows outside this row's own children that refer to it."""
    owned = set(OWNED.get(table, ()))
    out = []
    for child, col in foreign_keys(db).get(table, []):
        if (child, col) in owned:
            continue
        ids = [
            r[0]
            for r in db.conn.execute(
                f"SELECT id FROM {child} WHERE {col} = ? ORDER BY id", (row_id,)
            )
        ]
        if ids:
            out.append((child, col, ids))
    return out


# Tables a typed reference (contact:12, deal:7, ...) may name.
REFERABLE = ("contacts", "orgs", "deals", "tickets", "orders", "users")


def row_exists(db: Db, table: str, row_id: int) -> bool:
    """Whether a row of one of the REFERABLE tables exists."""
    if table not in REFERABLE:
        raise ValueError(f"not a referable table: {table}")
    return db.conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (row_id,)).fetchone() is not None
