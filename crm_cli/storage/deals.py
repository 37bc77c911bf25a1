"""SQL for pipelines, their stages, deals, deal tags and the record of deal moves."""

from __future__ import annotations

import json

from crm_cli.storage.db import PARENT_KEYS, Db, fetch_all, fetch_one
from crm_cli.storage.filters import FieldSql

PARENT_KEYS.update({"deal_tags": (("deal_id", "deals"),), "deal_moves": (("deal_id", "deals"),)})


def ids_by_title(db: Db, title: str) -> list[int]:
    """Ids of deals whose title equals this one, case-insensitively."""
    from crm_cli.storage.contacts import ids_named

    return ids_named(db, "deals", title, "title")


def exists(db: Db, deal_id: int) -> bool:
    return db.conn.execute("SELECT 1 FROM deals WHERE id = ?", (deal_id,)).fetchone() is not None


def titles(db: Db, ids: list[int]) -> list[tuple[int, str]]:
    return [
        (r[0], r[1])
        for r in db.conn.execute(
            "SELECT id, title FROM deals WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(ids),),
        )
    ]


# -- pipelines and stages ----------------------------------------------------


def pipelines(db: Db) -> list[dict]:
    """Every pipeline with its open deals' count (in id order: the first is the default)."""
    return fetch_all(
        db,
        """SELECT p.*,
             (SELECT count(*) FROM stages s WHERE s.pipeline_id = p.id) AS stage_count,
             (SELECT count(*) FROM deals d WHERE d.pipeline_id = p.id AND d.status = 'open')
               AS open_deals
           FROM pipelines p ORDER BY p.id""",
    )


def pipeline(db: Db, pipeline_id: int) -> dict | None:
    return fetch_one(db, "SELECT * FROM pipelines WHERE id = ?", (pipeline_id,))


def pipeline_ids_named(db: Db, name: str) -> list[int]:
    from crm_cli.storage.contacts import ids_named

    return ids_named(db, "pipelines", name)


def default_pipeline_id(db: Db) -> int | None:
    row = db.conn.execute("SELECT min(id) FROM pipelines").fetchone()
    return row[0] if row else None


def stages(db: Db, pipeline_id: int) -> list[dict]:
    """A pipeline's stages in order."""
    return fetch_all(
        db, "SELECT * FROM stages WHERE pipeline_id = ? ORDER BY position, id", (pipeline_id,)
    )


def stage(db: Db, stage_id: int) -> dict | None:
    return fetch_one(db, "SELECT * FROM stages WHERE id = ?", (stage_id,))


def stages_named(db: Db, name: str, pipeline_id: int | None = None) -> list[dict]:
    """Stages with this name under Unicode case folding, in one pipeline or in all."""
    import unicodedata

    from crm_cli.storage.contacts import like_pattern

    name = unicodedata.normalize("NFC", name)
    sql = (
        "SELECT s.*, p.name AS pipeline FROM stages s JOIN pipelines p ON p.id = s.pipeline_id"
        " WHERE s.name LIKE ? ESCAPE '\\'"
    )
    params: list = [like_pattern(name)]
    if pipeline_id is not None:
        sql += " AND s.pipeline_id = ?"
        params.append(pipeline_id)
    rows = fetch_all(db, sql + " ORDER BY s.pipeline_id, s.position", params)
    return [r for r in rows if r["name"].casefold() == name.casefold()]


def stage_summary(db: Db, pipeline_id: int) -> list[dict]:
    """Per stage: open deals, their amounts per currency (as JSON text) and weighted amounts."""
    return fetch_all(
        db,
        """SELECT s.id, s.name, s.position, s.probability,
             (SELECT count(*) FROM deals d WHERE d.stage_id = s.id AND d.status = 'open') AS open_deals,
             (SELECT json_group_object(currency, total) FROM (
                SELECT d.currency, sum(d.amount_minor) AS total FROM deals d
                WHERE d.stage_id = s.id AND d.status = 'open' AND d.currency IS NOT NULL
                GROUP BY d.currency)) AS amounts
           FROM stages s WHERE s.pipeline_id = ? ORDER BY s.position, s.id""",
        (pipeline_id,),
    )


def deals_in_stage(db: Db, stage_id: int) -> int:
    return db.conn.execute("SELECT count(*) FROM deals WHERE stage_id = ?", (stage_id,)).fetchone()[
        0
    ]


# -- deals -------------------------------------------------------------------

_SELECT = """
SELECT d.*, s.name AS stage, s.position AS stage_position, s.probability,
  p.name AS pipeline, o.name AS org, c.name AS contact, u.name AS owner
FROM deals d
JOIN stages s ON s.id = d.stage_id
JOIN pipelines p ON p.id = d.pipeline_id
LEFT JOIN orgs o ON o.id = d.org_id
LEFT JOIN contacts c ON c.id = d.contact_id
LEFT JOIN users u ON u.id = d.owner_id
"""

