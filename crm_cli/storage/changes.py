"""SQL for the change log: history, and reverting a change set (undo / redo)."""

from __future__ import annotations

import json

from crm_cli.storage.db import Db, Transaction, fetch_all, fetch_one

_SET_SELECT = """
SELECT s.*, u.name AS actor,
  (SELECT count(*) FROM changes ch WHERE ch.set_id = s.id) AS change_count
FROM change_sets s LEFT JOIN users u ON u.id = s.actor_id
"""


def get_set(db: Db, set_id: int) -> dict | None:
    return fetch_one(db, f"{_SET_SELECT} WHERE s.id = ?", (set_id,))


def list_sets(
    db: Db, *, table: str | None = None, row_id: int | None = None, limit: int | None = 20
) -> list[dict]:
    """Change sets, newest first; with table/row_id only those touching that record."""
    if table is None:
        return fetch_all(
            db, f"{_SET_SELECT} ORDER BY s.id DESC LIMIT ?", (-1 if limit is None else limit,)
        )
    from crm_cli.storage.db import PARENT_KEYS

    # The record's own child rows (a contact's emails, an org's tags), not other
    # records that merely point at it (a contact's org_id).
    children = [(t, k) for t, keys in PARENT_KEYS.items() for k, parent in keys if parent == table]
    parts = ["SELECT set_id FROM changes WHERE table_name = ? AND row_id = ?"]
    params: list = [table, row_id]
    for child, key in children:
        parts.append(
            "SELECT set_id FROM changes WHERE table_name = ? AND json_extract(coalesce(after, before), ?) = ?"
        )
        params += [child, f"$.{key}", row_id]
    sql = f"{_SET_SELECT} WHERE s.id IN ({' UNION '.join(parts)}) ORDER BY s.id DESC LIMIT ?"
    params.append(-1 if limit is None else limit)
    return fetch_all(db, sql, params)


def changes_of(db: Db, set_id: int) -> list[dict]:
    """The changes of a set in the order they were made, with before/after decoded."""
    rows = fetch_all(db, "SELECT * FROM changes WHERE set_id = ? ORDER BY seq", (set_id,))
    for r in rows:
        r["before"] = None if r["before"] is None else json.loads(r["before"])
        r["after"] = None if r["after"] is None else json.loads(r["after"])
    return rows


def latest_undoable(db: Db, actor_id: int) -> dict | None:
    """The actor's newest set that is undoable, done, not an undo and not reverted."""
    return fetch_one(
        db,
        f"""{_SET_SELECT} WHERE s.actor_id = ? AND s.undoable = 1 AND s.reverts_set_id IS NULL
            AND s.reverted_by_set_id IS NULL AND s.status IN ('done', 'open')
            AND EXISTS (SELECT 1 FROM changes ch WHERE ch.set_id = s.id)
            ORDER BY s.id DESC LIMIT 1""",
        (actor_id,),
    )


def later_sets_touching(
    db: Db, set_id: int, rows: list[tuple[str, int]], exclude: int = 0
) -> list[dict]:
    """Sets after set_id (but ``exclude``) that changed any of these (table, row_id) rows."""
    if not rows:
        return []
    return fetch_all(
        db,
        f"""{_SET_SELECT} WHERE s.id IN (
              SELECT ch.set_id FROM changes ch
              JOIN json_each(?) j ON ch.table_name = json_extract(j.value, '$[0]')
                                  AND ch.row_id = json_extract(j.value, '$[1]')
              WHERE ch.set_id > ? AND ch.set_id != ?)
            ORDER BY s.id""",
        (json.dumps(rows), set_id, exclude),
    )


def later_sets_referring(
    db: Db, set_id: int, rows: list[tuple[str, int]], exclude: int = 0
) -> list[dict]:
    """Sets after set_id (but ``exclude``) whose rows point at any of these rows through a foreign key."""
    from crm_cli.storage.graph import foreign_keys

    fks = foreign_keys(db)
    found: set[int] = set()
    for table, row_id in rows:
        for child, col in fks.get(table, []):
            found.update(
                r[0]
                for r in db.conn.execute(
                    "SELECT DISTINCT set_id FROM changes WHERE set_id > ? AND set_id != ?"
                    " AND table_name = ? AND json_extract(coalesce(after, before), ?) = ?",
                    (set_id, exclude, child, f"$.{col}", row_id),
                )
            )
    if not found:
        return []
    return fetch_all(
        db,
        f"{_SET_SELECT} WHERE s.id IN (SELECT value FROM json_each(?)) ORDER BY s.id",
        (json.dumps(sorted(found)),),
    )


def current_row(db: Db, table: str, row_id: int) -> dict | None:
    return fetch_one(db, f"SELECT * FROM {table} WHERE id = ?", (row_id,))


def apply_inverse(tx: Transaction, change: dict, *, force: bool = False) -> None:
    """Apply the inverse of one recorded change through the transaction (so it is logged).

    With ``force``, removing a row also removes the child rows later commands gave it.
    """
    table, row_id, op = change["table_name"], change["row_id"], change["op"]
    if op == "insert":
        if force:
            from crm_cli.storage.graph import owned_rows

            for child, child_id in owned_rows(tx.db, table, row_id):
                tx.delete(child, child_id)
        tx.delete(table, row_id)
        return
    before = change["before"]
    current = current_row(tx.db, table, row_id)
    if op == "delete":
        if current is None:
            tx.insert(table, before)
        else:  # only with --force: a later command brought the row back
            tx.update(table, row_id, {k: v for k, v in before.items() if k != "id"})
        return
    if current is None:
        return  # only with --force: a later command deleted the row; leave it deleted
    # Revert only what this change changed, so --force keeps later edits to other columns.
    after = change["after"] or {}
    tx.update(table, row_id, {k: v for k, v in before.items() if k != "id" and after.get(k) != v})


def mark_revert_chain(db: Db, reverted: dict, by_set_id: int) -> None:
    """Record that ``reverted`` was reverted by ``by_set_id``, and flip what it had reverted.

    Reverting set S takes S's effect away; if S itself reverted P, P's effect is back
    (P no longer counts as reverted), and if P had reverted Q, Q's effect is gone again.
    """
    mark_reverted(db, reverted["id"], by_set_id)
    in_effect = False
    cur = reverted
    while cur["reverts_set_id"] is not None:
        parent = get_set(db, cur["reverts_set_id"])
        if parent is None:
            break
        parent_in_effect = not in_effect
        mark_reverted(db, parent["id"], None if parent_in_effect else cur["id"])
        in_effect, cur = parent_in_effect, parent


def mark_reverted(db: Db, set_id: int, by_set_id: int | None) -> None:
    db.conn.execute(
        "UPDATE change_sets SET reverted_by_set_id = ? WHERE id = ?", (by_set_id, set_id)
    )


def mark_revert_of(db: Db, set_id: int, target_id: int) -> None:
    db.conn.execute("UPDATE change_sets SET reverts_set_id = ? WHERE id = ?", (target_id, set_id))


def has_changes(db: Db, set_id: int) -> bool:
    return (
        db.conn.execute("SELECT 1 FROM changes WHERE set_id = ? LIMIT 1", (set_id,)).fetchone()
        is not None
    )
