"""SQL for ``crm doctor``: the data-quality checks, each a count and its first rows.

Every check reads only. Most return ``(count, rows)``: the number of findings and the
first ``limit`` of them (no rows query at all for ``limit`` 0), so a check with 40,000
findings costs one count and one short read. The stale-deal, overdue and past-due
queries are those of ``storage.alerts`` without its claims: a lint reports the state
each time it runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from crm_cli.storage.db import Db, fetch_all


def _counted(db: Db, sql: str, params: list, order: str, limit: int) -> tuple[int, list[dict]]:
    """The number of rows ``sql`` selects and the first ``limit`` of them in ``order``."""
    n = db.conn.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0]
    if not n or limit <= 0:
        return n, []
    return n, fetch_all(db, f"{sql} ORDER BY {order} LIMIT ?", [*params, limit])


# ---------------------------------------------------------------- emails


def deliverable_emails(db: Db) -> Iterator[tuple[int, int, str]]:
    """(id, contact_id, value) of every address still marked deliverable (ok or deferred)."""
    return db.conn.execute(
        "SELECT id, contact_id, value FROM emails WHERE status IN ('ok', 'deferred') ORDER BY id"
    )


def contacts_brief(db: Db, ids: list[int]) -> dict[int, dict]:
    """Name, consent and country of these contacts, by id."""
    if not ids:
        return {}
    rows = fetch_all(
        db,
        "SELECT id, name, consent, country FROM contacts"
        " WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(set(ids))),),
    )
    return {r["id"]: r for r in rows}


_REPORTS = """
  SELECT lower(r.email) AS addr,
         max(CASE m.kind WHEN 'bounce' THEN coalesce(m.sent_at, m.created_at) END) AS bounced_at,
         max(CASE m.kind WHEN 'complaint' THEN coalesce(m.sent_at, m.created_at) END)
           AS complained_at,
         sum(m.kind = 'deferral') AS deferrals,
         max(CASE m.kind WHEN 'deferral' THEN coalesce(m.sent_at, m.created_at) END)
           AS deferred_at
  FROM mail_messages m JOIN campaign_recipients r ON r.id = m.recipient_id
  WHERE m.kind IN ('bounce', 'complaint', 'deferral') AND r.email IS NOT NULL
  GROUP BY lower(r.email)"""


def reported_but_deliverable(db: Db) -> list[dict]:
    """Addresses marked ok or deferred whose imported hard bounce or complaint (matched
    through the campaign message it reports on) is newer than their status."""
    return fetch_all(
        db,
        f"""WITH rep AS ({_REPORTS})
        SELECT e.id, e.contact_id, e.value, e.status, e.status_at, rep.bounced_at,
               rep.complained_at, c.name, c.consent
        FROM rep JOIN emails e ON e.value = rep.addr JOIN contacts c ON c.id = e.contact_id
        WHERE e.status IN ('ok', 'deferred')
          AND max(coalesce(rep.bounced_at, ''), coalesce(rep.complained_at, ''))
              > coalesce(e.status_at, '')
        ORDER BY max(coalesce(rep.bounced_at, ''), coalesce(rep.complained_at, '')) DESC, e.id""",
    )


def often_deferred(db: Db, times: int) -> list[dict]:
    """Addresses marked ok or deferred with at least ``times`` imported deferrals (soft
    bounces matched through the campaign message they report on), most deferred first."""
    return fetch_all(
        db,
        f"""WITH rep AS ({_REPORTS})
        SELECT e.id, e.contact_id, e.value, e.status, e.status_reason, rep.deferrals,
               rep.deferred_at, c.name
        FROM rep JOIN emails e ON e.value = rep.addr JOIN contacts c ON c.id = e.contact_id
        WHERE e.status IN ('ok', 'deferred') AND rep.deferrals >= ?
        ORDER BY rep.deferrals DESC, e.id""",
        (times,),
    )


# ---------------------------------------------------------------- phones


def phone_suspects(db: Db) -> list[tuple]:
    """(id, contact_id, org_id, value, raw, label) of phones not stored in E.164 form, and
    of those stored exactly as written (compact '+…' input was never reformatted, so only
    phonenumbers can tell whether it is valid)."""
    return db.conn.execute(
        """SELECT id, contact_id, org_id, value, raw, label FROM phones
           WHERE value = raw
              OR NOT (value GLOB '+[1-9]*' AND substr(value, 2) NOT GLOB '*[^0-9]*'
                      AND length(value) BETWEEN 4 AND 16)
           ORDER BY id"""
    ).fetchall()


def orgs_brief(db: Db, ids: list[int]) -> dict[int, dict]:
    """Name and country of these organizations, by id."""
    if not ids:
        return {}
    rows = fetch_all(
        db,
        "SELECT id, name, country FROM orgs WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(set(ids))),),
    )
    return {r["id"]: r for r in rows}


# ---------------------------------------------------------------- consent


def unsent_email_campaigns(db: Db) -> list[dict]:
    """Email campaigns not yet done that have a segment: drafts (whose list is the
    segment now) and sends under way (whose list was frozen)."""
    return fetch_all(
        db,
        """SELECT k.id, k.name, k.status, k.frozen_at, k.segment_id, s.name AS segment
           FROM campaigns k JOIN segments s ON s.id = k.segment_id
           WHERE k.channel = 'email' AND k.status != 'done' ORDER BY k.id""",
    )


def pending_recipients(db: Db, campaign_id: int) -> list[int]:
    """Contacts of a frozen campaign list still waiting for their message."""
    return [
        r[0]
        for r in db.conn.execute(
            "SELECT contact_id FROM campaign_recipients WHERE campaign_id = ?"
            " AND (state = 'pending' OR (state = 'failed' AND error_kind = 'temporary'))"
            " ORDER BY contact_id",
            (campaign_id,),
        )
    ]


def consent_unknown(db: Db, ids: list[int]) -> list[int]:
    """Of these contacts, those whose consent is unknown, in id order."""
    if not ids:
        return []
    return [
        r[0]
        for r in db.conn.execute(
            "SELECT id FROM contacts WHERE consent = 'unknown'"
            " AND id IN (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(ids),),
        )
    ]


# ---------------------------------------------------------------- orphans


def partyless_deals(db: Db, limit: int) -> tuple[int, list[dict]]:
    """Deals linked to neither a contact nor an organization."""
    sql = """SELECT d.id, d.title, d.status, s.name AS stage FROM deals d
             JOIN stages s ON s.id = d.stage_id
             WHERE d.contact_id IS NULL AND d.org_id IS NULL"""
    return _counted(db, sql, [], "d.id", limit)


def deal_main_participant(db: Db, deal_id: int) -> int | None:
    """The contact who took part in most of a deal's activities (ties: the lowest id)."""
    row = db.conn.execute(
        """SELECT p.contact_id FROM activities a
           JOIN activity_participants p ON p.activity_id = a.id
           WHERE a.deal_id = ? GROUP BY p.contact_id ORDER BY count(*) DESC, p.contact_id
           LIMIT 1""",
        (deal_id,),
    ).fetchone()
    return row[0] if row else None


