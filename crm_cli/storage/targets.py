"""SQL for sales targets and the figures the targets report sets against them."""

from __future__ import annotations

from crm_cli.storage.db import Db, fetch_all, fetch_one

_SELECT = """SELECT t.*, u.name AS owner, tm.name AS team
             FROM targets t LEFT JOIN users u ON u.id = t.owner_id
             LEFT JOIN teams tm ON tm.id = t.team_id"""


def get(db: Db, target_id: int) -> dict | None:
    return fetch_one(db, f"{_SELECT} WHERE t.id = ?", (target_id,))


def find(db: Db, owner_id: int | None, team_id: int | None, period: str, currency: str):
    """The target of this person or team for the period and currency, if any."""
    return fetch_one(
        db,
        f"{_SELECT} WHERE t.owner_id IS ? AND t.team_id IS ? AND t.period = ? AND t.currency = ?",
        (owner_id, team_id, period, currency),
    )


def list_targets(db: Db, period: str | None = None) -> list[dict]:
    where, params = ("WHERE t.period = ?", [period]) if period is not None else ("", [])
    return fetch_all(
        db,
        f"""{_SELECT} {where}
            ORDER BY t.start_date, t.period, t.team_id IS NOT NULL,
                     coalesce(u.name, tm.name) COLLATE NOCASE, t.currency, t.id""",
        params,
    )


def active_periods(db: Db, today: str) -> list[str]:
    """The periods of the targets whose days include ``today`` (YYYY-MM-DD)."""
    return [
        r["period"]
        for r in fetch_all(
            db,
            "SELECT DISTINCT period FROM targets WHERE start_date <= ? AND end_date >= ?"
            " ORDER BY period",
            (today, today),
        )
    ]


def people(db: Db) -> list[dict]:
    """Every user with their team (id and name)."""
    return fetch_all(
        db,
        """SELECT u.id, u.name, u.team_id, t.name AS team
           FROM users u LEFT JOIN teams t ON t.id = u.team_id""",
    )


def teams(db: Db) -> list[dict]:
    return fetch_all(db, "SELECT id, name FROM teams")


def won_by_owner(db: Db, start: str, end: str) -> list[dict]:
    """Deals won with ``start <= closed_at < end``: per owner and currency, the total."""
    return fetch_all(
        db,
        """SELECT d.owner_id, d.currency, count(*) AS deals, sum(d.amount_minor) AS amount_minor
           FROM deals d
           WHERE d.status = 'won' AND d.closed_at >= ? AND d.closed_at < ?
             AND d.owner_id IS NOT NULL AND d.amount_minor IS NOT NULL AND d.currency IS NOT NULL
           GROUP BY d.owner_id, d.currency""",
        (start, end),
    )


def open_by_owner(db: Db, first: str, last: str) -> list[dict]:
    """Open deals expected to close on the days first..last: per owner, currency and
    stage probability, the total."""
    return fetch_all(
        db,
        """SELECT d.owner_id, d.currency, s.probability, count(*) AS deals,
                  sum(d.amount_minor) AS amount_minor
           FROM deals d JOIN stages s ON s.id = d.stage_id
           WHERE d.status = 'open' AND d.expected_close_date >= ? AND d.expected_close_date <= ?
             AND d.owner_id IS NOT NULL AND d.amount_minor IS NOT NULL AND d.currency IS NOT NULL
           GROUP BY d.owner_id, d.currency, s.probability""",
        (first, last),
    )
