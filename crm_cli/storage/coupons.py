"""SQL for coupons: codes issued to campaign recipients and the orders that used them."""

from __future__ import annotations

import json

from crm_cli.storage.db import Db, fetch_all, fetch_one

_SELECT = """
SELECT k.id, k.code, k.campaign_id, g.name AS campaign, k.contact_id, c.name,
       (SELECT e.value FROM emails e WHERE e.contact_id = k.contact_id
        ORDER BY e.is_primary DESC, e.id LIMIT 1) AS email,
       c.street, c.city, c.region, c.postal_code, c.country,
       k.discount_pct, k.discount_minor, k.currency, k.issued_at
FROM coupons k
JOIN campaigns g ON g.id = k.campaign_id
JOIN contacts c ON c.id = k.contact_id
"""


def by_campaign(db: Db, campaign_id: int) -> list[dict]:
    """The campaign's coupons in issue order."""
    return fetch_all(db, f"{_SELECT} WHERE k.campaign_id = ? ORDER BY k.id", (campaign_id,))


def by_code(db: Db, code: str) -> dict | None:
    """The coupon with this code, compared case-insensitively like the UNIQUE index."""
    return fetch_one(db, f"{_SELECT} WHERE k.code = ? COLLATE NOCASE", (code,))


def contacts_with_coupon(db: Db, campaign_id: int) -> set[int]:
    return {
        r[0]
        for r in db.conn.execute(
            "SELECT contact_id FROM coupons WHERE campaign_id = ?", (campaign_id,)
        )
    }


def code_taken(db: Db, code: str) -> bool:
    row = db.conn.execute("SELECT 1 FROM coupons WHERE code = ? COLLATE NOCASE", (code,))
    return row.fetchone() is not None


def consent_of(db: Db, ids: list[int]) -> dict[int, str]:
    return {
        r[0]: r[1]
        for r in db.conn.execute(
            "SELECT id, consent FROM contacts WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),),
        )
    }


def orders_of(db: Db, code: str) -> list[dict]:
    """Orders that used this code, oldest first."""
    return fetch_all(
        db,
        """SELECT o.id, o.number, o.order_date, o.status, o.contact_id, c.name AS contact,
                  o.total_minor, o.discount_minor, o.currency
           FROM orders o LEFT JOIN contacts c ON c.id = o.contact_id
           WHERE o.coupon_code = ? COLLATE NOCASE ORDER BY o.order_date, o.id""",
        (code,),
    )


def campaign_orders(db: Db, ids: list[int]) -> list[dict]:
    """Orders that used a coupon of these campaigns, with the coupon's contact."""
    return fetch_all(
        db,
        """SELECT k.campaign_id, k.code, k.contact_id AS coupon_contact_id,
                  o.id AS order_id, o.number, o.order_date, o.status,
                  o.contact_id, c.name AS contact, o.total_minor, o.discount_minor, o.currency
           FROM coupons k
           JOIN orders o ON o.coupon_code = k.code COLLATE NOCASE
           LEFT JOIN contacts c ON c.id = o.contact_id
           WHERE k.campaign_id IN (SELECT value FROM json_each(?))
           ORDER BY o.order_date, o.id""",
        (json.dumps(ids),),
    )


def issued_counts(db: Db, ids: list[int]) -> dict[int, int]:
    return {
        r[0]: r[1]
        for r in db.conn.execute(
            """SELECT campaign_id, count(*) FROM coupons
               WHERE campaign_id IN (SELECT value FROM json_each(?)) GROUP BY campaign_id""",
            (json.dumps(ids),),
        )
    }