def unattached_activities(db: Db, limit: int) -> tuple[int, list[dict]]:
    """Activities attached to nothing: no participant, organization, deal or ticket.

    One pass over the table in id order (the unary ``+`` keeps SQLite from walking the
    sparse ``ticket_id IS NULL`` index instead: 0.5 s against 12 s at 1,000,000
    activities); the few ids found are then read in full."""
    ids = [
        r[0]
        for r in db.conn.execute(
            """SELECT a.id FROM activities a
               WHERE +a.org_id IS NULL AND +a.deal_id IS NULL AND +a.ticket_id IS NULL
                 AND NOT EXISTS (SELECT 1 FROM activity_participants p
                                 WHERE p.activity_id = a.id)"""
        )
    ]
    if not ids or limit <= 0:
        return len(ids), []
    rows = fetch_all(
        db,
        "SELECT id, kind, subject, occurred_at FROM activities"
        " WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
        (json.dumps(sorted(ids)[:limit]),),
    )
    return len(ids), rows


def dangling_followups(db: Db, limit: int) -> tuple[int, list[dict]]:
    """Follow-ups whose contact, organization, deal or ticket no longer exists (possible
    only in data written with foreign keys off: an old import, a hand edit)."""
    sql = """SELECT f.id, f.text, f.status,
                    CASE WHEN f.contact_id IS NOT NULL AND c.id IS NULL THEN f.contact_id END
                      AS contact_gone,
                    CASE WHEN f.org_id IS NOT NULL AND o.id IS NULL THEN f.org_id END AS org_gone,
                    CASE WHEN f.deal_id IS NOT NULL AND d.id IS NULL THEN f.deal_id END
                      AS deal_gone,
                    CASE WHEN f.ticket_id IS NOT NULL AND t.id IS NULL THEN f.ticket_id END
                      AS ticket_gone
             FROM followups f
             LEFT JOIN contacts c ON c.id = f.contact_id
             LEFT JOIN orgs o ON o.id = f.org_id
             LEFT JOIN deals d ON d.id = f.deal_id
             LEFT JOIN tickets t ON t.id = f.ticket_id
             WHERE (f.contact_id IS NOT NULL AND c.id IS NULL)
                OR (f.org_id IS NOT NULL AND o.id IS NULL)
                OR (f.deal_id IS NOT NULL AND d.id IS NULL)
                OR (f.ticket_id IS NOT NULL AND t.id IS NULL)"""
    return _counted(db, sql, [], "f.id", limit)


