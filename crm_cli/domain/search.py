"""Full-text search over contacts and organizations."""

from __future__ import annotations

from crm_cli.errors import InvalidInput
from crm_cli.storage import contacts as contact_store
from crm_cli.storage import orgs as org_store
from crm_cli.storage import search as store
from crm_cli.storage.db import Db


def search(db: Db, text: str, *, limit: int | None = 50) -> list[dict]:
    """Return hits, best first: {kind, id, name, org, email, detail}."""
    if not text.strip():
        raise InvalidInput("give some text to search for")
    hits = store.search(db, text, limit=limit)
    cids = [h["ref_id"] for h in hits if h["kind"] == "contact"]
    oids = [h["ref_id"] for h in hits if h["kind"] == "org"]
    contacts = {r["id"]: r for r in contact_store.get_many(db, cids)}
    emails = contact_store.emails_of(db, cids)
    orgs = {r["id"]: r for r in org_store.get_many(db, oids)}
    out = []
    for h in hits:
        if h["kind"] == "contact" and h["ref_id"] in contacts:
            c = contacts[h["ref_id"]]
            em = emails[c["id"]]
            out.append({"kind": "contact", "id": c["id"], "name": c["name"], "org": c["org"],
                        "email": em[0]["value"] if em else None, "stage": c["stage"]})  # fmt: skip
        elif h["kind"] == "org" and h["ref_id"] in orgs:
            o = orgs[h["ref_id"]]
            out.append({"kind": "org", "id": o["id"], "name": o["name"], "org": None,
                        "email": o["domain"], "stage": None})  # fmt: skip
    return out
