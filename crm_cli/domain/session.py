"""Open the database for one user command (CLI or dashboard): who acts, and the clock."""

from __future__ import annotations

from crm_cli.domain.users import acting_name
from crm_cli.storage.db import Db, open_db


def _clock() -> str:
    from crm_cli.domain import dates

    return dates.to_db(dates.now())


def open_session(
    path: str | None = None,
    *,
    actor: str | None = None,
    command: str | None = None,
    must_exist: bool = False,
) -> Db:
    """Open the database acting as --as / CRM_USER / config user, with the CRM_NOW-aware clock."""
    db = open_db(path, must_exist=must_exist)
    db.actor = acting_name(actor)
    db.command = command
    db.clock = _clock
    db.after_commit = _hooks
    return db


def _hooks(db: Db, set_id: int) -> None:
    """The on-add / on-modify / on-delete hooks of a committed change set (if any exist)."""
    from crm_cli.domain import hooks

    hooks.after_commit(db, set_id)