# ---------------------------------------------------------------- duplicates


def contact_count(db: Db) -> int:
    return db.conn.execute("SELECT count(*) FROM contacts").fetchone()[0]


def recent_contact_records(db: Db, n: int | None) -> list[dict]:
    """The duplicate finder's records of the ``n`` most recently changed contacts (all
    when ``n`` is None)."""
    from crm_cli.storage import dupes

    if n is None:
        return dupes.contact_records(db)
    return dupes.contact_records(
        db, "c.id IN (SELECT id FROM contacts ORDER BY updated_at DESC, id DESC LIMIT ?)", (n,)
    )


def contact_names(db: Db, ids: list[int]) -> dict[int, str]:
    from crm_cli.storage import dupes

    return dupes.names(db, "contacts", ids)


# ---------------------------------------------------------------- stale, overdue, tickets


def stale_deals(
    db: Db, default_before: str, stage_before: dict[str, str], limit: int
) -> tuple[int, list[dict]]:
    """``crm alerts``' stale deals, without claims: (how many, the first ``limit``)."""
    from crm_cli.storage.alerts import STALE_ORDER, stale_deals_sql

    sql, params = stale_deals_sql(default_before, stage_before)
    return _counted(db, sql, params, STALE_ORDER, limit)


def overdue_followups(db: Db, due_before: str, limit: int) -> tuple[int, list[dict]]:
    """Open follow-ups due before ``due_before``, oldest first."""
    sql = "SELECT f.id, f.text, f.due_at FROM followups f WHERE f.status = 'open' AND f.due_at < ?"
    return _counted(db, sql, [due_before], "f.due_at, f.id", limit)


def unanswered_tickets(db: Db, now: str, limit: int) -> tuple[int, list[dict]]:
    """Active tickets past their first-response due time with no response yet, oldest first."""
    sql = """SELECT t.id, t.subject, t.priority, t.status, t.due_at FROM tickets t
             WHERE t.status IN ('new', 'open', 'pending') AND t.first_response_at IS NULL
               AND t.due_at IS NOT NULL AND t.due_at < ?"""
    return _counted(db, sql, [now], "t.due_at, t.id", limit)


# ---------------------------------------------------------------- empty organizations


def unreferenced_orgs(db: Db, limit: int) -> tuple[int, list[dict]]:
    """Organizations no other record refers to (no people, deals, activities, tickets,
    follow-ups, nor any table a later migration links to them); their own phones and
    tags do not count. Read from the schema, as ``storage.graph`` does."""
    from crm_cli.storage import graph

    owned = set(graph.OWNED.get("orgs", ()))
    refs = [(t, c) for t, c in graph.foreign_keys(db).get("orgs", []) if (t, c) not in owned]
    cond = "".join(f" AND NOT EXISTS (SELECT 1 FROM {t} x WHERE x.{c} = o.id)" for t, c in refs)
    sql = f"SELECT o.id, o.name, o.created_at FROM orgs o WHERE 1{cond}"
    return _counted(db, sql, [], "o.id", limit)
