"""SQL for imports: the bookkeeping row of each run, and lookups by the keys imports match on.

The ``imports`` row is bookkeeping, like the change set it points to: it is written
directly (not through the change log) so it survives whatever happens to the import's
own change set, and ``crm import list`` can show a run that was killed half-way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from crm_cli.storage.db import Db, fetch_all, fetch_one

_SELECT = """
SELECT i.*, s.reverted_by_set_id, s.status AS set_status, u.name AS actor
FROM imports i
LEFT JOIN change_sets s ON s.id = i.set_id
LEFT JOIN users u ON u.id = s.actor_id
"""


def create(db: Db, row: dict) -> int:
    """Record the start of an import (committed at once, outside any change set)."""
    cols = list(row)
    cur = db.conn.execute(
        f"INSERT INTO imports ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
        [row[c] for c in cols],
    )
    return cur.lastrowid


def update(db: Db, import_id: int, values: dict) -> None:
    """Update an import's bookkeeping (inside the import's transaction, or on its own)."""
    db.conn.execute(
        f"UPDATE imports SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
        [*values.values(), import_id],
    )


def get(db: Db, import_id: int) -> dict | None:
    return fetch_one(db, f"{_SELECT} WHERE i.id = ?", (import_id,))


def list_imports(db: Db, *, limit: int | None = None) -> list[dict]:
    return fetch_all(db, f"{_SELECT} ORDER BY i.id DESC LIMIT ?", (-1 if limit is None else limit,))


def contacts_by_emails(db: Db, emails: Iterable[str]) -> dict[str, list[int]]:
    """Contact ids per (lower-case) email address."""
    out: dict[str, list[int]] = {}
    for value, cid in db.conn.execute(
        "SELECT value, contact_id FROM emails WHERE value IN (SELECT value FROM json_each(?))"
        " ORDER BY contact_id",
        (json.dumps(sorted(set(emails))),),
    ):
        out.setdefault(value, []).append(cid)
    return out


def contacts_by_phones(db: Db, phones: Iterable[str]) -> dict[str, list[int]]:
    """Contact ids per stored phone value (E.164 when the number parsed)."""
    out: dict[str, list[int]] = {}
    for value, cid in db.conn.execute(
        "SELECT value, contact_id FROM phones WHERE contact_id IS NOT NULL"
        " AND value IN (SELECT value FROM json_each(?)) ORDER BY contact_id",
        (json.dumps(sorted(set(phones))),),
    ):
        out.setdefault(value, []).append(cid)
    return out


def contacts_by_names(db: Db, names: Iterable[str]) -> list[dict]:
    """Contacts whose name equals one of these (ASCII case-insensitively), with their org name."""
    return fetch_all(
        db,
        """SELECT c.id, c.name, o.name AS org, c.city, c.postal_code
           FROM contacts c LEFT JOIN orgs o ON o.id = c.org_id
           WHERE c.name IN (SELECT value FROM json_each(?)) ORDER BY c.id""",
        (json.dumps(sorted(set(names))),),
    )


def orgs_by_names(db: Db, names: Iterable[str]) -> dict[str, int]:
    """Organization ids per name (names are unique, case-insensitively)."""
    return {
        name.casefold(): oid
        for oid, name in db.conn.execute(
            "SELECT id, name FROM orgs WHERE name IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(set(names))),),
        )
    }


_ENTITY_TABLES = {"contacts": "contacts", "orgs": "orgs", "deals": "deals", "orders": "orders",
                  "users": "users", "web_visits": "web_visits"}  # fmt: skip


def by_external_ids(db: Db, system: str, entity: str, ids: Iterable[str]) -> dict[str, int]:
    """Record ids per external id from one system, for records that still exist."""
    table = _ENTITY_TABLES[entity]
    return dict(
        db.conn.execute(
            f"""SELECT x.external_id, x.record_id FROM external_ids x
                JOIN {table} r ON r.id = x.record_id
                WHERE x.system = ? AND x.entity = ?
                AND x.external_id IN (SELECT value FROM json_each(?))""",
            (system, entity, json.dumps(sorted(set(ids)))),
        ).fetchall()
    )


def external_rows(db: Db, system: str, entity: str, ids: Iterable[str]) -> dict[str, dict]:
    """The external_ids rows (any record, even a deleted one) for these external ids."""
    return {
        r["external_id"]: r
        for r in fetch_all(
            db,
            "SELECT * FROM external_ids WHERE system = ? AND entity = ?"
            " AND external_id IN (SELECT value FROM json_each(?))",
            (system, entity, json.dumps(sorted(set(ids)))),
        )
    }


def set_has_changes(db: Db, set_id: int) -> bool:
    from crm_cli.storage.changes import has_changes

    return has_changes(db, set_id)


def finish(db: Db, import_id: int, values: dict) -> None:
    """Record how a run ended, in a small transaction of its own (after the import's set)."""
    try:
        db.conn.execute("BEGIN IMMEDIATE")
        update(db, import_id, values)
        db.conn.execute("COMMIT")
    finally:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")


def copy_to(db: Db, target) -> None:
    """Copy the database to a new file with SQLite's online backup (readers and writers go on)."""
    import sqlite3

    dst = sqlite3.connect(str(target))
    try:
        db.conn.backup(dst)
    finally:
        dst.close()


def users_by_family_ids(db: Db, system: str, ids) -> dict[str, str]:
    """User names per external id, from any system of the same family as ``system``
    (a customers file's ``chinook-customers`` reaches users imported as ``chinook-employees``)."""
    family = system.split("-", 1)[0].split(":", 1)[0]
    return dict(
        db.conn.execute(
            """SELECT x.external_id, u.name FROM external_ids x JOIN users u ON u.id = x.record_id
               WHERE x.entity = 'users' AND (x.system = ? OR x.system LIKE ? || '-%')
               AND x.external_id IN (SELECT value FROM json_each(?))""",
            (system, family, json.dumps(sorted(set(ids)))),
        ).fetchall()
    )
