"""SQL for merging records: every row that refers to a contact or an organization.

The referrers are read from the schema (``graph.foreign_keys``), so a table added by
a later migration with a foreign key to contacts or orgs is re-pointed by a merge
without changes here. ``external_ids`` names its record by (entity, record_id) rather
than a foreign key and is listed in ``TYPED`` for the same treatment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from crm_cli.storage import graph
from crm_cli.storage.db import Db, fetch_all, fetch_one

# References made by an entity name and an id instead of a foreign key:
# (table, id column, entity column).
TYPED: tuple[tuple[str, str, str], ...] = (("external_ids", "record_id", "entity"),)

# Child rows that are the same thing when these columns are equal, though no UNIQUE
# index says so (contacts may hold duplicate emails until they are merged).
SAME_WHEN: dict[tuple[str, str], tuple[str, ...]] = {
    ("emails", "contact_id"): ("value",),
    ("phones", "contact_id"): ("value",),
    ("phones", "org_id"): ("value",),
}

MERGEABLE = ("contacts", "orgs")


@dataclass(frozen=True, slots=True)
class Ref:
    """A column of a table that refers to rows of the merged table."""

    table: str
    column: str
    entity_column: str | None = None  # for TYPED references: the column naming the table
    # Column sets that, with ``column``, must stay unique: a row of an OTHER whose values
    # here equal a row of KEEP's is a duplicate, dropped instead of moved.
    keys: tuple[tuple[str, ...], ...] = ()


def _unique_keys(db: Db, table: str, column: str) -> list[tuple[str, ...]]:
    """The other columns of each UNIQUE index of ``table`` that includes ``column``."""
    out = []
    for idx in db.conn.execute(f"PRAGMA index_list({table})").fetchall():
        name, unique = idx[1], idx[2]
        if not unique:
            continue
        cols = [r[2] for r in db.conn.execute(f"PRAGMA index_info('{name}')")]
        if None in cols or column not in cols:
            continue  # an expression index, or one the merge cannot break
        out.append(tuple(c for c in cols if c != column))
    return out


def references(db: Db, table: str) -> list[Ref]:
    """Every (table, column) whose rows refer to rows of ``table``, with their unique keys."""
    if table not in MERGEABLE:
        raise ValueError(f"not a mergeable table: {table}")
    out = []
    for child, col in graph.foreign_keys(db).get(table, []):
        keys = _unique_keys(db, child, col)
        if (child, col) in SAME_WHEN:
            keys.append(SAME_WHEN[(child, col)])
        out.append(Ref(child, col, None, tuple(dict.fromkeys(keys))))
    for child, col, entity_col in TYPED:
        out.append(Ref(child, col, entity_col, ()))
    return out


def referring_rows(db: Db, table: str, ref: Ref, ids: list[int]) -> list[dict]:
    """The rows of ``ref.table`` that refer to these rows of ``table``, in id order."""
    where = f"{ref.column} IN (SELECT value FROM json_each(?))"
    params: list = [json.dumps(ids)]
    if ref.entity_column:
        where += f" AND {ref.entity_column} = ?"
        params.append(table)
    return fetch_all(db, f"SELECT * FROM {ref.table} WHERE {where} ORDER BY id", params)


def record(db: Db, table: str, row_id: int) -> dict | None:
    """One stored row of contacts or orgs, every column."""
    if table not in MERGEABLE:
        raise ValueError(f"not a mergeable table: {table}")
    return fetch_one(db, f"SELECT * FROM {table} WHERE id = ?", (row_id,))


def name_of(db: Db, table: str, row_id: int | None) -> str | None:
    """The name of an organization or a user (for noting a value the merge did not keep)."""
    if row_id is None:
        return None
    if table not in ("orgs", "users", "contacts"):
        raise ValueError(f"no names in {table}")
    row = db.conn.execute(f"SELECT name FROM {table} WHERE id = ?", (row_id,)).fetchone()
    return None if row is None else row[0]
