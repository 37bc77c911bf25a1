"""SQL for contacts and their emails, phones and tags."""

from __future__ import annotations

import json
import unicodedata

from crm_cli.errors import InvalidInput
from crm_cli.storage.db import Db, fetch_all, fetch_one

# Columns of the contacts table a caller may set (id and timestamps are managed).
COLUMNS = (
    "name", "first_name", "last_name", "title", "org_id", "street", "city", "region",
    "postal_code", "country", "source", "owner_id", "stage", "consent", "consent_at",
    "birthday", "custom", "social",
)  # fmt: skip

# --sort names users may give -> SQL expression (an allow-list: never user text in SQL).
SORTS = {
    "id": "c.id",
    "name": "crm_fold(c.name)",  # accents and case folded: Álvaro sorts with the A's
    "first_name": "crm_fold(c.first_name)",
    "last_name": "crm_fold(c.last_name)",
    "org": "crm_fold(o.name)",
    "stage": "c.stage",
    "source": "c.source",
    "owner": "u.name",
    "city": "c.city",
    "country": "c.country",
    "created": "c.created_at",
    "updated": "c.updated_at",
    "last_activity": "c.last_activity_at",
    "activities": "c.activity_count",
    "orders": "c.order_count",
}

_SELECT = """
SELECT c.*, o.name AS org, u.name AS owner
FROM contacts c
LEFT JOIN orgs o ON o.id = c.org_id
LEFT JOIN users u ON u.id = c.owner_id
"""


def order_by(sort: list[tuple[str, bool]] | None, sorts: dict[str, str], tiebreak: str) -> str:
    """Build an ORDER BY from (name, descending) pairs checked against an allow-list."""
    parts = []
    for name, desc in sort or []:
        if name not in sorts:
            raise InvalidInput(f"cannot sort by '{name}'; valid: {', '.join(sorted(sorts))}")
        parts.append(f"{sorts[name]} {'DESC' if desc else 'ASC'}")
    parts.append(tiebreak)
    return ", ".join(parts)


def select(
    db: Db,
    where: str = "1",
    params: list | tuple = (),
    *,
    sort: list[tuple[str, bool]] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict]:
    """Return contact rows (with org and owner names) matching a compiled filter."""
    sql = f"{_SELECT} WHERE {where} ORDER BY {order_by(sort, SORTS, 'c.id')} LIMIT ? OFFSET ?"
    return fetch_all(db, sql, [*params, -1 if limit is None else limit, offset])


def ids_where(db: Db, where: str = "1", params: list | tuple = ()) -> list[int]:
    """Return the ids of contacts matching a compiled filter."""
    return [
        r[0]
        for r in db.conn.execute(f"SELECT c.id FROM contacts c WHERE {where} ORDER BY c.id", params)
    ]


def get_many(db: Db, ids: list[int]) -> list[dict]:
    """Return contact rows for these ids, in id order."""
    if not ids:
        return []
    return fetch_all(
        db,
        f"{_SELECT} WHERE c.id IN (SELECT value FROM json_each(?)) ORDER BY c.id",
        (json.dumps(ids),),
    )


def get(db: Db, contact_id: int) -> dict | None:
    """Return one contact row (with org and owner names), or None."""
    return fetch_one(db, f"{_SELECT} WHERE c.id = ?", (contact_id,))


def exists(db: Db, contact_id: int) -> bool:
    return (
        db.conn.execute("SELECT 1 FROM contacts WHERE id = ?", (contact_id,)).fetchone() is not None
    )


def _children(db: Db, table: str, key: str, ids: list[int], order: str) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {i: [] for i in ids}
    if not ids:
        return out
    for row in fetch_all(
        db,
        f"SELECT * FROM {table} WHERE {key} IN (SELECT value FROM json_each(?)) ORDER BY {order}",
        (json.dumps(ids),),
    ):
        out[row[key]].append(row)
    return out


def emails_of(db: Db, ids: list[int]) -> dict[int, list[dict]]:
    """Email rows per contact id, primary first."""
    return _children(db, "emails", "contact_id", ids, "contact_id, is_primary DESC, id")


def phones_of(db: Db, ids: list[int]) -> dict[int, list[dict]]:
    """Phone rows per contact id, primary first."""
    return _children(db, "phones", "contact_id", ids, "contact_id, is_primary DESC, id")


def tags_of(db: Db, ids: list[int]) -> dict[int, list[str]]:
    """Tag names per contact id, sorted."""
    rows = _children(db, "contact_tags", "contact_id", ids, "contact_id, tag")
    return {k: [r["tag"] for r in v] for k, v in rows.items()}


def tag_rows(db: Db, contact_id: int) -> dict[str, int]:
    """Map tag -> contact_tags row id for one contact."""
    return {
        r[1]: r[0]
        for r in db.conn.execute(
            "SELECT id, tag FROM contact_tags WHERE contact_id = ?", (contact_id,)
        )
    }


def ids_by_email(db: Db, email: str) -> list[int]:
    """Ids of contacts holding this (lower-cased) email address."""
    return [
        r[0]
        for r in db.conn.execute(
            "SELECT DISTINCT contact_id FROM emails WHERE value = ? ORDER BY contact_id",
            (email.lower(),),
        )
    ]


def like_pattern(name: str) -> str:
    """A LIKE pattern that finds every case variant of name: non-ASCII letters become '_'.

    LIKE folds ASCII case only; the caller compares the candidates with full Unicode
    case folding. The literal ASCII prefix lets SQLite use the NOCASE name index.
    """
    out = []
    for ch in name:
        if ch in "%_\\":
            out.append("\\" + ch)
        elif ch.isascii():
            out.append(ch)
        else:
            out.append("_")
    return "".join(out)


def ids_named(db: Db, table: str, name: str, column: str = "name") -> list[int]:
    """Ids of rows of a table whose name equals name under Unicode case folding."""
    name = unicodedata.normalize("NFC", name)
    key = name.casefold()
    if name.isascii():
        sql = f"SELECT id, {column} FROM {table} WHERE {column} = ? COLLATE NOCASE ORDER BY id"
        return [r[0] for r in db.conn.execute(sql, (name,)) if r[1].casefold() == key]
    sql = f"SELECT id, {column} FROM {table} WHERE {column} LIKE ? ESCAPE '\\'"
    first, rest = name[0], like_pattern(name[1:])
    variants = {first, first.lower(), first.upper(), first.title()}
    if first.isascii() or any(len(v) != 1 for v in variants):
        patterns = [like_pattern(name)]  # a literal ASCII prefix already uses the index
    else:  # 'Ávila': one indexed range per case of the first letter, not a scan for '_vila'
        patterns = [v + rest for v in sorted(variants)]
    ids = {r[0] for p in patterns for r in db.conn.execute(sql, (p,)) if r[1].casefold() == key}
    return sorted(ids)


def ids_by_name(db: Db, name: str) -> list[int]:
    """Ids of contacts whose name matches case-insensitively (Unicode-aware)."""
    return ids_named(db, "contacts", name)


def names(db: Db, ids: list[int]) -> list[tuple[int, str]]:
    """(id, name) pairs for these contacts."""
    return [
        (r[0], r[1])
        for r in db.conn.execute(
            "SELECT id, name FROM contacts WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(ids),),
        )
    ]


def count(db: Db) -> int:
    return db.conn.execute("SELECT count(*) FROM contacts").fetchone()[0]


def count_by_stage(db: Db) -> dict[str | None, int]:
    """How many contacts are at each lifecycle stage."""
    return dict(db.conn.execute("SELECT stage, count(*) FROM contacts GROUP BY stage").fetchall())