SORTS = {
    "id": "d.id",
    "title": "crm_fold(d.title)",
    "amount": "d.amount_minor",
    "close": "d.expected_close_date",
    "stage": "s.position",
    "status": "d.status",
    "owner": "u.name",
    "org": "crm_fold(o.name)",
    "created": "d.created_at",
    "updated": "d.updated_at",
    "closed": "d.closed_at",
    "in_stage": "d.stage_entered_at",
}

FIELDS: dict[str, FieldSql] = {
    "id": FieldSql("number", "d.id", doc="the deal's id"),
    "title": FieldSql("text", "d.title", doc="title"),
    "stage": FieldSql(
        "text", "(SELECT xs.name FROM stages xs WHERE xs.id = d.stage_id)", doc="stage name"
    ),
    "stage_id": FieldSql("number", "d.stage_id", doc="stage id"),
    "pipeline": FieldSql(
        "text",
        "(SELECT xp.name FROM pipelines xp WHERE xp.id = d.pipeline_id)",
        doc="pipeline name",
    ),
    "pipeline_id": FieldSql("number", "d.pipeline_id", doc="pipeline id"),
    "status": FieldSql("enum", "d.status", doc="open, won or lost"),
    "lost_reason": FieldSql("text", "d.lost_reason", doc="why it was lost"),
    "amount": FieldSql("money", "d.amount_minor", doc="amount (major units)"),
    "currency": FieldSql("text", "d.currency", doc="ISO 4217 currency"),
    "probability": FieldSql(
        "number",
        "(SELECT xs.probability FROM stages xs WHERE xs.id = d.stage_id)",
        doc="the stage's win probability (percent)",
    ),
    "close": FieldSql("date", "d.expected_close_date", doc="expected close date"),
    "org": FieldSql(
        "text", "(SELECT xo.name FROM orgs xo WHERE xo.id = d.org_id)", doc="organization name"
    ),
    "org_id": FieldSql("number", "d.org_id", doc="organization id"),
    "contact": FieldSql(
        "text", "(SELECT xc.name FROM contacts xc WHERE xc.id = d.contact_id)", doc="contact name"
    ),
    "contact_id": FieldSql("number", "d.contact_id", doc="contact id"),
    "owner": FieldSql(
        "text", "(SELECT xu.name FROM users xu WHERE xu.id = d.owner_id)", doc="owner's user name"
    ),
    "source": FieldSql("text", "d.source", doc="where the deal came from"),
    "tag": FieldSql(
        "tag",
        "x.tag",
        "EXISTS (SELECT 1 FROM deal_tags x WHERE x.deal_id = d.id AND {cond})",
        doc="any of the tags",
    ),
    "in_stage": FieldSql("instant", "d.stage_entered_at", doc="when it entered its stage"),
    "created": FieldSql("instant", "d.created_at", doc="when the deal was added"),
    "updated": FieldSql("instant", "d.updated_at", doc="when the deal last changed"),
    "closed": FieldSql("instant", "d.closed_at", doc="when it was won or lost"),
    "field": FieldSql("custom", "d.custom", doc="custom field, as field.KEY"),
}


def select(
    db: Db,
    where: str = "1",
    params: list | tuple = (),
    *,
    sort: list[tuple[str, bool]] | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Deal rows (with stage, pipeline, org, contact and owner names) matching a filter."""
    from crm_cli.storage.contacts import order_by

    sql = f"{_SELECT} WHERE {where} ORDER BY {order_by(sort, SORTS, 'd.id')} LIMIT ?"
    return fetch_all(db, sql, [*params, -1 if limit is None else limit])


def get(db: Db, deal_id: int) -> dict | None:
    return fetch_one(db, f"{_SELECT} WHERE d.id = ?", (deal_id,))


def get_many(db: Db, ids: list[int]) -> list[dict]:
    if not ids:
        return []
    return fetch_all(
        db,
        f"{_SELECT} WHERE d.id IN (SELECT value FROM json_each(?)) ORDER BY d.id",
        (json.dumps(ids),),
    )


def tags_of(db: Db, ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {i: [] for i in ids}
    if not ids:
        return out
    for r in db.conn.execute(
        "SELECT deal_id, tag FROM deal_tags WHERE deal_id IN (SELECT value FROM json_each(?)) ORDER BY deal_id, tag",
        (json.dumps(ids),),
    ):
        out[r[0]].append(r[1])
    return out


def tag_rows(db: Db, deal_id: int) -> list[dict]:
    return fetch_all(db, "SELECT id, tag FROM deal_tags WHERE deal_id = ?", (deal_id,))


def moves(db: Db, deal_id: int) -> list[dict]:
    """A deal's recorded moves, oldest first, with stage and user names."""
    return fetch_all(
        db,
        """SELECT m.*, fs.name AS from_stage, ts.name AS to_stage, u.name AS actor
           FROM deal_moves m
           LEFT JOIN stages fs ON fs.id = m.from_stage_id
           JOIN stages ts ON ts.id = m.to_stage_id
           LEFT JOIN users u ON u.id = m.actor_id
           WHERE m.deal_id = ? ORDER BY m.moved_at, m.id""",
        (deal_id,),
    )
