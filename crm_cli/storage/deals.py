"""SQL for pipelines, their stages, deals, deal tags and the record of deal moves."""

from __future__ import annotations

import json

from crm_cli.storage.db import PARENT_KEYS, Db, fetch_all, fetch_one
from crm_cli.storage.filters import FieldSql

PARENT_KEYS.update({"deal_tags": (("deal_id", "deals"),), "deal_moves": (("deal_id", "deals"),)})


def ids_by_title(db: Db, title: str) -> list[int]:
    """Ids of deals whose title equals this one, case-insensitively."""
    from crm_cli.storage.contacts import ids_named

    return ids_named(db, "deals", title, "title")


def exists(db: Db, deal_id: int) -> bool:
    return db.conn.execute("SELECT 1 FROM deals WHERE id = ?", (deal_id,)).fetchone() is not None


def titles(db: Db, ids: list[int]) -> list[tuple[int, str]]:
    return [
        (r[0], r[1])
        for r in db.conn.execute(
            "SELECT id, title FROM deals WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(ids),),
        )
    ]
