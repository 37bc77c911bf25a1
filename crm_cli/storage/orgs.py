"""SQL for organizations, their phones and tags."""

from __future__ import annotations

import json
import unicodedata

from crm_cli.storage.contacts import _children, ids_named, order_by
from crm_cli.storage.db import Db, fetch_all, fetch_one

COLUMNS = (
    "name", "domain", "industry", "size", "street", "city", "region", "postal_code",
    "country", "owner_id", "custom",
)  # fmt: skip

SORTS = {
    "id": "o.id",
    "name": "crm_fold(o.name)",
    "domain": "o.domain",
    "industry": "o.industry",
    "size": "o.size",
    "city": "o.city",
    "country": "o.country",
    "owner": "u.name",
    "people": "people",
    "created": "o.created_at",
    "updated": "o.updated_at",
}

_SELECT = """
SELECT o.*, u.name AS owner,
  (SELECT count(*) FROM contacts c WHERE c.org_id = o.id) AS people
FROM orgs o
LEFT JOIN users u ON u.id = o.owner_id
"""


def select(db: Db, where: str = "1", params=(), *, sort=None, limit=None, offset=0) -> list[dict]:
    """Return organization rows matching a compiled filter."""
    sql = f"{_SELECT} WHERE {where} ORDER BY {order_by(sort, SORTS, 'o.id')} LIMIT ? OFFSET ?"
    return fetch_all(db, sql, [*params, -1 if limit is None else limit, offset])


def ids_where(db: Db, where: str = "1", params=()) -> list[int]:
    return [
        r[0]
        for r in db.conn.execute(f"SELECT o.id FROM orgs o WHERE {where} ORDER BY o.id", params)
    ]


def get(db: Db, org_id: int) -> dict | None:
    return fetch_one(db, f"{_SELECT} WHERE o.id = ?", (org_id,))


def get_many(db: Db, ids: list[int]) -> list[dict]:
    if not ids:
        return []
    return fetch_all(
        db,
        f"{_SELECT} WHERE o.id IN (SELECT value FROM json_each(?)) ORDER BY o.id",
        (json.dumps(ids),),
    )


def ids_by_name(db: Db, name: str) -> list[int]:
    """Ids of organizations whose name matches case-insensitively (Unicode-aware)."""
    return ids_named(db, "orgs", name)


def ids_by_names(db: Db, wanted: list[str]) -> list[tuple[int, str]]:
    """(id, name) of organizations whose name equals any of these, case-insensitively.

    ASCII names are looked up in one query. Others need Unicode case folding, which
    SQLite lacks: a few are looked up one by one (indexed), many at once by reading every
    organization's name once (cheaper than hundreds of lookups: an import's batch).
    """
    ascii_names = [n for n in wanted if n.isascii()]
    out = [
        (r[0], r[1])
        for r in db.conn.execute(
            "SELECT id, name FROM orgs WHERE name IN (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(ascii_names),),
        )
    ]
    seen = {i for i, _ in out}
    others = [n for n in wanted if not n.isascii()]
    if not others:
        return out
    top = db.conn.execute("SELECT max(id) FROM orgs").fetchone()[0] or 0
    if len(others) * 200 < top:
        ids = {i for n in others for i in ids_named(db, "orgs", n)} - seen
        return out + names(db, sorted(ids))
    keys = {unicodedata.normalize("NFC", n).casefold() for n in others}
    for i, name in db.conn.execute("SELECT id, name FROM orgs ORDER BY id"):
        if i not in seen and name.casefold() in keys:
            seen.add(i)
            out.append((i, name))
    return out


def ids_by_domain(db: Db, domain: str) -> list[int]:
    return [
        r[0]
        for r in db.conn.execute(
            "SELECT id FROM orgs WHERE domain = ? COLLATE NOCASE ORDER BY id", (domain,)
        )
    ]


def names(db: Db, ids: list[int]) -> list[tuple[int, str]]:
    return [
        (r[0], r[1])
        for r in db.conn.execute(
            "SELECT id, name FROM orgs WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(ids),),
        )
    ]


def phones_of(db: Db, ids: list[int]) -> dict[int, list[dict]]:
    return _children(db, "phones", "org_id", ids, "org_id, is_primary DESC, id")


def tags_of(db: Db, ids: list[int]) -> dict[int, list[str]]:
    rows = _children(db, "org_tags", "org_id", ids, "org_id, tag")
    return {k: [r["tag"] for r in v] for k, v in rows.items()}


def tag_rows(db: Db, org_id: int) -> dict[str, int]:
    return {
        r[1]: r[0]
        for r in db.conn.execute("SELECT id, tag FROM org_tags WHERE org_id = ?", (org_id,))
    }


def people(db: Db, org_id: int) -> list[dict]:
    """The contacts of an organization (id, name, title, primary email)."""
    return fetch_all(
        db,
        """SELECT c.id, c.name, c.title,
             (SELECT e.value FROM emails e WHERE e.contact_id = c.id
              ORDER BY e.is_primary DESC, e.id LIMIT 1) AS email
           FROM contacts c WHERE c.org_id = ? ORDER BY crm_fold(c.name), c.id""",
        (org_id,),
    )


def count(db: Db) -> int:
    return db.conn.execute("SELECT count(*) FROM orgs").fetchone()[0]
