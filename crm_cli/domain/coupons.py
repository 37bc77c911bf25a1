"""Coupons: one unique, hard-to-guess code per campaign recipient, used on orders.

A code is the prefix plus a random part from an alphabet without look-alikes (no 0/O,
1/I/L). Issuing is idempotent: a contact keeps their code for the campaign, and only
segment members without one get a new code. Opted-out contacts get none. A coupon may
carry a discount: a percent (``10%``) or an amount off (``5 EUR``); an order that uses it
records the discount it gave (``orders.discount_minor``) beside its total.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_cli.domain import money
from crm_cli.errors import InvalidInput, NotFound
from crm_cli.storage import coupons as store
from crm_cli.storage.db import Db, transaction

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0 O 1 I L
PREFIX_RE = re.compile(r"^[A-Z0-9]{1,16}$")
MIN_LENGTH, MAX_LENGTH = 6, 20
KEYS = ("code", "campaign", "contact_id", "name", "email", "street", "city", "region",
        "postal_code", "country", "discount", "discount_pct", "discount_minor", "currency",
        "issued_at")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Discount:
    pct: int | None = None
    minor: int | None = None
    currency: str | None = None

    def text(self) -> str | None:
        if self.pct is not None:
            return f"{self.pct}%"
        if self.minor is not None:
            return f"{money.format(self.minor, self.currency)} {self.currency}"
        return None

    def of(self, total_minor: int, currency: str) -> int:
        """The discount this gives on an order total (never more than the total)."""
        if self.pct is not None:
            return (total_minor * self.pct + 50) // 100  # half up, exact integers
        if self.minor is not None:
            if currency != self.currency:
                raise InvalidInput(
                    f"the coupon takes {self.text()} off, but the order is in {currency}"
                )
            return min(self.minor, total_minor)
        return 0


def parse_discount(text: str | None, default_currency: str = "EUR") -> Discount:
    """Read ``10%`` (a percent, 1-100) or ``5 EUR`` / ``5`` (an amount off)."""
    if text is None or not text.strip():
        return Discount()
    t = text.strip()
    if t.endswith("%"):
        n = t[:-1].strip()
        if not (n.isascii() and n.isdigit()) or not 1 <= int(n) <= 100:
            raise InvalidInput(f"--discount {text!r}: a percent is a whole number 1-100, e.g. 10%")
        return Discount(pct=int(n))
    minor, cur = money.parse_with_currency(t, default_currency)
    if minor <= 0:
        raise InvalidInput(f"--discount {text!r}: the amount off must be above zero")
    return Discount(minor=minor, currency=cur)


def _discount(row: dict) -> Discount:
    return Discount(row["discount_pct"], row["discount_minor"], row["currency"])


def to_dict(row: dict) -> dict[str, Any]:
    d = {k: row.get(k) for k in KEYS}
    d["discount"] = _discount(row).text()
    return d


def _new_code(db: Db, prefix: str, length: int, taken: set[str]) -> str:
    for _ in range(100):
        code = prefix + "".join(secrets.choice(ALPHABET) for _ in range(length))
        if code not in taken and not store.code_taken(db, code):
            taken.add(code)
            return code
    raise InvalidInput(f"could not find a free code: use a longer --length than {length}")


@dataclass(frozen=True, slots=True)
class Issued:
    campaign: str
    issued: int  # new codes now
    kept: int  # members who already had one
    opted_out: int  # members skipped
    held_out: int = 0  # members in the campaign's hold-out: never given a code


def issue(
    db: Db,
    campaign: str,
    *,
    segment: str,
    prefix: str,
    discount: str | None = None,
    length: int = 8,
    now: datetime | None = None,
) -> Issued:
    """Give every segment member without a code for the campaign a new one (one change set)."""
    from crm_cli import config
    from crm_cli.domain import campaigns, holdout, segments

    pre = (prefix or "").strip().upper()
    if not PREFIX_RE.match(pre):
        raise InvalidInput(f"--prefix {prefix!r}: 1-16 letters or digits, e.g. WKND")
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise InvalidInput(f"--length {length}: give {MIN_LENGTH} to {MAX_LENGTH}")
    disc = parse_discount(discount, config.get("money.currency") or "EUR")
    c = campaigns.get(db, campaign)
    ids = segments.member_ids(db, segments.get(db, segment), now=now)
    consent = store.consent_of(db, ids)
    with transaction(db, f"coupon issue {c.name}"[:120]) as tx:
        held = holdout.ensure(db, tx, c)
        have = store.contacts_with_coupon(db, c.id)
        opted = [i for i in ids if consent.get(i) == "opted_out" and i not in have]
        new = [i for i in ids if i not in have and consent.get(i) != "opted_out"
               and i not in held]  # fmt: skip
        taken: set[str] = set()
        rows = [
            {"campaign_id": c.id, "contact_id": i, "code": _new_code(db, pre, length, taken),
             "discount_pct": disc.pct, "discount_minor": disc.minor, "currency": disc.currency,
             "issued_at": tx.at}
            for i in new
        ]  # fmt: skip
        if rows:
            tx.insert_many("coupons", rows)
    return Issued(c.name, len(rows), len([i for i in ids if i in have]), len(opted),
                  len([i for i in ids if i in held and i not in have]))  # fmt: skip


def list_coupons(db: Db, campaign: str) -> list[dict]:
    """The campaign's coupons with each recipient's name, email and postal address."""
    from crm_cli.domain import campaigns

    c = campaigns.get(db, campaign)
    return [to_dict(r) for r in store.by_campaign(db, c.id)]


def find(db: Db, code: str) -> dict:
    """The coupon row with this code (any case); NotFound if we did not issue it."""
    text = (code or "").strip()
    if not text:
        raise InvalidInput("empty coupon code")
    row = store.by_code(db, text)
    if row is None:
        raise NotFound(f"no coupon with code {text!r}; see crm coupon list CAMPAIGN")
    return row


def show(db: Db, code: str) -> dict[str, Any]:
    """One coupon with the orders that used it."""
    row = find(db, code)
    d = to_dict(row)
    d["orders"] = [
        {**o, "used_by_other": o["contact_id"] != row["contact_id"]}
        for o in store.orders_of(db, row["code"])
    ]
    return d


def for_order(db: Db, code: str | None, total_minor: int, currency: str) -> tuple[str | None, int]:
    """The stored code and the discount it gives on an order (None, 0 without a code)."""
    if code is None or not code.strip():
        return None, 0
    row = find(db, code)
    return row["code"], _discount(row).of(total_minor, currency)
