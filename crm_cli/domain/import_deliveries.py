"""Import a campaign's reach on channels crm does not send itself
(``crm import deliveries FILE --campaign NAME``).

CSV or NDJSON, one row per delivery: the contact (``contact``: an email address or a
contact id; or an ``email`` column; with ``--system`` also the id another system knows
them by, such as a loyalty card), the ``channel`` (receipt, letter, sms, call, web, email),
the time (``at``; a date alone is local midnight), the ``status`` (delivered -- the
default --, returned, failed, opened, visited) and a ``count`` (default 1: how many
times at that moment, e.g. the message on three receipts of one visit).

- ``returned`` is a letter that came back; ``opened`` is the provider's open data for an
  email (or a tracked SMS or letter QR code); ``visited`` is a visit to the private web
  area the campaign pointed to.
- Importing the same rows again creates nothing: a row is keyed by its ``external_id``,
  or else by campaign, contact, channel, status, time and count.
- A contact crm does not know is rejected (deliveries never create contacts).
- The first delivery recorded for a campaign draws its hold-out (in the import's change
  set; a dry run or an import that records nothing draws nothing). A
  delivery to a member of the hold-out is recorded -- it happened -- and counted in the
  summary as reaching the hold-out; ``crm report impact`` still counts them as assigned.
"""

from __future__ import annotations

import hashlib

from crm_cli.domain import campaigns, dates, holdout, validate
from crm_cli.domain.imports import ROW_ERRORS, _link_external
from crm_cli.domain.selectors import MAX_ID
from crm_cli.errors import InvalidInput
from crm_cli.storage import campaign_reports as reach_store
from crm_cli.storage import contacts as contact_store
from crm_cli.storage import imports as store
from crm_cli.storage.db import Db, Transaction, transaction

CHANNELS = ("receipt", "letter", "sms", "call", "web", "email")
STATUSES = ("delivered", "returned", "failed", "opened", "visited")
CHANNEL_WORDS = {
    **{c: c for c in CHANNELS},
    "till": "receipt", "till receipt": "receipt", "pos": "receipt", "ticket": "receipt",
    "mail": "letter", "post": "letter", "postal": "letter", "direct mail": "letter",
    "text": "sms", "text message": "sms", "phone": "call", "telephone": "call",
    "website": "web", "online": "web", "private area": "web", "e-mail": "email",
}  # fmt: skip
STATUS_WORDS = {
    **{s: s for s in STATUSES},
    "sent": "delivered", "printed": "delivered", "ok": "delivered", "shown": "delivered",
    "return": "returned", "returned to sender": "returned", "undeliverable": "returned",
    "bounced": "returned", "fail": "failed", "error": "failed", "open": "opened",
    "read": "opened", "visit": "visited", "clicked": "visited", "click": "visited",
    "visited private area": "visited", "logged in": "visited",
}  # fmt: skip
MAX_COUNT = 10_000


def word(value, name: str, words: dict[str, str], allowed) -> str:
    text = " ".join(str(value or "").replace("_", " ").replace("-", " ").split()).lower()
    hit = words.get(text) or words.get(text.replace(" ", "-"))
    if hit is None:
        raise InvalidInput(
            f"{name} {value!r} is not one of {', '.join(allowed)}"
            if text
            else f"a delivery needs its {name}"
        )
    return hit


def _count(value) -> int:
    if value in (None, ""):
        return 1
    text = str(value).strip()
    if text.endswith(".0"):
        text = text[:-2]
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_COUNT:
        raise InvalidInput(f"count must be a whole number from 1 to {MAX_COUNT}, not {value!r}")
    return int(text)


def _contact_ref(rec: dict) -> str:
    for key in ("contact", "contact_id", "emails", "email"):
        v = rec.get(key)
        if isinstance(v, list):
            v = v[0] if v else None
        if isinstance(v, dict):
            v = v.get("value")
        if v not in (None, ""):
            return validate.text(str(v)).strip()
    raise InvalidInput("a delivery needs its contact (an email address or a contact id)")


