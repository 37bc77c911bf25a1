"""SQL for ``crm alerts``: the conditions worth telling someone about, and their claims.

Claims share ``reminder_claims`` with ``crm remind`` under kinds prefixed ``alert:``; the
``due_at`` column holds the instant that identifies the condition (a stale deal's last
touch, an overdue follow-up's due time), so a changed condition is a new alert. Every
query here leaves out what the recipient was already told (``claimed``), keeps only
their own records and unowned ones when asked (``mine``), and stops at ``limit`` rows.
"""

from __future__ import annotations

from crm_cli.storage.db import Db, fetch_all


def _unclaimed(kind: str, item: str, key: str) -> str:
    return (f" AND NOT EXISTS (SELECT 1 FROM reminder_claims r WHERE r.item_kind = 'alert:{kind}'"
            f" AND r.item_id = {item} AND r.recipient_id = ? AND r.due_at = {key})")  # fmt: skip


def _mine(owner: str) -> str:
    return f" AND ({owner} IS NULL OR {owner} = ?)"


STALE_ORDER = "q.amount_minor IS NULL, q.amount_minor DESC, q.since, q.id"


def stale_deals_sql(default_before: str, stage_before: dict[str, str]) -> tuple[str, list]:
    """Open deals whose last touch (stage change or activity) is older than their stage's
    limit (``stage_before``: folded stage name -> instant; else ``default_before``), as a
    subquery ``q`` (id, title, owner_id, owner, stage, amount_minor, currency, since) and its
    parameters; ``crm doctor`` lists the same deals without claims."""
    if stage_before:
        before_sql = "CASE lower(s.name)" + " WHEN ? THEN ?" * len(stage_before) + " ELSE ? END"
    else:
        before_sql = "?"
    case_params = [p for name, at in stage_before.items() for p in (name, at)]
    # A deal can only be stale if it entered its stage before the latest of the limits.
    latest = max([default_before, *stage_before.values()])
    sql = f"""SELECT * FROM (
          SELECT d.id, d.title, d.owner_id, u.name AS owner, s.name AS stage, d.amount_minor,
                 d.currency,
                 max(d.stage_entered_at, coalesce(
                     (SELECT max(a.occurred_at) FROM activities a WHERE a.deal_id = d.id), ''))
                   AS since,
                 {before_sql} AS before
          FROM deals d JOIN stages s ON s.id = d.stage_id
          LEFT JOIN users u ON u.id = d.owner_id
          WHERE d.status = 'open' AND d.stage_entered_at < ?) AS q
        WHERE q.since < q.before"""
    return sql, [*case_params, default_before, latest]


def stale_deals(
    db: Db, default_before: str, stage_before: dict[str, str], recipient: int,
    mine: int | None, limit: int,
) -> list[dict]:  # fmt: skip
    """The stale deals the recipient was not told about yet, biggest first."""
    sql, params = stale_deals_sql(default_before, stage_before)
    sql += _unclaimed("stale-deal", "q.id", "q.since")
    params.append(recipient)
    if mine is not None:
        sql += _mine("q.owner_id")
        params.append(mine)
    return fetch_all(db, f"{sql} ORDER BY {STALE_ORDER} LIMIT ?", [*params, limit])


def overdue_followups(
    db: Db, due_before: str, recipient: int, mine: int | None, limit: int
) -> list[dict]:
    sql = f"""SELECT f.id, f.text, f.due_at, f.assignee_id AS owner_id, u.name AS owner
              FROM followups f LEFT JOIN users u ON u.id = f.assignee_id
              WHERE f.status = 'open' AND f.due_at < ?{_unclaimed("overdue-followup", "f.id", "f.due_at")}"""
    params: list = [due_before, recipient]
    if mine is not None:
        sql += _mine("f.assignee_id")
        params.append(mine)
    return fetch_all(db, sql + " ORDER BY f.due_at, f.id LIMIT ?", [*params, limit])


def unanswered_tickets(
    db: Db, now: str, recipient: int, mine: int | None, limit: int
) -> list[dict]:
    """Active tickets past their first-response due time with no response yet."""
    sql = f"""SELECT t.id, t.subject, t.priority, t.due_at, t.assignee_id AS owner_id,
                     u.name AS owner
              FROM tickets t LEFT JOIN users u ON u.id = t.assignee_id
              WHERE t.status IN ('new', 'open', 'pending') AND t.first_response_at IS NULL
                AND t.due_at IS NOT NULL AND t.due_at < ?{_unclaimed("ticket-past-due", "t.id", "t.due_at")}"""
    params: list = [now, recipient]
    if mine is not None:
        sql += _mine("t.assignee_id")
        params.append(mine)
    return fetch_all(db, sql + " ORDER BY t.due_at, t.id LIMIT ?", [*params, limit])


def claimed(db: Db, kind: str, item_id: int, recipient: int, key: str) -> bool:
    """Whether the recipient was already told about this item's condition (keyed by ``key``)."""
    return (
        db.conn.execute(
            "SELECT 1 FROM reminder_claims WHERE item_kind = ? AND item_id = ?"
            " AND recipient_id = ? AND due_at = ?",
            (f"alert:{kind}", item_id, recipient, key),
        ).fetchone()
        is not None
    )
