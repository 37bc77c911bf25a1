"""SQL for ``crm alerts``: the conditions worth telling someone about, and their claims.

Claims share ``reminder_claims`` with ``crm remind`` under kinds prefixed ``alert:``; the
``due_at`` column holds the instant that identifies the condition (a stale deal's last
touch, an overdue follow-up's due time), so a changed condition is a new alert.
"""

from __future__ import annotations

from crm_cli.storage.db import Db, fetch_all


def stale_deals(db: Db, touched_before: str) -> list[dict]:
    """Open deals that entered their stage before ``touched_before``, with their latest
    activity (the caller applies each stage's limit)."""
    return fetch_all(
        db,
        """SELECT d.id, d.title, d.owner_id, u.name AS owner, s.name AS stage,
                  d.stage_entered_at,
                  (SELECT max(a.occurred_at) FROM activities a WHERE a.deal_id = d.id)
                    AS last_activity
           FROM deals d JOIN stages s ON s.id = d.stage_id
           LEFT JOIN users u ON u.id = d.owner_id
           WHERE d.status = 'open' AND d.stage_entered_at < ?
           ORDER BY d.id""",
        (touched_before,),
    )


def overdue_followups(db: Db, due_before: str) -> list[dict]:
    return fetch_all(
        db,
        """SELECT f.id, f.text, f.due_at, f.assignee_id AS owner_id, u.name AS owner
           FROM followups f LEFT JOIN users u ON u.id = f.assignee_id
           WHERE f.status = 'open' AND f.due_at < ? ORDER BY f.due_at, f.id""",
        (due_before,),
    )


def unanswered_tickets(db: Db, now: str) -> list[dict]:
    """Active tickets past their first-response due time with no response yet."""
    return fetch_all(
        db,
        """SELECT t.id, t.subject, t.priority, t.due_at, t.assignee_id AS owner_id,
                  u.name AS owner
           FROM tickets t LEFT JOIN users u ON u.id = t.assignee_id
           WHERE t.status IN ('new', 'open', 'pending') AND t.first_response_at IS NULL
             AND t.due_at IS NOT NULL AND t.due_at < ?
           ORDER BY t.due_at, t.id""",
        (now,),
    )


def owners_of_contacts(db: Db, ids: list[int]) -> dict[int, tuple[int | None, str | None]]:
    import json

    return {
        r[0]: (r[1], r[2])
        for r in db.conn.execute(
            "SELECT c.id, c.owner_id, u.name FROM contacts c LEFT JOIN users u ON u.id = c.owner_id"
            " WHERE c.id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),),
        )
    }


def claimed(db: Db, recipient_id: int) -> set[tuple[str, int, str]]:
    """(kind, item id, condition instant) of every alert already reported to the recipient."""
    return {
        (r[0], r[1], r[2])
        for r in db.conn.execute(
            "SELECT item_kind, item_id, due_at FROM reminder_claims"
            " WHERE recipient_id = ? AND item_kind LIKE 'alert:%'",
            (recipient_id,),
        )
    }
