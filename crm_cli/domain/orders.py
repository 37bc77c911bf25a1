"""Orders (B2C / e-commerce purchases) tied to contacts: the basis of RFM analysis.

An order has a unique number, a date, a status (paid, refunded, cancelled), a currency
and lines; its total is the sum of its lines, in integer minor units. Lines are typed
``SKU:QTY:UNIT_PRICE`` or ``SKU:QTY:UNIT_PRICE:DESCRIPTION`` (the description may hold
colons; the SKU may be empty when a description says what the line is). A contact's
order count, last order date and spend are derived from its paid orders by storage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_cli.domain import money, validate
from crm_cli.errors import Conflict, InvalidInput, NotFound
from crm_cli.storage import orders as store
from crm_cli.storage.db import Db, transaction

STATUSES = ("paid", "refunded", "cancelled")
LINE_FORMAT = "SKU:QTY:UNIT_PRICE[:DESCRIPTION], e.g. SKU1:2:19.99"
# An order's total (and so each line's) is capped far below SQLite's 64-bit integers, so
# summing a contact's orders in SQL (spend, RFM) cannot overflow: about 900,000 orders at
# the cap still fit. 10**13 minor units is 100,000,000,000.00 EUR.
MAX_TOTAL_MINOR = 10**13
MAX_QUANTITY = 10**9


@dataclass(frozen=True, slots=True)
class Line:
    """One order line as typed: quantity and unit price in minor units of the order's currency."""

    sku: str | None
    quantity: int
    unit_minor: int
    description: str | None = None

    @property
    def total_minor(self) -> int:
        return self.quantity * self.unit_minor


@dataclass(frozen=True, slots=True)
class Order:
    id: int
    number: str
    contact_id: int
    contact: str | None
    order_date: str
    status: str
    total: str
    total_minor: int
    currency: str
    lines: tuple[dict, ...]
    source: str | None
    created_at: str
    updated_at: str
    coupon_code: str | None = None
    discount: str | None = None
    discount_minor: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in JSON_KEYS}
        d["lines"] = [dict(x) for x in self.lines]
        return d


JSON_KEYS = tuple(Order.__dataclass_fields__)
LINE_KEYS = ("sku", "description", "quantity", "unit_price", "unit_minor", "total", "total_minor")


