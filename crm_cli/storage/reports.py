"""SQL for the analytical reports: aggregates over deals, moves and activities.

Every function takes the caller's filter as a compiled ``(where, params)`` pair over the
entity's usual alias (``d`` for deals, ``a`` for activities) and, where a period
applies, a second pair from ``reports.period_sql``. Money is summed per currency in
integer minor units; nothing here converts times or currencies.
"""

from __future__ import annotations

from crm_cli.storage.db import Db, fetch_all

Where = tuple[str, list]


def open_by_stage(db: Db, pipeline_id: int, where: Where, by_owner: bool) -> list[dict]:
    """Per stage (and owner), per currency: open deals and their total; stages with no
    deal still get a row (deals 0, currency NULL)."""
    owner_cols = "d.owner_id, u.name AS owner," if by_owner else ""
    owner_join = "LEFT JOIN users u ON u.id = d.owner_id" if by_owner else ""
    owner_group = ", d.owner_id" if by_owner else ""
    return fetch_all(
        db,
        f"""SELECT s.id AS stage_id, s.name AS stage, s.position, s.probability, {owner_cols}
                   d.currency, count(d.id) AS deals, sum(d.amount_minor) AS amount_minor
            FROM stages s
            LEFT JOIN deals d ON d.stage_id = s.id AND ({where[0]})
            {owner_join}
            WHERE s.pipeline_id = ?
            GROUP BY s.id{owner_group}, d.currency
            ORDER BY s.position, s.id{", owner COLLATE NOCASE" if by_owner else ""},
                     d.currency IS NULL, d.currency""",
        [*where[1], pipeline_id],
    )


def open_by_close_month(db: Db, where: Where) -> list[dict]:
    """Open deals per expected-close month (YYYY-MM, NULL when unset), currency and
    stage probability: count and total."""
    return fetch_all(
        db,
        f"""SELECT substr(d.expected_close_date, 1, 7) AS month, d.currency, s.probability,
                   count(*) AS deals, sum(d.amount_minor) AS amount_minor
            FROM deals d JOIN stages s ON s.id = d.stage_id
            WHERE d.status = 'open' AND ({where[0]})
            GROUP BY month, d.currency, s.probability""",
        where[1],
    )


def closed_deals(db: Db, where: Where, closed: Where, status: str | None = None) -> list[dict]:
    """Won and lost deals (or one status) closed within the period, with what reports
    group by: owner, source, stage, the reason, the dates."""
    status_sql = "d.status IN ('won', 'lost')" if status is None else "d.status = ?"
    return fetch_all(
        db,
        f"""SELECT d.id, d.status, d.created_at, d.closed_at, d.amount_minor, d.currency,
                   d.source, d.lost_reason, d.owner_id, u.name AS owner,
                   s.name AS stage, s.position AS stage_position, d.pipeline_id
            FROM deals d
            JOIN stages s ON s.id = d.stage_id
            LEFT JOIN users u ON u.id = d.owner_id
            WHERE {status_sql} AND {closed[0]} AND ({where[0]})
            ORDER BY d.closed_at, d.id""",
        [*([] if status is None else [status]), *closed[1], *where[1]],
    )


def moves_of_deals(db: Db, pipeline_id: int, where: Where, created: Where) -> list[dict]:
    """Every move of the pipeline's deals created within the period (deal order, then
    time order), with the deal's current status."""
    return fetch_all(
        db,
        f"""SELECT m.deal_id, m.from_stage_id, m.to_stage_id, m.from_status, m.to_status,
                   m.moved_at, d.status AS deal_status
            FROM deals d JOIN deal_moves m ON m.deal_id = d.id
            WHERE d.pipeline_id = ? AND {created[0]} AND ({where[0]})
            ORDER BY m.deal_id, m.moved_at, m.id""",
        [pipeline_id, *created[1], *where[1]],
    )


def activity_counts(
    db: Db, start: str, end: str, where: Where, group: str | None
) -> list[tuple[str | None, str, int]]:
    """Activities in [start, end) per (group, kind): group is the actor's name or None."""
    if group == "person":
        sql = f"""SELECT coalesce(u.name, '(nobody)'), a.kind, count(*)
                  FROM activities a LEFT JOIN users u ON u.id = a.actor_id
                  WHERE a.occurred_at >= ? AND a.occurred_at < ? AND ({where[0]})
                  GROUP BY a.actor_id, a.kind"""
    else:
        sql = f"""SELECT NULL, a.kind, count(*) FROM activities a
                  WHERE a.occurred_at >= ? AND a.occurred_at < ? AND ({where[0]})
                  GROUP BY a.kind"""
    return [tuple(r) for r in db.conn.execute(sql, [start, end, *where[1]])]  # type: ignore[misc]


def stages_of(db: Db, pipeline_id: int) -> list[dict]:
    return fetch_all(
        db,
        "SELECT id, name, position, probability FROM stages WHERE pipeline_id = ?"
        " ORDER BY position, id",
        (pipeline_id,),
    )
