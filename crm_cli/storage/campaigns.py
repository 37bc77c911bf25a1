"""SQL for campaigns, their frozen recipient lists (the send ledger) and their runs."""

from __future__ import annotations

import json

from crm_cli.storage.db import Db, fetch_all, fetch_one

_CAMPAIGN = """
SELECT k.*, s.name AS segment, u.name AS owner
FROM campaigns k
LEFT JOIN segments s ON s.id = k.segment_id
LEFT JOIN users u ON u.id = k.owner_id
"""


def get(db: Db, campaign_id: int) -> dict | None:
    return fetch_one(db, _CAMPAIGN + " WHERE k.id = ?", (campaign_id,))


def id_by_name(db: Db, name: str) -> int | None:
    row = db.conn.execute("SELECT id FROM campaigns WHERE name = ?", (name,)).fetchone()
    return row[0] if row else None


def list_all(db: Db) -> list[dict]:
    return fetch_all(db, _CAMPAIGN + " ORDER BY k.id")


def state_counts(db: Db, campaign_id: int | None = None) -> dict[int, dict[str, int]]:
    """Recipients per campaign and state; temporary failures count as 'retry'."""
    where, params = ("WHERE campaign_id = ?", (campaign_id,)) if campaign_id else ("", ())
    out: dict[int, dict[str, int]] = {}
    for cid, state, n in db.conn.execute(
        "SELECT campaign_id, CASE WHEN state = 'failed' AND error_kind = 'temporary'"
        " THEN 'retry' ELSE state END AS st, count(*)"
        f" FROM campaign_recipients {where} GROUP BY campaign_id, st",
        params,
    ):
        out.setdefault(cid, {})[state] = n
    return out


def skip_reasons(db: Db, campaign_id: int) -> dict[str, int]:
    return {
        r[0]: r[1]
        for r in db.conn.execute(
            "SELECT skip_reason, count(*) FROM campaign_recipients"
            " WHERE campaign_id = ? AND state = 'skipped' GROUP BY skip_reason ORDER BY 2 DESC, 1",
            (campaign_id,),
        )
    }


def used(db: Db, campaign_id: int) -> str | None:
    """What already reached people or recorded results for the campaign (a send log,
    imported statistics or deliveries, coupons, a drawn hold-out), or None."""
    for table, what in (("campaign_recipients", "a send log"), ("campaign_stats", "results"),
                        ("campaign_deliveries", "deliveries"), ("coupons", "coupons"),
                        ("campaign_groups", "a drawn hold-out")):  # fmt: skip
        if db.conn.execute(
            f"SELECT 1 FROM {table} WHERE campaign_id = ? LIMIT 1", (campaign_id,)
        ).fetchone():
            return what
    return None


def reachable(db: Db, contact_ids: list[int]) -> list[dict]:
    """Per contact: consent, and its addresses best first (primary, then oldest),
    each with its status; postal address and phones for letters and calls."""
    rows = fetch_all(
        db,
        """SELECT c.id, c.name, c.consent, c.owner_id, c.street, c.city, c.postal_code,
                  c.country,
                  (SELECT json_group_array(json_array(e.value, e.status)) FROM
                     (SELECT value, status FROM emails e WHERE e.contact_id = c.id
                      ORDER BY is_primary DESC, id) e) AS emails,
                  (SELECT count(*) FROM phones p WHERE p.contact_id = c.id) AS phones
           FROM contacts c WHERE c.id IN (SELECT value FROM json_each(?)) ORDER BY c.id""",
        (json.dumps(contact_ids),),
    )
    for r in rows:
        r["emails"] = [tuple(e) for e in json.loads(r["emails"] or "[]")]
    return rows


def address_state(db: Db, contact_id: int, email: str) -> tuple[str | None, str | None]:
    """(the contact's consent, the worst status of that address on the contact) right now."""
    row = db.conn.execute(
        """SELECT c.consent,
                  (SELECT max(CASE e.status WHEN 'complained' THEN 3 WHEN 'bounced' THEN 2
                                            WHEN 'deferred' THEN 1 ELSE 0 END)
                   FROM emails e WHERE e.contact_id = c.id AND e.value = ? COLLATE NOCASE)
           FROM contacts c WHERE c.id = ?""",
        (email, contact_id),
    ).fetchone()
    if row is None:
        return None, None
    status = {3: "complained", 2: "bounced", 1: "deferred", 0: "ok"}.get(row[1])
    return row[0], status


