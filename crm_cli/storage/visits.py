"""SQL for web visits (crm import visits) and the conversion report."""

from __future__ import annotations

from crm_cli.storage.db import Db, fetch_all


def contact_of_visitor(db: Db, visitor_id: str) -> int | None:
    row = db.conn.execute(
        "SELECT contact_id FROM web_visits WHERE visitor_id = ? AND contact_id IS NOT NULL"
        " ORDER BY started_at DESC, id DESC LIMIT 1",
        (visitor_id,),
    ).fetchone()
    return row[0] if row else None


def anonymous_visits(db: Db, visitor_id: str) -> list[dict]:
    """A visitor's visits not yet linked to a contact."""
    return fetch_all(
        db,
        "SELECT * FROM web_visits WHERE visitor_id = ? AND contact_id IS NULL ORDER BY started_at, id",
        (visitor_id,),
    )


def visits_in(db: Db, start: str, end: str, where: tuple[str, list]) -> list[dict]:
    """Every visit in [start, end) matching the filter (over ``web_visits v``), with the
    key of its visitor (contact, else visitor id)."""
    return fetch_all(
        db,
        f"""SELECT v.id, v.visitor_id, v.contact_id, v.started_at, v.landing_page, v.referrer,
                   v.utm_source, v.utm_medium, v.utm_campaign,
                   coalesce('c' || v.contact_id, 'v' || v.visitor_id, 'x' || v.id) AS who
            FROM web_visits v WHERE v.started_at >= ? AND v.started_at < ? AND ({where[0]})""",
        [start, end, *where[1]],
    )


def first_visits(db: Db, start: str, end: str, where: tuple[str, list]) -> list[dict]:
    """The contacts whose first visit (first touch) is in [start, end) and matches the
    filter: that visit's time, landing page and source."""
    return fetch_all(
        db,
        f"""SELECT v.contact_id, v.started_at, v.landing_page, v.referrer, v.utm_source,
                   v.utm_medium, v.utm_campaign
            FROM web_visits v
            WHERE v.started_at >= ? AND v.started_at < ? AND v.contact_id IS NOT NULL
              AND v.id = (SELECT w.id FROM web_visits w WHERE w.contact_id = v.contact_id
                          ORDER BY w.started_at, w.id LIMIT 1)
              AND ({where[0]})""",
        [start, end, *where[1]],
    )


def paid_orders_of_visitors(db: Db) -> list[dict]:
    """Paid orders of contacts who have visits, oldest first per contact."""
    return fetch_all(
        db,
        """SELECT o.contact_id, o.order_date, o.total_minor, o.currency FROM orders o
           WHERE o.status = 'paid'
             AND o.contact_id IN (SELECT DISTINCT contact_id FROM web_visits
                                  WHERE contact_id IS NOT NULL)
           ORDER BY o.contact_id, o.order_date, o.id""",
    )


def visit_times(db: Db, contact_ids: list[int]) -> list[tuple[int, str]]:
    """(contact id, visit time) of these contacts' visits."""
    import json

    return db.conn.execute(
        "SELECT contact_id, started_at FROM web_visits"
        " WHERE contact_id IN (SELECT value FROM json_each(?))",
        (json.dumps(contact_ids),),
    ).fetchall()
