"""SQL lookups for the deal and order importers: ids from related systems, orders by number."""

from __future__ import annotations

import json
from collections.abc import Iterable

from crm_cli.storage.db import Db, fetch_all, fetch_one
from crm_cli.storage.imports import _ENTITY_TABLES


def by_external_ids_family(db: Db, family: str, entity: str, ids: Iterable[str]) -> dict[str, int]:
    """Record ids per external id from any system of a family ('chinook' covers
    'chinook-customers'), for records that still exist; the lowest system name wins."""
    table = _ENTITY_TABLES[entity]
    out: dict[str, int] = {}
    for ext, rid in db.conn.execute(
        f"""SELECT x.external_id, x.record_id FROM external_ids x
            JOIN {table} r ON r.id = x.record_id
            WHERE (x.system = ? OR x.system LIKE ? ESCAPE '\\') AND x.entity = ?
            AND x.external_id IN (SELECT value FROM json_each(?))
            ORDER BY x.system DESC, x.id DESC""",
        (family, _like_prefix(family) + "-%", entity, json.dumps(sorted(set(ids)))),
    ):
        out[ext] = rid  # later rows (lower system names, older links) win
    return out


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def latest_import_source(db: Db, system: str, kind: str) -> str | None:
    """The file of the newest import of this kind and system that was not reverted."""
    row = fetch_one(
        db,
        """SELECT i.source FROM imports i LEFT JOIN change_sets s ON s.id = i.set_id
           WHERE i.system = ? AND i.kind = ? AND i.status IN ('done', 'running', 'failed')
           AND s.reverted_by_set_id IS NULL
           ORDER BY i.id DESC LIMIT 1""",
        (system, kind),
    )
    return row["source"] if row else None


def orders_by_numbers(db: Db, numbers: Iterable[str]) -> dict[str, dict]:
    """Orders per case-folded number (numbers are unique case-insensitively)."""
    return {
        r["number"].casefold(): r
        for r in fetch_all(
            db,
            "SELECT * FROM orders WHERE number IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(set(numbers))),),
        )
    }


def deal_rows(db: Db, ids: Iterable[int]) -> dict[int, dict]:
    """Raw deals rows by id."""
    return {
        r["id"]: r
        for r in fetch_all(
            db,
            "SELECT * FROM deals WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(set(ids))),),
        )
    }
