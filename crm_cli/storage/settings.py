"""SQL for team-wide settings shared by every user of the database."""

from __future__ import annotations

import json

from crm_cli.storage.db import Db


def get_all(db: Db) -> dict[str, object]:
    """Return every stored team setting, decoded from JSON."""
    return {k: json.loads(v) for k, v in db.conn.execute("SELECT key, value FROM settings")}


def get(db: Db, key: str):
    row = db.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return None if row is None else json.loads(row[0])


def row_id(db: Db, key: str) -> int | None:
    row = db.conn.execute("SELECT id FROM settings WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]
