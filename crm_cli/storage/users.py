"""SQL for team members and teams."""

from __future__ import annotations

from crm_cli.storage.db import Db, fetch_all, fetch_one

_SELECT = """
SELECT u.*, t.name AS team, m.name AS manager
FROM users u
LEFT JOIN teams t ON t.id = u.team_id
LEFT JOIN users m ON m.id = u.manager_id
"""


def list_users(db: Db) -> list[dict]:
    return fetch_all(db, f"{_SELECT} ORDER BY u.name COLLATE NOCASE")


def get(db: Db, user_id: int) -> dict | None:
    return fetch_one(db, f"{_SELECT} WHERE u.id = ?", (user_id,))


def find(db: Db, name_or_email: str) -> list[dict]:
    """Users whose name or email matches case-insensitively."""
    return fetch_all(
        db,
        f"{_SELECT} WHERE u.name = ? COLLATE NOCASE OR u.email = ? COLLATE NOCASE ORDER BY u.id",
        (name_or_email, name_or_email),
    )


def any_user(db: Db) -> bool:
    return db.conn.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None


def list_teams(db: Db) -> list[dict]:
    return fetch_all(
        db,
        """SELECT t.*, (SELECT count(*) FROM users u WHERE u.team_id = t.id) AS members
           FROM teams t ORDER BY t.name COLLATE NOCASE""",
    )


def find_team(db: Db, name: str) -> dict | None:
    return fetch_one(db, "SELECT * FROM teams WHERE name = ? COLLATE NOCASE", (name,))
