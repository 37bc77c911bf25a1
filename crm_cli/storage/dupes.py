"""SQL for duplicate detection: the fields compared, read in bulk."""

from __future__ import annotations

from collections import defaultdict

from crm_cli.storage.db import Db


def contact_records(db: Db, where: str = "1", params: list | tuple = ()) -> list[dict]:
    """Contacts matching a compiled filter as plain records with their emails and phones."""
    rows = db.conn.execute(
        f"""SELECT c.id, c.name, c.first_name, c.last_name, c.city, c.birthday, o.name AS org
            FROM contacts c LEFT JOIN orgs o ON o.id = c.org_id
            WHERE {where} ORDER BY c.id""",
        params,
    ).fetchall()
    emails: dict[int, list[str]] = defaultdict(list)
    phones: dict[int, list[str]] = defaultdict(list)
    for cid, value in db.conn.execute(
        f"SELECT contact_id, value FROM emails WHERE contact_id IN "
        f"(SELECT c.id FROM contacts c WHERE {where})",
        params,
    ):
        emails[cid].append(value)
    for cid, value in db.conn.execute(
        f"SELECT contact_id, value FROM phones WHERE contact_id IN "
        f"(SELECT c.id FROM contacts c WHERE {where})",
        params,
    ):
        phones[cid].append(value)
    keys = ("id", "name", "first_name", "last_name", "city", "birthday", "org")
    out = []
    for row in rows:
        rec = dict(zip(keys, row))
        rec["emails"] = emails.get(rec["id"], [])
        rec["phones"] = phones.get(rec["id"], [])
        out.append(rec)
    return out


def org_records(db: Db, where: str = "1", params: list | tuple = ()) -> list[dict]:
    """Organizations matching a compiled filter as plain records with their phones."""
    rows = db.conn.execute(
        f"""SELECT o.id, o.name, o.domain, o.street, o.city, o.postal_code
            FROM orgs o WHERE {where} ORDER BY o.id""",
        params,
    ).fetchall()
    phones: dict[int, list[str]] = defaultdict(list)
    for oid, value in db.conn.execute(
        f"SELECT org_id, value FROM phones WHERE org_id IN (SELECT o.id FROM orgs o WHERE {where})",
        params,
    ):
        phones[oid].append(value)
    keys = ("id", "name", "domain", "street", "city", "postal_code")
    out = []
    for row in rows:
        rec = dict(zip(keys, row))
        rec["phones"] = phones.get(rec["id"], [])
        out.append(rec)
    return out


def names(db: Db, table: str, ids: list[int]) -> dict[int, str]:
    """Names of contacts or orgs by id (table is 'contacts' or 'orgs')."""
    if table not in ("contacts", "orgs") or not ids:
        return {}
    import json

    return dict(
        db.conn.execute(
            f"SELECT id, name FROM {table} WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),),
        ).fetchall()
    )
