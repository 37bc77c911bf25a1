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
                   julianday(d.closed_at) - julianday(d.created_at) AS days,
                   d.source, d.lost_reason, d.owner_id, u.name AS owner,
                   s.name AS stage, s.position AS stage_position, d.pipeline_id
            FROM deals d
            JOIN stages s ON s.id = d.stage_id
            LEFT JOIN users u ON u.id = d.owner_id
            WHERE {status_sql} AND {closed[0]} AND ({where[0]})
            ORDER BY d.closed_at, d.id""",
        [*([] if status is None else [status]), *closed[1], *where[1]],
    )


def moves_of_deals(
    db: Db, pipeline_id: int, where: Where, created: Where
) -> list[tuple[int, int, str | None, str, float, str]]:
    """Every move of the pipeline's deals created within the period, deal by deal in time
    order: (deal id, to stage id, from status, to status, moved at as a Julian day, the
    deal's current status). Tuples, not dicts: the funnel reads 150,000 of them."""
    # Moves first (CROSS JOIN keeps that order): walking deal_moves_deal (deal_id,
    # moved_at, then rowid) gives the ORDER BY without sorting 150,000 rows.
    return db.conn.execute(
        f"""SELECT m.deal_id, m.to_stage_id, m.from_status, m.to_status,
                   julianday(m.moved_at), d.status
            FROM deal_moves m CROSS JOIN deals d ON d.id = m.deal_id
            WHERE d.pipeline_id = ? AND {created[0]} AND ({where[0]})
            ORDER BY m.deal_id, m.moved_at, m.id""",
        [pipeline_id, *created[1], *where[1]],
    ).fetchall()


def activity_counts_by_person(
    db: Db, start: str, end: str, where: Where
) -> list[tuple[str, str, int]]:
    """Activities in [start, end) per (the actor's name, kind)."""
    sql = f"""SELECT coalesce(u.name, '(nobody)'), a.kind, count(*)
              FROM activities a LEFT JOIN users u ON u.id = a.actor_id
              WHERE a.occurred_at >= ? AND a.occurred_at < ? AND ({where[0]})
              GROUP BY a.actor_id, a.kind"""
    return [tuple(r) for r in db.conn.execute(sql, [start, end, *where[1]])]  # type: ignore[misc]


def activity_kind_counts(
    db: Db, bounds: list[tuple[str, str]], kinds: tuple[str, ...], where: Where
) -> dict[tuple[int, str], int]:
    """Activities per (bucket index, kind) for [start, end) buckets: one count per pair,
    each a range of the (kind, occurred_at) index."""
    sql = f"""SELECT count(*) FROM activities a
              WHERE a.kind = ? AND a.occurred_at >= ? AND a.occurred_at < ? AND ({where[0]})"""
    out: dict[tuple[int, str], int] = {}
    for i, (start, end) in enumerate(bounds):
        for kind in kinds:
            n = db.conn.execute(sql, [kind, start, end, *where[1]]).fetchone()[0]
            if n:
                out[(i, kind)] = n
    return out


def stages_of(db: Db, pipeline_id: int) -> list[dict]:
    return fetch_all(
        db,
        "SELECT id, name, position, probability FROM stages WHERE pipeline_id = ?"
        " ORDER BY position, id",
        (pipeline_id,),
    )


# -- service -------------------------------------------------------------------

TICKET_GROUPS = {
    "priority": "t.priority",
    "assignee": "(SELECT xu.name FROM users xu WHERE xu.id = t.assignee_id)",
    "channel": "t.channel",
    "type": "t.type",
}


def open_tickets(db: Db, group: str, where: Where) -> list[dict]:
    """Tickets not yet resolved or closed: their group and when they were opened."""
    return fetch_all(
        db,
        f"""SELECT {TICKET_GROUPS[group]} AS grp, t.created_at FROM tickets t
            WHERE t.status IN ('new', 'open', 'pending') AND ({where[0]})""",
        where[1],
    )


def tickets_created(db: Db, group: str, where: Where, created: Where) -> list[dict]:
    """Tickets opened within the period with their service times and rating."""
    return fetch_all(
        db,
        f"""SELECT {TICKET_GROUPS[group]} AS grp, t.created_at, t.due_at, t.first_response_at,
                   t.resolved_at, t.satisfaction
            FROM tickets t WHERE {created[0]} AND ({where[0]})""",
        [*created[1], *where[1]],
    )


# -- customers -----------------------------------------------------------------


_QUIET = """FROM contacts c
    WHERE c.activity_count + c.order_count >= ? AND c.touch_gap_days > 0
      AND ? - c.touch_last_jd > ? * c.touch_gap_days AND ({where})"""


def quiet_customers(
    db: Db, where: Where, now_jd: float, factor: float, min_touches: int, *,
    limit: int | None = None, unclaimed_by: int | None = None, mine: int | None = None,
) -> list[dict]:  # fmt: skip
    """Contacts quiet for longer than ``factor`` times their usual gap between touches
    (orders and interactions), from the summary columns alone (``touch_last_jd``,
    ``touch_gap_days``: kept by storage.summaries), most value at risk first (per
    currency), then the most overdue. ``unclaimed_by``: leave out those already reported
    to that user as at-risk alerts for this same last touch."""
    claim = ""
    params: list = [min_touches, now_jd, factor, *where[1]]
    if unclaimed_by is not None:
        claim = (" AND NOT EXISTS (SELECT 1 FROM reminder_claims r WHERE r.item_kind = 'alert:at-risk'"
                 " AND r.item_id = c.id AND r.recipient_id = ? AND r.due_at = c.touch_last_at)")  # fmt: skip
        params.append(unclaimed_by)
    if mine is not None:  # the recipient's own customers, and those nobody owns
        claim += " AND (c.owner_id IS NULL OR c.owner_id = ?)"
        params.append(mine)
    params += [now_jd, -1 if limit is None else limit]
    return fetch_all(
        db,
        f"""SELECT c.id, c.name, c.consent, c.owner_id, c.spend_minor, c.spend_currency,
                   c.activity_count + c.order_count AS touches, c.touch_last_at,
                   c.touch_last_jd, c.touch_gap_days AS gap_days,
                   (SELECT u.name FROM users u WHERE u.id = c.owner_id) AS owner
            {_QUIET.format(where=where[0])}{claim}
            ORDER BY c.spend_currency IS NULL, c.spend_currency, c.spend_minor DESC,
                     (? - c.touch_last_jd) / c.touch_gap_days DESC, c.id
            LIMIT ?""",
        params,
    )


def quiet_totals(
    db: Db, where: Where, now_jd: float, factor: float, min_touches: int
) -> list[tuple[str | None, int, int | None]]:
    """(currency, customers, value at risk) over every quiet customer."""
    return db.conn.execute(
        f"""SELECT c.spend_currency, count(*), sum(c.spend_minor)
            {_QUIET.format(where=where[0])}
            GROUP BY c.spend_currency ORDER BY c.spend_currency IS NULL, c.spend_currency""",
        [min_touches, now_jd, factor, *where[1]],
    ).fetchall()


def open_work_of(db: Db, contact_ids: list[int]) -> dict[int, dict]:
    """Per contact: the oldest open ticket and the biggest open deal (ids), and whether
    it has a deliverable email and a phone."""
    import json

    ids = json.dumps(contact_ids)
    out: dict[int, dict] = {i: {"ticket": None, "deal": None, "email": False, "phone": False}
                            for i in contact_ids}  # fmt: skip
    for cid, tid in db.conn.execute(
        """SELECT t.contact_id, min(t.id) FROM tickets t
           WHERE t.contact_id IN (SELECT value FROM json_each(?))
             AND t.status IN ('new', 'open', 'pending') GROUP BY t.contact_id""",
        (ids,),
    ):
        out[cid]["ticket"] = tid
    for cid, did in db.conn.execute(
        """SELECT d.contact_id, d.id FROM deals d
           WHERE d.contact_id IN (SELECT value FROM json_each(?)) AND d.status = 'open'
           ORDER BY d.contact_id, d.amount_minor IS NULL, d.amount_minor, d.id""",
        (ids,),
    ):
        out[cid]["deal"] = did  # the last one per contact wins: the biggest
    for (cid,) in db.conn.execute(
        "SELECT DISTINCT contact_id FROM emails WHERE contact_id IN (SELECT value FROM json_each(?))"
        " AND status = 'ok'",
        (ids,),
    ):
        out[cid]["email"] = True
    for (cid,) in db.conn.execute(
        "SELECT DISTINCT contact_id FROM phones WHERE contact_id IN (SELECT value FROM json_each(?))",
        (ids,),
    ):
        out[cid]["phone"] = True
    return out


# -- team ----------------------------------------------------------------------


def team_members(db: Db, where: Where) -> list[dict]:
    return fetch_all(
        db,
        f"""SELECT u.id, u.name, (SELECT t.name FROM teams t WHERE t.id = u.team_id) AS team
            FROM users u WHERE ({where[0]}) ORDER BY u.name COLLATE NOCASE""",
        where[1],
    )


def team_figures(db: Db, start: str, end: str, now: str) -> dict[str, list[tuple]]:
    """Per user id, within [start, end): activities logged, deals closed (status,
    currency, total), tickets resolved with their response times; and now: open
    follow-ups and tickets assigned, and how many of them are overdue."""
    q = db.conn.execute
    return {
        "activities": q(
            "SELECT actor_id, count(*) FROM activities WHERE occurred_at >= ? AND occurred_at < ?"
            " AND actor_id IS NOT NULL GROUP BY actor_id",
            (start, end),
        ).fetchall(),
        "deals": q(
            "SELECT owner_id, status, currency, count(*), sum(amount_minor) FROM deals"
            " WHERE status IN ('won', 'lost') AND closed_at >= ? AND closed_at < ?"
            " AND owner_id IS NOT NULL GROUP BY owner_id, status, currency",
            (start, end),
        ).fetchall(),
        "resolved": q(
            "SELECT assignee_id, created_at, first_response_at FROM tickets"
            " WHERE resolved_at >= ? AND resolved_at < ? AND assignee_id IS NOT NULL",
            (start, end),
        ).fetchall(),
        "followups": q(
            "SELECT assignee_id, count(*), sum(due_at < ?) FROM followups WHERE status = 'open'"
            " AND assignee_id IS NOT NULL GROUP BY assignee_id",
            (now,),
        ).fetchall(),
        "tickets": q(
            "SELECT assignee_id, count(*),"
            " sum(first_response_at IS NULL AND due_at IS NOT NULL AND due_at < ?) FROM tickets"
            " WHERE status IN ('new', 'open', 'pending') AND assignee_id IS NOT NULL"
            " GROUP BY assignee_id",
            (now,),
        ).fetchall(),
    }
