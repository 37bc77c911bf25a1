"""The change log as users see it: history, and undo/redo of whole change sets."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from crm_cli.errors import Conflict, InvalidInput, NotFound
from crm_cli.storage import changes as store
from crm_cli.storage.db import Db, transaction


@dataclass(frozen=True, slots=True)
class Reverted:
    set_id: int  # the set that was reverted
    label: str
    changes: int
    undo_set_id: int  # the new set recording the revert
    was_undo: bool  # the reverted set was itself a revert (an undo), so its target is back


def sets(db: Db, ref: tuple[str, int] | None = None, *, limit: int | None = 20) -> list[dict]:
    """Change sets, newest first, optionally only those touching one record."""
    if ref is None:
        return store.list_sets(db, limit=limit)
    return store.list_sets(db, table=ref[0], row_id=ref[1], limit=limit)


def with_changes(db: Db, set_rows: list[dict]) -> list[dict]:
    """Attach each set's changes (table, row, op, before, after) for JSON output."""
    out = []
    for s in set_rows:
        s = dict(s)
        s["undoable"] = bool(s["undoable"])
        s["changes"] = [
            {k: c[k] for k in ("seq", "table_name", "row_id", "op", "before", "after")}
            for c in store.changes_of(db, s["id"])
        ]
        out.append(s)
    return out


def _actor_id(db: Db) -> int | None:
    from crm_cli.storage import users

    rows = users.find(db, db.actor or "")
    if rows:
        return rows[0]["id"]
    if users.any_user(db):
        raise InvalidInput(
            f"unknown user '{db.actor}': add it with 'crm user add', or act as a known user with --as"
        )
    return None


def _differs(expected: dict | None, current: dict | None) -> bool:
    if expected is None or current is None:
        return (expected is None) != (current is None)
    return any(current.get(k) != v for k, v in expected.items())


MAX_ID = 2**63 - 1


def undo(
    db: Db, set_id: int | None = None, *, force: bool = False, allow_open: bool = False
) -> Reverted:
    """Revert a change set (default: the acting user's latest); an undo reverted is a redo.

    ``allow_open`` reverts a set whose writer is known to have stopped (an interrupted
    import) without ``force``'s other effect of overriding later changes.
    """
    if set_id is not None and not 0 < set_id <= MAX_ID:
        raise NotFound(f"no change set {set_id}")
    if set_id is None:
        actor = _actor_id(db)
        target = store.latest_undoable(db, actor) if actor is not None else None
        if target is None:
            raise NotFound("nothing to undo: no change of yours that is not already undone")
    else:
        target = store.get_set(db, set_id)
        if target is None:
            raise NotFound(f"no change set {set_id}")
    if not target["undoable"]:
        raise InvalidInput(
            f"change set {target['id']} ({target['label']}) records something that happened outside "
            "the database and cannot be undone"
        )
    if target["reverted_by_set_id"] is not None:
        raise InvalidInput(
            f"change set {target['id']} was already reverted by set {target['reverted_by_set_id']}"
            f" (revert that one to redo it: crm undo {target['reverted_by_set_id']})"
        )
    if target["status"] == "open" and not (force or allow_open):
        raise Conflict(
            f"change set {target['id']} ({target['label']}) is still being written, or was "
            f"interrupted; once it has stopped, revert what it wrote with: crm undo {target['id']} --force"
        )
    changes = store.changes_of(db, target["id"])
    if not changes:
        raise InvalidInput(f"change set {target['id']} changed nothing")
    # A plain undo restores rows exactly (versions included); a forced one keeps later
    # changes, so it bumps versions like any other edit.
    with transaction(db, f"undo {target['id']} ({target['label']})", versioned=force) as tx:
        # A row may be touched several times in one set; only its final state must match.
        final: dict[tuple[str, int], dict | None] = {}
        for c in changes:
            final[(c["table_name"], c["row_id"])] = c["after"]
        conflicts = [
            key
            for key, after in final.items()
            if _differs(after, store.current_row(db, key[0], key[1]))
        ]
        if conflicts and not force:
            later = store.later_sets_touching(db, target["id"], conflicts, exclude=tx.set_id)
            named = (
                ", ".join(f"{s['id']} ({s['label']})" for s in later[:8])
                or "changes made outside crm"
            )
            raise Conflict(
                f"later change sets touched the same records: {named}; undo them first or use --force"
            )
        try:
            for c in reversed(changes):
                store.apply_inverse(tx, c, force=force)
        except sqlite3.IntegrityError as e:
            if "UNIQUE" in str(e):
                raise Conflict(
                    f"cannot revert change set {target['id']}: another record now holds the same"
                    f" unique value ({e})"
                ) from None
            rows = list(final)
            later = store.later_sets_referring(
                db, target["id"], rows, exclude=tx.set_id
            ) or store.later_sets_touching(db, target["id"], rows, exclude=tx.set_id)
            named = ", ".join(f"{s['id']} ({s['label']})" for s in later[:8]) or "later changes"
            raise Conflict(
                f"cannot revert change set {target['id']}: records added since depend on it "
                f"({e}); revert {named} first"
            ) from None
        if not store.has_changes(db, tx.set_id):
            raise InvalidInput(
                f"nothing left to revert: later change sets already removed what set {target['id']} changed"
            )
        store.mark_revert_of(db, tx.set_id, target["id"])
        store.mark_revert_chain(db, target, tx.set_id)
        new_id = tx.set_id
    return Reverted(
        target["id"], target["label"], len(changes), new_id, target["reverts_set_id"] is not None
    )
