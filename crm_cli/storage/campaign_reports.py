"""SQL for campaign results: the ledger's counts, mail outcomes matched to campaign
messages (bounces, complaints, replies), opt-outs after the send, conversions (orders
and won deals by recipients within a window after their message), ad statistics."""

from __future__ import annotations

import json

from crm_cli.storage.db import Db


def _ids(ids: list[int]) -> str:
    return json.dumps(list(ids))


_IN = "IN (SELECT value FROM json_each(?))"


def ledger(db: Db, ids: list[int]) -> dict[int, dict[str, int]]:
    """Per campaign: planned, sent, skipped, pending, sending, rejected (5xx), retry (4xx)."""
    out: dict[int, dict[str, int]] = {}
    for row in db.conn.execute(
        f"""SELECT campaign_id, count(*), sum(state = 'sent'), sum(state = 'skipped'),
                   sum(state = 'pending'), sum(state = 'sending'),
                   sum(state = 'failed' AND error_kind = 'permanent'),
                   sum(state = 'failed' AND error_kind = 'temporary'),
                   min(sent_at)
            FROM campaign_recipients WHERE campaign_id {_IN} GROUP BY campaign_id""",
        (_ids(ids),),
    ):
        keys = ("planned", "sent", "skipped", "pending", "sending", "rejected", "retry")
        out[row[0]] = {k: v or 0 for k, v in zip(keys, row[1:8])}
        out[row[0]]["first_sent_at"] = row[8]
    return out


