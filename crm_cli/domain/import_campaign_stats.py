"""Import an ad or social campaign's results (`crm import campaign-stats FILE --campaign NAME`).

CSV or NDJSON, one row per day (and, optionally, per ad or ad set: a ``label``), with the
cost, impressions, clicks and conversions the platform reports. Exports from the ad
platforms read as they are: ``Day``/``Date``/``Reporting starts``, ``Cost``/``Amount spent
(EUR)``/``Spend``, ``Impr.``/``Impressions``, ``Clicks``/``Link clicks``, ``Conversions``/
``Results``; other columns are ignored. A currency column, or the one in a header like
``Amount spent (EUR)``, or ``money.currency``, says what the cost is in.

Importing the same file again changes nothing; a later export that restates a day's
figures updates that day (keyed by campaign, day and label).
"""

from __future__ import annotations

import re

from crm_cli import config
from crm_cli.domain import campaigns, dates, money
from crm_cli.domain.imports import ROW_ERRORS, _link_external
from crm_cli.errors import InvalidInput
from crm_cli.storage import imports as store
from crm_cli.storage.db import Db, Transaction, transaction

_GROUPED = re.compile(r"[0-9]{1,3}(?:[,  '][0-9]{3})+")


def _count(value, name: str) -> int | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    if _GROUPED.fullmatch(text):
        text = re.sub(r"[,  ']", "", text)
    if text.endswith(".0"):
        text = text[:-2]
    if not text.isdigit():
        raise InvalidInput(f"{name} must be a whole number, not {value!r}")
    return int(text)


def _currency(rec: dict, header_currency: str | None) -> str:
    code = rec.get("currency") or header_currency or config.get("money.currency") or "EUR"
    code = str(code).strip().upper()
    money.exponent(code)  # an unknown code is this row's error
    return code


def _prepare(rec: dict, header_currency: str | None) -> dict:
    day_text = rec.get("date")
    if day_text in (None, ""):
        raise InvalidInput("a row needs its day (date)")
    day = dates.parse_date(str(day_text))
    cost_text = rec.get("cost")
    cost, currency = None, None
    if cost_text not in (None, ""):
        currency = _currency(rec, header_currency)
        cost = money.parse(str(cost_text), currency)
        if cost < 0:
            raise InvalidInput(f"cost cannot be negative ({cost_text})")
    row = {
        "day": day, "cost_minor": cost, "currency": currency,
        "impressions": _count(rec.get("impressions"), "impressions"),
        "clicks": _count(rec.get("clicks"), "clicks"),
        "conversions": _count(rec.get("conversions"), "conversions"),
    }  # fmt: skip
    if all(row[k] is None for k in ("cost_minor", "impressions", "clicks", "conversions")):
        raise InvalidInput("a row needs at least one of cost, impressions, clicks, conversions")
    label = rec.get("label")
    row["key"] = f"{day}|{str(label).strip() if label not in (None, '') else ''}"
    return row


def _header_currency(source) -> str | None:
    """The currency a header names, as in Meta's 'Amount spent (EUR)'."""
    for col in getattr(source, "header", None) or []:
        m = re.search(r"\(([A-Z]{3})\)\s*$", col.strip())
        if m:
            return m.group(1)
    return None


def write_batch(db: Db, tx: Transaction, items, opts, res, reject, source=None) -> None:
    st = opts.state.get("campaign_stats")
    if st is None:
        name = opts.extra.get("campaign")
        if not name:
            raise InvalidInput("say which campaign the figures belong to: --campaign NAME")
        c = campaigns.get(db, name)
        st = opts.state["campaign_stats"] = {
            "id": c.id,
            "system": f"campaign-stats:{c.id}",
            "currency": _header_currency(source),
        }
    for item in items:
        try:
            row = _prepare(item.record or {}, st["currency"])
            key = row.pop("key")
            link = store.external_rows(db, st["system"], "campaign_stats", [key]).get(key)
            with transaction(db, "import row"):
                sid = link["record_id"] if link else None
                if sid is not None and tx.get("campaign_stats", sid) is not None:
                    if tx.update("campaign_stats", sid, row):
                        res.updated += 1
                    else:
                        res.unchanged += 1
                    continue
                sid = tx.insert("campaign_stats", {
                    "campaign_id": st["id"], **row, "created_at": tx.at,
                })  # fmt: skip
                _link_external(db, tx, st["system"], key, sid, entity="campaign_stats")
                res.created += 1
        except ROW_ERRORS as e:
            reject(item, str(e))
