"""Import web sessions (`crm import visits`): CSV or NDJSON, one session per row.

A row has a time (``at``), a contact email or a visitor id (or both), and optionally the
landing page, the referrer, UTM source / medium / campaign and the pages viewed. A row
with an email belongs to that contact (created as a web lead when the address is new:
the visitor identified themselves); a row with only a visitor id stays anonymous until
that visitor id is seen with an email, in this file or a later one -- then every earlier
visit of the visitor is linked to the contact too. A visit with a contact is also a
'visit' activity (channel web) on the contact's timeline.

Importing the same sessions again creates nothing: each row is keyed by its session id
(``external_id``) or else by its visitor, email, time and landing page.
"""

from __future__ import annotations

import hashlib

from crm_cli.domain import activities, contacts, dates, settings, validate
from crm_cli.domain.imports import ROW_ERRORS, _link_external
from crm_cli.errors import InvalidInput
from crm_cli.storage import contacts as contact_store
from crm_cli.storage import imports as store
from crm_cli.storage import visits as visit_store
from crm_cli.storage.db import Db, Transaction, transaction

SYSTEM = "visits"  # the system content keys are recorded under


def _text(value, name: str, limit: int = 2000) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise InvalidInput(f"{name} must be text")
    text = str(value).strip()
    if len(text) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters")
    return validate.text(text) if text else None


def _prepare(rec: dict) -> dict:
    emails = rec.get("emails") or rec.get("email") or []  # JSON may say "email": "a@b"
    if isinstance(emails, str):
        emails = [emails]
    email = emails[0]["value"] if emails and isinstance(emails[0], dict) else (emails or [None])[0]
    if email is not None:
        email = validate.email(str(email))
    visitor = _text(rec.get("visitor_id"), "visitor id", 200)
    if not email and not visitor:
        raise InvalidInput("a visit needs a contact email or a visitor id")
    if rec.get("at") in (None, ""):
        raise InvalidInput("a visit needs its time (at)")
    instant = dates.parse_when(str(rec["at"]))
    if instant > dates.now():
        raise InvalidInput(f"visit time {rec['at']!r} is in the future")
    pages = rec.get("pages")
    if pages not in (None, ""):
        try:
            pages = int(str(pages).strip())
        except ValueError:
            raise InvalidInput(f"pages must be a whole number, not {rec['pages']!r}") from None
        if pages < 0:
            raise InvalidInput(f"pages cannot be negative ({pages})")
    else:
        pages = None
    row = {
        "email": email, "visitor_id": visitor, "started_at": dates.to_db(instant),
        "landing_page": _text(rec.get("landing_page"), "landing page"),
        "referrer": _text(rec.get("referrer"), "referrer"),
        "utm_source": _text(rec.get("utm_source"), "utm source", 200),
        "utm_medium": _text(rec.get("utm_medium"), "utm medium", 200),
        "utm_campaign": _text(rec.get("utm_campaign"), "utm campaign", 200),
        "pages": pages,
    }  # fmt: skip
    ext = rec.get("external_id")
    row["key"] = str(ext).strip() if ext not in (None, "") else None
    return row


def _content_key(row: dict) -> str:
    raw = "|".join(str(row[k] or "") for k in ("visitor_id", "email", "started_at", "landing_page"))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _contact_for(db: Db, tx: Transaction, row: dict, st: dict) -> int | None:
    email = row["email"]
    if email:
        key = email.casefold()
        if key not in st["emails"]:
            ids = contact_store.ids_by_email(db, email)
            if ids:
                st["emails"][key] = ids[0]
            else:  # the visitor identified themselves: a web lead
                d = contacts.draft(db, None, emails=[email], source="web",
                                   stages=settings.stages(db))  # fmt: skip
                (cid,) = contacts.write_drafts(db, tx, [d])
                st["emails"][key] = cid
                st["created_contacts"] += 1
        return st["emails"][key]
    visitor = row["visitor_id"]
    if visitor not in st["visitors"]:
        st["visitors"][visitor] = visit_store.contact_of_visitor(db, visitor)
    return st["visitors"][visitor]


def _timeline(db: Db, tx: Transaction, cid: int, v: dict) -> int:
    via = " · ".join(x for x in (v["utm_source"], v["utm_medium"], v["utm_campaign"]) if x)
    body = "\n".join(x for x in (f"from {v['referrer']}" if v["referrer"] else None,
                                 f"campaign: {via}" if via else None,
                                 f"{v['pages']} pages" if v["pages"] is not None else None) if x)  # fmt: skip
    return activities.write(db, tx, "visit", contact_ids=[cid], channel="web",
                            subject=v["landing_page"] or "web visit", body=body or None,
                            occurred_at=v["started_at"])  # fmt: skip


def write_batch(db: Db, tx: Transaction, items, opts, res, reject, source=None) -> None:
    st = opts.state.setdefault("visits", {"emails": {}, "visitors": {}, "created_contacts": 0})
    for item in items:
        try:
            row = _prepare(item.record or {})
            system, key = (opts.system, row["key"]) if row["key"] else (SYSTEM, _content_key(row))
            if store.external_rows(db, system, "web_visits", [key]):
                res.unchanged += 1
                continue
            with transaction(db, "import row"):
                cid = _contact_for(db, tx, row, st)
                visit = {k: row[k] for k in ("visitor_id", "started_at", "landing_page", "referrer",
                                             "utm_source", "utm_medium", "utm_campaign", "pages")}  # fmt: skip
                visit.update(contact_id=cid, created_at=tx.at)
                visit["activity_id"] = _timeline(db, tx, cid, visit) if cid else None
                vid = tx.insert("web_visits", visit)
                _link_external(db, tx, system, key, vid, entity="web_visits")
                visitor = row["visitor_id"]
                if cid and visitor:
                    st["visitors"][visitor] = cid
                    for old in visit_store.anonymous_visits(db, visitor):
                        tx.update("web_visits", old["id"], {
                            "contact_id": cid, "activity_id": _timeline(db, tx, cid, old)})  # fmt: skip
        except ROW_ERRORS as e:
            reject(item, str(e))
            continue
        res.created += 1