def skip_reasons(db: Db, ids: list[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for cid, reason, n in db.conn.execute(
        f"""SELECT campaign_id, skip_reason, count(*) FROM campaign_recipients
            WHERE campaign_id {_IN} AND state = 'skipped'
            GROUP BY campaign_id, skip_reason ORDER BY campaign_id, 3 DESC, 2""",
        (_ids(ids),),
    ):
        out.setdefault(cid, {})[reason or "other"] = n
    return out


def mail_outcomes(db: Db, ids: list[int]) -> dict[int, dict[str, int]]:
    """Per campaign, recipients with each kind of imported mail matched to their message:
    bounce, deferral, complaint, auto_reply, and reply (an incoming real message)."""
    out: dict[int, dict[str, int]] = {}
    for cid, kind, n in db.conn.execute(
        f"""SELECT r.campaign_id,
                   CASE WHEN m.kind = 'message' THEN
                        CASE WHEN m.direction = 'in' THEN 'reply' ELSE 'own' END
                        ELSE m.kind END AS k,
                   count(DISTINCT m.recipient_id)
            FROM mail_messages m JOIN campaign_recipients r ON r.id = m.recipient_id
            WHERE r.campaign_id {_IN} GROUP BY r.campaign_id, k""",
        (_ids(ids),),
    ):
        out.setdefault(cid, {})[kind] = n
    return out


def opted_out_after(db: Db, ids: list[int]) -> dict[int, int]:
    """Recipients who opted out (unsubscribe, complaint, by hand) after their message."""
    return dict(
        db.conn.execute(
            f"""SELECT r.campaign_id, count(*) FROM campaign_recipients r
                JOIN contacts c ON c.id = r.contact_id
                WHERE r.campaign_id {_IN} AND r.state = 'sent' AND c.consent = 'opted_out'
                  AND c.consent_at >= r.sent_at
                GROUP BY r.campaign_id""",
            (_ids(ids),),
        ).fetchall()
    )


def order_conversions(db: Db, ids: list[int], days: int) -> list[tuple[int, int, str, int]]:
    """(campaign, recipient, currency, total) of each paid order a recipient placed from
    the day of their message to ``days`` days after it."""
    return db.conn.execute(
        f"""SELECT r.campaign_id, r.id, o.currency, o.total_minor
            FROM campaign_recipients r
            JOIN orders o ON o.contact_id = r.contact_id AND o.status = 'paid'
             AND o.order_date >= substr(r.sent_at, 1, 10)
             AND o.order_date <= date(r.sent_at, ?)
            WHERE r.campaign_id {_IN} AND r.state = 'sent'""",
        (f"+{int(days)} days", _ids(ids)),
    ).fetchall()


def deal_conversions(db: Db, ids: list[int], days: int) -> list[tuple[int, int, str, int]]:
    """(campaign, recipient, currency, amount) of each deal of a recipient won from their
    message to ``days`` days after it."""
    return db.conn.execute(
        f"""SELECT r.campaign_id, r.id, d.currency, d.amount_minor
            FROM campaign_recipients r
            JOIN deals d ON d.contact_id = r.contact_id AND d.status = 'won'
             AND d.closed_at >= r.sent_at
             AND d.closed_at <= strftime('%Y-%m-%dT%H:%M:%SZ', r.sent_at, ?)
            WHERE r.campaign_id {_IN} AND r.state = 'sent'""",
        (f"+{int(days)} days", _ids(ids)),
    ).fetchall()


def ad_stats(db: Db, ids: list[int]) -> dict[int, dict]:
    """Per campaign: cost per currency, impressions, clicks, conversions (imported)."""
    out: dict[int, dict] = {}
    for cid, currency, cost, imp, clicks, conv in db.conn.execute(
        f"""SELECT campaign_id, currency, sum(cost_minor), sum(impressions), sum(clicks),
                   sum(conversions)
            FROM campaign_stats WHERE campaign_id {_IN}
            GROUP BY campaign_id, currency""",
        (_ids(ids),),
    ):
        s = out.setdefault(
            cid, {"cost": {}, "impressions": None, "clicks": None, "conversions": None}
        )
        if currency is not None and cost is not None:
            s["cost"][currency] = s["cost"].get(currency, 0) + cost
        for key, v in (("impressions", imp), ("clicks", clicks), ("conversions", conv)):
            if v is not None:
                s[key] = (s[key] or 0) + v
    return out


REACHED = ("delivered", "opened", "visited")  # imported deliveries that reached someone


def delivery_rows(db: Db, campaign_id: int) -> list[tuple[int, str, str, str, int]]:
    """(contact, channel, status, at, count) of every imported delivery, oldest first."""
    return db.conn.execute(
        "SELECT contact_id, channel, status, at, count FROM campaign_deliveries"
        " WHERE campaign_id = ? ORDER BY at, id",
        (campaign_id,),
    ).fetchall()


def first_reach(db: Db, campaign_id: int) -> dict[int, str]:
    """Each reached contact's first contact with the campaign: sent by crm (the ledger) or
    an imported delivery that reached them."""
    out: dict[int, str] = {}
    for cid, at in db.conn.execute(
        f"""SELECT contact_id, min(at) FROM (
                SELECT contact_id, sent_at AS at FROM campaign_recipients
                WHERE campaign_id = ? AND state = 'sent'
                UNION ALL
                SELECT contact_id, at FROM campaign_deliveries
                WHERE campaign_id = ? AND status IN {REACHED})
            GROUP BY contact_id""",
        (campaign_id, campaign_id),
    ):
        out[cid] = at
    return out


def sent_ids(db: Db, campaign_id: int) -> set[int]:
    return {
        r[0]
        for r in db.conn.execute(
            "SELECT contact_id FROM campaign_recipients WHERE campaign_id = ? AND state = 'sent'",
            (campaign_id,),
        )
    }


def replied_ids(db: Db, campaign_id: int) -> set[int]:
    """Recipients with a real reply (not an auto-reply) to their campaign message."""
    return {
        r[0]
        for r in db.conn.execute(
            """SELECT DISTINCT r.contact_id FROM mail_messages m
               JOIN campaign_recipients r ON r.id = m.recipient_id
               WHERE r.campaign_id = ? AND m.kind = 'message' AND m.direction = 'in'""",
            (campaign_id,),
        )
    }


def tickets_of(db: Db, contact_ids: list[int], start: str, end: str) -> list[tuple]:
    """(contact, type, created_at, resolved_at, satisfaction) of tickets of these contacts
    opened or resolved in [start, end)."""
    return db.conn.execute(
        f"""SELECT contact_id, type, created_at, resolved_at, satisfaction FROM tickets
            WHERE contact_id {_IN}
              AND ((created_at >= ? AND created_at < ?)
                   OR (resolved_at >= ? AND resolved_at < ?))""",
        (_ids(contact_ids), start, end, start, end),
    ).fetchall()


def campaign_visitors(db: Db, name: str) -> set[int]:
    """Contacts with a web visit tagged with the campaign (utm_campaign = its name)."""
    return {
        r[0]
        for r in db.conn.execute(
            "SELECT DISTINCT contact_id FROM web_visits"
            " WHERE utm_campaign = ? COLLATE NOCASE AND contact_id IS NOT NULL",
            (name,),
        )
    }