def _prepare(rec: dict) -> dict:
    ref = _contact_ref(rec)
    channel = word(rec.get("channel"), "channel", CHANNEL_WORDS, CHANNELS)
    status = word(rec.get("status") or "delivered", "status", STATUS_WORDS, STATUSES)
    if status == "returned" and channel != "letter":
        raise InvalidInput(f"only a letter is returned; a {channel} that failed is 'failed'")
    if rec.get("at") in (None, ""):
        raise InvalidInput("a delivery needs its time (at)")
    instant = dates.parse_when(str(rec["at"]))
    if instant > dates.now():
        raise InvalidInput(f"delivery time {rec['at']!r} is in the future")
    ext = rec.get("external_id")
    return {
        "ref": ref, "channel": channel, "status": status, "at": dates.to_db(instant),
        "count": _count(rec.get("count")),
        "key": str(ext).strip() if ext not in (None, "") else None,
    }  # fmt: skip


def _content_key(campaign_id: int, cid: int, row: dict) -> str:
    raw = f"{campaign_id}|{cid}|{row['channel']}|{row['status']}|{row['at']}|{row['count']}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _contact(db: Db, ref: str, system: str | None, memo: dict) -> int:
    if ref in memo:
        return memo[ref]
    cid = None
    if ref.isascii() and ref.isdigit():
        n = int(ref)
        cid = n if n <= MAX_ID and contact_store.exists(db, n) else None
        what = f"id {ref}"
    elif "@" in ref:
        ids = contact_store.ids_by_email(db, validate.email(ref))
        if len(ids) > 1:
            shown = ", ".join(map(str, ids[:5])) + (", …" if len(ids) > 5 else "")
            raise InvalidInput(
                f"email {ref.lower()} belongs to {len(ids)} contacts ({shown}): give the id"
            )
        cid = ids[0] if ids else None
        what = f"email {ref.lower()}"
    else:
        what = f"{system or 'another system'}'s id {ref!r}" if system else f"reference {ref!r}"
    if cid is None and system:
        link = store.external_rows(db, system, "contacts", [ref]).get(ref)
        if link is not None and contact_store.exists(db, link["record_id"]):
            cid = link["record_id"]
    if cid is None:
        hint = "" if system or "@" in ref or ref.isdigit() else " (give --system to look it up)"
        raise InvalidInput(f"no contact with {what}{hint}; deliveries never create contacts")
    memo[ref] = cid
    return cid


def write_batch(db: Db, tx: Transaction, items, opts, res, reject, source=None) -> None:
    st = opts.state.get("deliveries")
    if st is None:
        name = opts.extra.get("campaign")
        if not name:
            raise InvalidInput("say which campaign the deliveries belong to: --campaign NAME")
        c = campaigns.get(db, name)
        st = opts.state["deliveries"] = {
            "id": c.id, "system": f"deliveries:{c.id}", "contacts": {},
            "campaign": c, "held": holdout.held_out(db, c), "drawn": bool(c.holdout_at),
            "holdout_reached": set(),
        }  # fmt: skip
        res.details.update(holdout_reached=0, by_channel={})
    for item in items:
        try:
            row = _prepare(item.record or {})
            cid = _contact(db, row["ref"], opts.extra.get("system"), st["contacts"])
            key = row["key"] or _content_key(st["id"], cid, row)
            if store.external_rows(db, st["system"], "campaign_deliveries", [key]):
                res.unchanged += 1
                continue
            with transaction(db, "import row"):
                if not st["drawn"]:  # the first delivery recorded draws the hold-out, in
                    # this import's change set (a revert takes it back with the rows)
                    st["held"] = holdout.ensure(db, tx, st["campaign"])
                did = tx.insert("campaign_deliveries", {
                    "campaign_id": st["id"], "contact_id": cid, "channel": row["channel"],
                    "status": row["status"], "at": row["at"], "count": row["count"],
                    "created_at": tx.at,
                })  # fmt: skip
                _link_external(db, tx, st["system"], key, did, entity="campaign_deliveries")
        except ROW_ERRORS as e:
            reject(item, str(e))
            continue
        res.created += 1
        st["drawn"] = True
        by = res.details["by_channel"].setdefault(row["channel"], {})
        by[row["status"]] = by.get(row["status"], 0) + 1
        if cid in st["held"] and row["status"] in reach_store.REACHED:
            st["holdout_reached"].add(cid)
            res.details["holdout_reached"] = len(st["holdout_reached"])
