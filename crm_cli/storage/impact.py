"""SQL for campaign impact (``crm report impact``): per-customer events around a date and
RFM inputs at it."""

from __future__ import annotations

from crm_cli.storage.db import Db


def paid_orders(db: Db, first_day: str, end_day: str) -> list[tuple[int, str, int, str]]:
    """(contact, order day, total, currency) of paid orders with a contact in [first, end)."""
    return db.conn.execute(
        "SELECT contact_id, order_date, total_minor, currency FROM orders"
        " WHERE status = 'paid' AND contact_id IS NOT NULL"
        " AND order_date >= ? AND order_date < ?",
        (first_day, end_day),
    ).fetchall()


def visits(db: Db, start: str, end: str) -> list[tuple[int, str]]:
    """(contact, time) of web visits of known contacts in [start, end) (UTC text)."""
    return db.conn.execute(
        "SELECT contact_id, started_at FROM web_visits"
        " WHERE contact_id IS NOT NULL AND started_at >= ? AND started_at < ?",
        (start, end),
    ).fetchall()


def order_history(db: Db, before_day: str, currency: str | None) -> list[tuple[int, int, str, int]]:
    """Per contact with paid orders before the day: (contact, orders, last order day,
    spent in ``currency``) -- the inputs of an RFM score at that day."""
    return db.conn.execute(
        "SELECT contact_id, count(*), max(order_date),"
        " coalesce(sum(CASE WHEN currency = ? THEN total_minor END), 0) FROM orders"
        " WHERE status = 'paid' AND contact_id IS NOT NULL AND order_date < ?"
        " GROUP BY contact_id",
        (currency, before_day),
    ).fetchall()


def contact_ids(db: Db) -> list[int]:
    """Every contact, in id order."""
    return [r[0] for r in db.conn.execute("SELECT id FROM contacts ORDER BY id")]


def main_currency(db: Db, first_day: str, end_day: str) -> str | None:
    row = db.conn.execute(
        "SELECT currency FROM orders WHERE status = 'paid' AND order_date >= ?"
        " AND order_date < ? GROUP BY currency ORDER BY count(*) DESC, currency LIMIT 1",
        (first_day, end_day),
    ).fetchone()
    return row[0] if row else None


def created_since(db: Db, instant: str) -> set[int]:
    """Contacts created at or after the instant (UTC text)."""
    return {
        r[0] for r in db.conn.execute("SELECT id FROM contacts WHERE created_at >= ?", (instant,))
    }