def _q(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def parse_line(text: str, currency: str) -> Line:
    """Read ``SKU:QTY:UNIT_PRICE[:DESCRIPTION]``; the price is in the order's currency."""
    if not isinstance(text, str):
        raise InvalidInput(f"an order line must be text, not {type(text).__name__}")
    shown = _q(text.strip())
    parts = text.split(":", 3)
    if len(parts) < 3:
        raise InvalidInput(f"order line {shown}: write {LINE_FORMAT}")
    sku_text, qty_text, price_text = (p.strip() for p in parts[:3])
    description = validate.text(parts[3]) if len(parts) == 4 else None
    sku = validate.text(sku_text)
    if sku is None and description is None:
        raise InvalidInput(f"order line {shown}: give a SKU or a description; {LINE_FORMAT}")
    if sku is not None and (len(sku) > 100 or any(c.isspace() and c != " " for c in sku)):
        raise InvalidInput(f"order line {shown}: the SKU must be one short line of text")
    if not (qty_text.isascii() and qty_text.isdigit()):
        raise InvalidInput(
            f"order line {shown}: the quantity must be a whole number, not {_q(qty_text)}"
        )
    quantity = int(qty_text)
    if quantity <= 0:
        raise InvalidInput(f"order line {shown}: the quantity must be at least 1")
    if quantity > MAX_QUANTITY:
        raise InvalidInput(f"order line {shown}: the quantity {quantity} is too large")
    if not price_text:
        raise InvalidInput(f"order line {shown}: missing the unit price; {LINE_FORMAT}")
    try:
        unit = money.parse(price_text, currency)
    except InvalidInput as e:
        raise InvalidInput(f"order line {shown}: {e}") from None
    if unit < 0:
        raise InvalidInput(f"order line {shown}: the unit price cannot be negative")
    if quantity * unit > MAX_TOTAL_MINOR:
        raise InvalidInput(
            f"order line {shown}: the line total is too large (at most {_max_total(currency)})"
        )
    return Line(sku, quantity, unit, description)


def _max_total(currency: str) -> str:
    return f"{money.format(MAX_TOTAL_MINOR, currency)} {currency.strip().upper()}"


def format_line(line: Line, currency: str) -> str:
    """Write a line back in the form ``parse_line`` reads."""
    out = f"{line.sku or ''}:{line.quantity}:{money.format(line.unit_minor, currency)}"
    return out + (f":{line.description}" if line.description is not None else "")


def _currency(code: str | None) -> str:
    from crm_cli import config

    text = code if code is not None else (config.get("money.currency") or "EUR")
    money.exponent(text)  # InvalidInput for anything but a known ISO 4217 code
    return text.strip().upper()


def _status(value: str) -> str:
    v = (value or "").strip().lower()
    if v not in STATUSES:
        raise InvalidInput(f"order status must be one of {', '.join(STATUSES)}, not '{value}'")
    return v


def _number(value: str) -> str:
    n = validate.text(value)
    if not n:
        raise InvalidInput("an order needs a number (--number A-1001)")
    if len(n) > 64 or any(c.isspace() and c != " " for c in n):
        raise InvalidInput(f"order number {_q(n)} must be one short line of text")
    return n


def load(db: Db, rows: list[dict]) -> list[Order]:
    lines = store.lines_of(db, [r["id"] for r in rows])
    out = []
    for r in rows:
        cur = r["currency"]
        out.append(
            Order(
                id=r["id"], number=r["number"], contact_id=r["contact_id"], contact=r["contact"],
                order_date=r["order_date"], status=r["status"],
                total=money.format(r["total_minor"], cur), total_minor=r["total_minor"],
                currency=cur,
                lines=tuple(
                    {
                        "sku": x["sku"], "description": x["description"], "quantity": x["quantity"],
                        "unit_price": money.format(x["unit_minor"], cur), "unit_minor": x["unit_minor"],
                        "total": money.format(x["total_minor"], cur), "total_minor": x["total_minor"],
                    }
                    for x in lines[r["id"]]
                ),
                source=r["source"], created_at=r["created_at"], updated_at=r["updated_at"],
                coupon_code=r.get("coupon_code"),
                discount=money.format(r.get("discount_minor") or 0, cur),
                discount_minor=r.get("discount_minor") or 0,
            )
        )  # fmt: skip
    return out


def get(db: Db, order_id: int) -> Order:
    row = store.get(db, order_id)
    if row is None:
        raise NotFound(f"no order with id {order_id}")
    return load(db, [row])[0]


def resolve(db: Db, ref: str) -> int:
    """An order's id from '#12' (always the id), a quoted '"1001"' (always the number), or a
    bare reference: its number ('A-1001'), or an id when all digits; a bare '12' that is
    one order's id and another order's number is refused as ambiguous."""
    from crm_cli.domain.selectors import MAX_ID, as_id, unquote

    sel = (ref or "").strip()
    if not sel:
        raise InvalidInput("empty order reference: give an id or an order number")
    if sel.startswith("#"):
        oid = as_id(sel[1:])
        if oid is not None and oid <= MAX_ID and store.get(db, oid) is not None:
            return oid
        raise NotFound(f"no order with id {sel}")
    number = unquote(sel)
    if number is not None:
        number = number.strip()
        if not number:
            raise InvalidInput("empty order number in quotes")
        found = store.id_by_number(db, number)
        if found is None:
            raise NotFound(f"no order with number {number}")
        return found
    oid = as_id(sel)
    by_id = oid if oid is not None and oid <= MAX_ID and store.get(db, oid) else None
    by_number = store.id_by_number(db, sel)
    if by_id is not None and by_number is not None and by_id != by_number:
        own = store.get(db, by_id)["number"]
        raise InvalidInput(
            f"'{sel}' is order id {by_id} (number {own}) and also the number of order "
            f"{by_number}; write #{by_id} for the id or '\"{sel}\"' for the number"
        )
    found = by_id if by_id is not None else by_number
    if found is None:
        raise NotFound(f"no order with id or number {sel}")
    return found


def add(
    db: Db,
    *,
    contact: str,
    number: str,
    lines: Iterable[str],
    date: str | None = None,
    currency: str | None = None,
    status: str = "paid",
    source: str | None = None,
    coupon: str | None = None,
    now: datetime | None = None,
) -> Order:
    """Record an order with its lines as one change set; the total is the sum of the lines.

    A coupon must be one we issued (any case); its discount on the total is recorded."""
    from crm_cli.domain import dates, selectors

    number = _number(number)
    code = _currency(currency)
    status = _status(status)
    source = validate.text(source)
    order_date = dates.parse_date(date if date is not None else "today", now=now)
    parsed = [parse_line(text, code) for text in lines]
    if not parsed:
        raise InvalidInput(f"an order needs at least one --line {LINE_FORMAT}")
    total = sum(x.total_minor for x in parsed)
    if total > MAX_TOTAL_MINOR:
        raise InvalidInput(f"the order total is too large (at most {_max_total(code)})")
    (contact_id,) = selectors.contacts(db, contact)
    from crm_cli.domain import coupons

    coupon_code, discount = coupons.for_order(db, coupon, total, code)
    with transaction(db, f"order add {number}"[:120]) as tx:
        existing = store.id_by_number(db, number)  # case-insensitive, like the schema
        if existing is not None:
            held = store.get(db, existing)["number"]
            same = "" if held == number else f" as {held}"
            raise Conflict(f"order number {number} already exists{same} (order {existing})")
        oid = tx.insert(
            "orders",
            {
                "contact_id": contact_id, "number": number, "order_date": order_date,
                "status": status, "total_minor": total, "currency": code, "source": source,
                "coupon_code": coupon_code, "discount_minor": discount,
                "created_at": tx.at, "updated_at": tx.at,
            },
        )  # fmt: skip
        for pos, x in enumerate(parsed, 1):
            tx.insert(
                "order_lines",
                {
                    "order_id": oid, "position": pos, "sku": x.sku, "description": x.description,
                    "quantity": x.quantity, "unit_minor": x.unit_minor, "total_minor": x.total_minor,
                },
            )  # fmt: skip
    return get(db, oid)


def set_status(db: Db, ref: str, status: str) -> Order:
    """Mark an order paid, refunded or cancelled (only paid orders count as spend)."""
    status = _status(status)
    oid = resolve(db, ref)
    with transaction(db, f"order status {oid} {status}") as tx:
        current = store.get(db, oid)
        if current is None:
            raise NotFound(f"no order with id {oid}")
        if current["status"] != status:
            tx.update("orders", oid, {"status": status, "updated_at": tx.at})
    return get(db, oid)


def delete(db: Db, ref: str) -> int:
    """Delete an order with its lines (crm undo brings it back); return its id."""
    oid = resolve(db, ref)
    with transaction(db, f"order delete {oid}") as tx:
        if store.get(db, oid) is None:
            raise NotFound(f"no order with id {oid}")
        for line_id in store.line_ids(db, oid):
            tx.delete("order_lines", line_id)
        tx.delete("orders", oid)
    return oid


def _enums(node):
    """Check status values, so status:piad is an error instead of nothing found."""
    from crm_cli.domain.filters import check_values

    return check_values(node, {"status": _status})


def list_orders(
    db: Db, filter_args: list[str] | None = None, *, sort=None, limit=None, now=None
) -> list[Order]:
    """Orders matching the filters (ANDed), newest first unless sorted."""
    from crm_cli.domain import filters
    from crm_cli.storage import filters as compiled

    where, params = "1", []
    if filter_args:
        node = filters.parse(list(filter_args), compiled.filter_types(store.FIELDS), now=now)
        if node is not None:
            from crm_cli import config

            node = filters.scope_money(_enums(node), "total", config.get("money.currency"))
            where, params = compiled.compile_filter(node, store.FIELDS)
    return load(db, store.select(db, where, params, sort=sort, limit=limit))
