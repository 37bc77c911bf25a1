"""SQL for follow-ups, contacts due for a touch (cadence) and reminder claims."""

from __future__ import annotations

from crm_cli.storage.db import Db, fetch_all, fetch_one
from crm_cli.storage.filters import FieldSql

FIELDS: dict[str, FieldSql] = {
    "id": FieldSql("number", "f.id", doc="the follow-up's id"),
    "text": FieldSql("text", "f.text", doc="what to do"),
    "due": FieldSql("instant", "f.due_at", doc="when it is due"),
    "status": FieldSql("enum", "f.status", doc="open or done"),
    "done": FieldSql("instant", "f.done_at", doc="when it was done"),
    "every": FieldSql("text", "f.rule", doc="the repeat rule (RRULE text); has:every"),
    "contact": FieldSql(
        "text", "(SELECT xc.name FROM contacts xc WHERE xc.id = f.contact_id)", doc="contact name"
    ),
    "contact_id": FieldSql("number", "f.contact_id", doc="contact id"),
    "org": FieldSql(
        "text", "(SELECT xo.name FROM orgs xo WHERE xo.id = f.org_id)", doc="organization name"
    ),
    "org_id": FieldSql("number", "f.org_id", doc="organization id"),
    "deal": FieldSql("number", "f.deal_id", doc="deal id"),
    "assignee": FieldSql(
        "text", "(SELECT xu.name FROM users xu WHERE xu.id = f.assignee_id)", doc="assignee"
    ),
    "created": FieldSql("instant", "f.created_at", doc="when it was added"),
    "updated": FieldSql("instant", "f.updated_at", doc="when it last changed"),
}

# Columns of the followups table a caller may set (id and timestamps are managed).
COLUMNS = (
    "text", "due_at", "status", "done_at", "rule", "rule_start_at", "previous_id",
    "contact_id", "org_id", "deal_id", "ticket_id", "assignee_id",
)  # fmt: skip

_SELECT = """
SELECT f.*, c.name AS contact, o.name AS org, d.title AS deal, u.name AS assignee
FROM followups f
LEFT JOIN contacts c ON c.id = f.contact_id
LEFT JOIN orgs o ON o.id = f.org_id
LEFT JOIN deals d ON d.id = f.deal_id
LEFT JOIN users u ON u.id = f.assignee_id
"""


def get(db: Db, followup_id: int) -> dict | None:
    """One follow-up row with the names of what it links to, or None."""
    return fetch_one(db, f"{_SELECT} WHERE f.id = ?", (followup_id,))


def _where(*, include_done, assignee_id, contact_id, org_id, deal_id) -> tuple[list[str], list]:
    where, params = [], []
    if not include_done:
        where.append("f.status = 'open'")
    for col, value in (
        ("assignee_id", assignee_id),
        ("contact_id", contact_id),
        ("deal_id", deal_id),
    ):
        if value is not None:
            where.append(f"f.{col} = ?")
            params.append(value)
    if org_id is not None:  # the organization's own follow-ups and its people's
        where.append(
            "(f.org_id = ? OR f.contact_id IN (SELECT xc.id FROM contacts xc WHERE xc.org_id = ?))"
        )
        params += [org_id, org_id]
    return where, params