def queue(db: Db, campaign_id: int, after_id: int, limit: int) -> list[dict]:
    """The next recipients to send to, in id order: pending, or failed for a temporary reason."""
    return fetch_all(
        db,
        """SELECT * FROM campaign_recipients
           WHERE campaign_id = ? AND id > ?
             AND (state = 'pending' OR (state = 'failed' AND error_kind = 'temporary'))
           ORDER BY id LIMIT ?""",
        (campaign_id, after_id, limit),
    )


def recipients(db: Db, campaign_id: int, states: tuple[str, ...], limit: int | None = None):
    marks = ", ".join("?" * len(states))
    return fetch_all(
        db,
        f"""SELECT r.*, c.name AS contact FROM campaign_recipients r
            JOIN contacts c ON c.id = r.contact_id
            WHERE r.campaign_id = ? AND r.state IN ({marks}) ORDER BY r.id
            {"LIMIT ?" if limit is not None else ""}""",
        (campaign_id, *states, *((limit,) if limit is not None else ())),
    )


def recipient(db: Db, campaign_id: int, contact_id: int) -> dict | None:
    return fetch_one(
        db,
        "SELECT * FROM campaign_recipients WHERE campaign_id = ? AND contact_id = ?",
        (campaign_id, contact_id),
    )


def by_token(db: Db, token: str) -> dict | None:
    return fetch_one(
        db,
        """SELECT r.*, k.name AS campaign FROM campaign_recipients r
           JOIN campaigns k ON k.id = r.campaign_id WHERE r.token = ?""",
        (token,),
    )


def runs(db: Db, campaign_id: int, status: str | None = None) -> list[dict]:
    if status is None:
        return fetch_all(
            db, "SELECT * FROM campaign_runs WHERE campaign_id = ? ORDER BY id", (campaign_id,)
        )
    return fetch_all(
        db,
        "SELECT * FROM campaign_runs WHERE campaign_id = ? AND status = ? ORDER BY id",
        (campaign_id, status),
    )


def run_counts(db: Db, run_id: int) -> tuple[int, int]:
    """(sent, failed) by one run."""
    row = db.conn.execute(
        "SELECT coalesce(sum(state = 'sent'), 0), coalesce(sum(state = 'failed'), 0)"
        " FROM campaign_recipients WHERE run_id = ?",
        (run_id,),
    ).fetchone()
    return row[0], row[1]


def audience_rows(db: Db, contact_ids: list[int]) -> list[dict]:
    """Per contact, in id order: name, consent, the best deliverable email, the first phone
    and the postal address -- what an outside channel needs to reach them."""
    return fetch_all(
        db,
        """SELECT c.id AS contact_id, c.name, c.consent,
                  (SELECT e.value FROM emails e WHERE e.contact_id = c.id
                     AND e.status IN ('ok', 'deferred') ORDER BY e.is_primary DESC, e.id
                   LIMIT 1) AS email,
                  (SELECT p.value FROM phones p WHERE p.contact_id = c.id
                   ORDER BY p.is_primary DESC, p.id LIMIT 1) AS phone,
                  c.street, c.postal_code, c.city, c.country
           FROM contacts c WHERE c.id IN (SELECT value FROM json_each(?)) ORDER BY c.id""",
        (json.dumps(contact_ids),),
    )


def frozen_ids(db: Db, campaign_id: int) -> list[int]:
    """The contacts of a campaign's frozen list, in id order."""
    return [
        r[0]
        for r in db.conn.execute(
            "SELECT contact_id FROM campaign_recipients WHERE campaign_id = ? ORDER BY contact_id",
            (campaign_id,),
        )
    ]


def deliveries(db: Db, campaign_id: int, channel: str | None, status: str | None) -> list[dict]:
    """A campaign's imported deliveries with who they went to, oldest first."""
    return fetch_all(
        db,
        """SELECT d.id, d.contact_id, c.name, d.channel, d.status, d.at, d.count,
                  (SELECT e.value FROM emails e WHERE e.contact_id = c.id
                   ORDER BY e.is_primary DESC, e.id LIMIT 1) AS email,
                  c.street, c.postal_code, c.city, c.country
           FROM campaign_deliveries d JOIN contacts c ON c.id = d.contact_id
           WHERE d.campaign_id = ? AND (? IS NULL OR d.channel = ?)
             AND (? IS NULL OR d.status = ?)
           ORDER BY d.at, d.id""",
        (campaign_id, channel, channel, status, status),
    )
