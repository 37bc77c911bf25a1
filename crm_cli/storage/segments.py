"""SQL for segments: saved contact filters, and counting the contacts a compiled filter picks."""

from __future__ import annotations

from crm_cli.storage.db import Db, casefold, fetch_all, fetch_one


def list_segments(db: Db) -> list[dict]:
    return fetch_all(db, "SELECT * FROM segments ORDER BY name COLLATE NOCASE, id")


def get(db: Db, segment_id: int) -> dict | None:
    return fetch_one(db, "SELECT * FROM segments WHERE id = ?", (segment_id,))


def find(db: Db, name: str) -> list[dict]:
    """Segments with this name, ignoring case (Unicode case too: 'Ñu' finds 'ñu')."""
    return fetch_all(
        db,
        "SELECT * FROM segments WHERE name = ? COLLATE NOCASE OR crm_casefold(name) = ?"
        " ORDER BY id",
        (name, casefold(name)),
    )


def campaigns_using(db: Db, segment_id: int) -> list[str]:
    """Names of the campaigns built on a segment, oldest first."""
    rows = db.conn.execute(
        "SELECT name FROM campaigns WHERE segment_id = ? ORDER BY id", (segment_id,)
    )
    return [r[0] for r in rows]


def count_contacts(db: Db, where: str = "1", params: list | tuple = ()) -> int:
    """How many contacts a compiled contact filter (over ``contacts c``) matches."""
    return db.conn.execute(f"SELECT count(*) FROM contacts c WHERE {where}", params).fetchone()[0]