def select(
    db: Db,
    *,
    include_done: bool = False,
    assignee_id: int | None = None,
    contact_id: int | None = None,
    org_id: int | None = None,
    deal_id: int | None = None,
    due_until: str | None = None,
    due_before: str | None = None,
    filter_sql: tuple[str, list] | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Follow-ups (open ones unless include_done), soonest first: due at or before
    ``due_until`` (what is due now), strictly before ``due_before`` (a horizon), and
    matching a compiled filter (``filter_sql``: fragment on alias f, parameters)."""
    where, params = _where(include_done=include_done, assignee_id=assignee_id,
                           contact_id=contact_id, org_id=org_id, deal_id=deal_id)  # fmt: skip
    if filter_sql is not None:
        where.append(f"({filter_sql[0]})")
        params += list(filter_sql[1])
    if due_until is not None:
        where.append("f.due_at <= ?")
        params.append(due_until)
    if due_before is not None:
        where.append("f.due_at < ?")
        params.append(due_before)
    # Open ones only: the (status, due_at) index yields them in order, no sort needed.
    order = "f.status = 'done', f.due_at, f.id" if include_done else "f.due_at, f.id"
    sql = f"{_SELECT} WHERE {' AND '.join(where) or '1'} ORDER BY {order} LIMIT ?"
    return fetch_all(db, sql, [*params, -1 if limit is None else limit])


def count_from(
    db: Db,
    due_from: str,
    *,
    assignee_id: int | None = None,
    contact_id: int | None = None,
    org_id: int | None = None,
    deal_id: int | None = None,
) -> int:
    """How many open follow-ups fall due at or after ``due_from`` (beyond the agenda's horizon)."""
    where, params = _where(include_done=False, assignee_id=assignee_id,
                           contact_id=contact_id, org_id=org_id, deal_id=deal_id)  # fmt: skip
    where.append("f.due_at >= ?")
    params.append(due_from)
    return db.conn.execute(
        f"SELECT count(*) FROM followups f WHERE {' AND '.join(where)}", params
    ).fetchone()[0]


def next_of(db: Db, followup_id: int) -> list[int]:
    """Ids of the follow-ups whose previous occurrence is this one."""
    return [
        r[0]
        for r in db.conn.execute(
            "SELECT id FROM followups WHERE previous_id = ? ORDER BY id", (followup_id,)
        )
    ]


# A contact's cadence is due this long after its last activity (or since the cadence was set).
_CADENCE_DUE = (
    "strftime('%Y-%m-%dT%H:%M:%SZ', coalesce(c.last_activity_at, c.cadence_set_at),"
    " '+' || c.cadence_days || ' days')"
)


def cadence_due(
    db: Db,
    now: str,
    *,
    owner_id: int | None = None,
    contact_id: int | None = None,
    org_id: int | None = None,
) -> list[dict]:
    """Contacts past their cadence at ``now``, with the time they fell due, oldest first."""
    where = ["c.cadence_days IS NOT NULL", f"{_CADENCE_DUE} <= ?"]
    params: list = [now]
    if owner_id is not None:
        # '+' keeps SQLite on the small partial cadence index: one owner may own every
        # contact, while few contacts have a cadence. A contact nobody owns is everyone's.
        where.append("(+c.owner_id = ? OR c.owner_id IS NULL)")
        params.append(owner_id)
    for col, value in (("id", contact_id), ("org_id", org_id)):
        if value is not None:
            where.append(f"c.{col} = ?")
            params.append(value)
    sql = f"""
SELECT c.id, c.name, c.org_id, o.name AS org, c.owner_id, u.name AS owner,
       c.cadence_days, c.cadence_set_at, c.last_activity_at, {_CADENCE_DUE} AS due_at
FROM contacts c
LEFT JOIN orgs o ON o.id = c.org_id
LEFT JOIN users u ON u.id = c.owner_id
WHERE {" AND ".join(where)}
ORDER BY due_at, c.id
"""
    return fetch_all(db, sql, params)


def cadence_row(db: Db, contact_id: int) -> dict | None:
    """A contact's cadence columns."""
    return fetch_one(
        db, "SELECT id, cadence_days, cadence_set_at FROM contacts WHERE id = ?", (contact_id,)
    )


def is_claimed(db: Db, kind: str, item_id: int, recipient_id: int, due_at: str) -> bool:
    """Whether this item at this due time was already reported to this recipient."""
    return (
        db.conn.execute(
            "SELECT 1 FROM reminder_claims WHERE item_kind = ? AND item_id = ?"
            " AND recipient_id = ? AND due_at = ?",
            (kind, item_id, recipient_id, due_at),
        ).fetchone()
        is not None
    )


def claims_of(db: Db, recipient_id: int) -> list[dict]:
    """Every claim held for a recipient, newest first."""
    return fetch_all(
        db,
        "SELECT * FROM reminder_claims WHERE recipient_id = ? ORDER BY id DESC",
        (recipient_id,),
    )
