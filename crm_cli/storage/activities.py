"""SQL for activities (the timeline of every channel) and their participants."""

from __future__ import annotations

import json

from crm_cli.storage.db import Db, fetch_all, fetch_one
from crm_cli.storage.filters import FieldSql

COLUMNS = ("kind", "direction", "subject", "body", "outcome", "duration_seconds", "occurred_at",
           "channel", "org_id", "deal_id", "ticket_id", "actor_id")  # fmt: skip

_SELECT = """
SELECT a.*, o.name AS org, d.title AS deal, u.name AS actor
FROM activities a
LEFT JOIN orgs o ON o.id = a.org_id
LEFT JOIN deals d ON d.id = a.deal_id
LEFT JOIN users u ON u.id = a.actor_id
"""

FIELDS: dict[str, FieldSql] = {
    "id": FieldSql("number", "a.id", doc="the activity's id"),
    "kind": FieldSql(
        "enum", "a.kind", doc="call, email, meeting, chat, visit, social, note, comment"
    ),
    "direction": FieldSql("enum", "a.direction", doc="in or out"),
    "subject": FieldSql("text", "a.subject", doc="subject line"),
    "body": FieldSql("text", "a.body", doc="body text"),
    "outcome": FieldSql("text", "a.outcome", doc="outcome (left voicemail, booked demo...)"),
    "channel": FieldSql("text", "a.channel", doc="channel details (whatsapp, linkedin, a number)"),
    "duration": FieldSql("number", "(a.duration_seconds / 60.0)", doc="duration in minutes"),
    "at": FieldSql("instant", "a.occurred_at", doc="when it happened"),
    "actor": FieldSql(
        "text", "(SELECT xu.name FROM users xu WHERE xu.id = a.actor_id)", doc="who logged it"
    ),
    "org": FieldSql(
        "text", "(SELECT xo.name FROM orgs xo WHERE xo.id = a.org_id)", doc="organization name"
    ),
    "deal": FieldSql("number", "a.deal_id", doc="deal id"),
    "ticket": FieldSql("number", "a.ticket_id", doc="ticket id"),
    "contact": FieldSql(
        "multi",
        "x.name",
        "EXISTS (SELECT 1 FROM activity_participants xp JOIN contacts x ON x.id = xp.contact_id"
        " WHERE xp.activity_id = a.id AND {cond})",
        doc="a participant's name",
    ),
}


def get(db: Db, activity_id: int) -> dict | None:
    return fetch_one(db, f"{_SELECT} WHERE a.id = ?", (activity_id,))


def participants_of(db: Db, ids: list[int]) -> dict[int, list[dict]]:
    """Participants (contact id and name) per activity id."""
    out: dict[int, list[dict]] = {i: [] for i in ids}
    if not ids:
        return out
    for r in fetch_all(
        db,
        """SELECT p.id AS row_id, p.activity_id, p.contact_id, c.name
           FROM activity_participants p JOIN contacts c ON c.id = p.contact_id
           WHERE p.activity_id IN (SELECT value FROM json_each(?))
           ORDER BY p.activity_id, p.id""",
        (json.dumps(ids),),
    ):
        out[r["activity_id"]].append(r)
    return out


_COLUMNS = "a.*, o.name AS org, d.title AS deal, u.name AS actor"
_JOINS = """LEFT JOIN orgs o ON o.id = a.org_id
LEFT JOIN deals d ON d.id = a.deal_id
LEFT JOIN users u ON u.id = a.actor_id"""


def timeline(
    db: Db,
    target: tuple[str, int] | None,
    where: str = "1",
    params: list | tuple = (),
    *,
    limit: int | None = None,
) -> list[dict]:
    """Activity rows on a record's timeline (contact, org, deal, ticket), newest first.

    A contact's timeline walks the participants index (contact_id, occurred_at,
    activity_id) backwards, so it is in order without a sort; an organization's adds
    its people's activities to those logged against it; ``None`` means every activity.
    """
    lim = -1 if limit is None else limit
    order = "ORDER BY a.occurred_at DESC, a.id DESC LIMIT ?"
    if target is None:
        sql = f"SELECT {_COLUMNS} FROM activities a {_JOINS} WHERE {where} {order}"
        return fetch_all(db, sql, [*params, lim])
    table, rid = target
    if table == "contacts":
        sql = f"""SELECT {_COLUMNS} FROM activity_participants p
                  JOIN activities a ON a.id = p.activity_id {_JOINS}
                  WHERE p.contact_id = ? AND {where}
                  ORDER BY p.occurred_at DESC, p.activity_id DESC LIMIT ?"""
        return fetch_all(db, sql, [rid, *params, lim])
    if table == "orgs":
        sql = f"""SELECT {_COLUMNS} FROM activities a {_JOINS} WHERE a.id IN (
                    SELECT x.id FROM activities x WHERE x.org_id = ?
                    UNION
                    SELECT xp.activity_id FROM contacts xc
                    JOIN activity_participants xp ON xp.contact_id = xc.id WHERE xc.org_id = ?)
                  AND {where} {order}"""
        return fetch_all(db, sql, [rid, rid, *params, lim])
    column = {"deals": "deal_id", "tickets": "ticket_id"}[table]
    sql = f"SELECT {_COLUMNS} FROM activities a {_JOINS} WHERE a.{column} = ? AND {where} {order}"
    return fetch_all(db, sql, [rid, *params, lim])


def thread(
    db: Db, thread_key: str, where: str = "1", params: list | tuple = (), *,
    limit: int | None = None,
) -> list[dict]:  # fmt: skip
    """The activities imported from the messages of one mail thread, oldest first."""
    sql = f"""SELECT {_COLUMNS} FROM mail_messages m JOIN activities a ON a.id = m.activity_id
              {_JOINS} WHERE m.thread_key = ? AND {where}
              ORDER BY a.occurred_at, a.id LIMIT ?"""
    return fetch_all(db, sql, [thread_key, *params, -1 if limit is None else limit])


def participant_rows(db: Db, activity_id: int) -> list[dict]:
    return fetch_all(
        db, "SELECT * FROM activity_participants WHERE activity_id = ? ORDER BY id", (activity_id,)
    )


def exists(db: Db, activity_id: int) -> bool:
    return (
        db.conn.execute("SELECT 1 FROM activities WHERE id = ?", (activity_id,)).fetchone()
        is not None
    )


def orphans(db: Db, ids: list[int]) -> list[int]:
    """Of these activities, those attached to nothing: no participant, org, deal or ticket."""
    return [
        r[0]
        for r in db.conn.execute(
            """SELECT a.id FROM activities a WHERE a.id IN (SELECT value FROM json_each(?))
               AND a.org_id IS NULL AND a.deal_id IS NULL AND a.ticket_id IS NULL
               AND NOT EXISTS (SELECT 1 FROM activity_participants p WHERE p.activity_id = a.id)
               ORDER BY a.id""",
            (json.dumps(ids),),
        )
    ]
