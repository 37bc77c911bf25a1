"""SQL the hooks need: a committed change set, and its changes as the log recorded them."""

from __future__ import annotations

from collections.abc import Iterator

from crm_cli.storage.db import Db, fetch_one


def change_set(db: Db, set_id: int) -> dict | None:
    return fetch_one(
        db,
        """SELECT s.id, s.label, s.command, s.undoable, s.created_at AS at, u.name AS actor,
                  s.reverts_set_id
           FROM change_sets s LEFT JOIN users u ON u.id = s.actor_id WHERE s.id = ?""",
        (set_id,),
    )


def op_counts(db: Db, set_id: int) -> dict[str, int]:
    return dict(
        db.conn.execute(
            "SELECT op, count(*) FROM changes WHERE set_id = ? GROUP BY op", (set_id,)
        ).fetchall()
    )


def changes(db: Db, set_id: int, ops: tuple[str, ...]) -> Iterator[tuple]:
    """(seq, table, row id, op, before JSON, after JSON) in log order, streamed."""
    marks = ", ".join("?" * len(ops))
    yield from db.conn.execute(
        "SELECT seq, table_name, row_id, op, before, after FROM changes"
        f" WHERE set_id = ? AND op IN ({marks}) ORDER BY seq",
        (set_id, *ops),
    )
