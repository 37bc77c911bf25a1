"""Exports: records matched by a filter, as the rows each format writer needs."""

from __future__ import annotations

from crm_cli.errors import InvalidInput
from crm_cli.storage.db import Db

ENTITIES = ("contacts", "orgs", "deals", "activities", "followups", "orders")
FORMATS = {
    "contacts": ("csv", "json", "ndjson", "vcard"),
    "orgs": ("csv", "json", "ndjson", "vcard"),
    "deals": ("csv", "json", "ndjson"),
    "activities": ("csv", "json", "ndjson", "ics"),
    "followups": ("csv", "json", "ndjson", "ics"),
    "orders": ("csv", "json", "ndjson"),
}


def records(
    db: Db, entity: str, filter_args: list[str] | None
) -> tuple[list[dict], tuple[str, ...]]:
    """The matching records as --json prints them, and the keys in order (the CSV header)."""
    if entity == "contacts":
        from crm_cli.domain import contacts

        return [c.to_dict() for c in contacts.list_contacts(db, filter_args)], contacts.JSON_KEYS
    if entity == "orgs":
        from crm_cli.domain import orgs

        return [o.to_dict() for o in orgs.list_orgs(db, filter_args)], orgs.JSON_KEYS
    if entity == "deals":
        from crm_cli.domain import deals

        return [
            d.to_dict() for d in deals.list_deals(db, filter_args, everything=True)
        ], deals.JSON_KEYS
    if entity == "activities":
        from crm_cli.domain import activities

        rows = [a.to_dict() for a in activities.timeline(db, None, filter_args)]
        return rows, activities.JSON_KEYS
    if entity == "followups":
        from crm_cli.domain import followups

        items = followups.agenda(db, include_done=True, cadence=False, filter_args=filter_args)
        rows = [i.to_dict() for i in items]
        return rows, tuple(rows[0]) if rows else tuple(followups.Followup.__dataclass_fields__)
    if entity == "orders":
        from crm_cli.domain import orders

        return [o.to_dict() for o in orders.list_orders(db, filter_args)], orders.JSON_KEYS
    raise InvalidInput(f"cannot export '{entity}'; choose {', '.join(ENTITIES)}")


def check_format(entity: str, fmt: str) -> str:
    f = fmt.strip().lower()
    f = {"vcf": "vcard", "ical": "ics", "jsonl": "ndjson"}.get(f, f)
    if f not in FORMATS[entity]:
        raise InvalidInput(f"{entity} export as {', '.join(FORMATS[entity])}, not '{fmt}'")
    return f


def with_emails(db: Db, entity: str, rows: list[dict]) -> list[dict]:
    """Calendar rows with each person's primary email, so an ATTENDEE is a mailto: that
    calendars (and our own importer) recognise."""
    from crm_cli.storage import contacts as contact_store

    if entity == "followups":
        ids = [r["contact_id"] for r in rows if r.get("contact_id")]
    else:
        ids = [c["id"] for r in rows for c in r.get("contacts") or ()]
    emails = {
        cid: (e[0]["value"] if e else None) for cid, e in contact_store.emails_of(db, ids).items()
    }
    out = []
    for r in rows:
        r = dict(r)
        if entity == "followups":
            r["contact_email"] = emails.get(r.get("contact_id"))
        else:
            r["contacts"] = [{**c, "email": emails.get(c["id"])} for c in r.get("contacts") or ()]
        out.append(r)
    return out
