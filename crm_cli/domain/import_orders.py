"""Import orders: Chinook invoices with a lines file, UCI Online Retail rows, our own export.

Three shapes of input, told apart by the record:

- an order row whose lines are in another file (Chinook ``Invoice.csv`` with
  ``--lines InvoiceLine.csv``): the lines file is read once per run and grouped by
  invoice number; an invoice whose Total is not the sum of its lines is rejected;
- one row per order line (UCI Online Retail): rows are grouped by their order number,
  also across batches; an invoice ``C…`` (or a negative quantity) is a cancellation,
  recorded as an order with status ``refunded`` whose lines carry positive quantities;
- a JSON order with a ``lines`` list (``crm export orders --format json``).

Customers are found by their id in the source system's family (a Chinook ``CustomerId``
recorded by ``crm import contacts Customer.csv`` as system ``chinook-customers``), else
by email or name. Online Retail has no customer file, so an unknown ``CustomerID``
becomes a minimal contact "Customer 12345" (with the row's country) linked to that id.
A row with no customer is rejected with the reason.

Orders match by number (unique, case-insensitively): re-importing a file changes
nothing; a corrected file updates the order's date, status and lines. An order number
that already belongs to another contact is rejected rather than merged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from crm_cli.domain import money, orders, validate
from crm_cli.domain.imports import ROW_ERRORS, Item, _link_external
from crm_cli.errors import InvalidInput, NotFound
from crm_cli.storage import import_lookup as lookup
from crm_cli.storage import orders as order_store
from crm_cli.storage.db import transaction

# Sources whose customers exist only as ids on the order rows: unknown ids become contacts.
AUTO_CONTACTS = frozenset({"online-retail"})
# The currency a source's prices are in, where its documentation says (UCI: sterling).
CURRENCY = {"online-retail": "GBP"}
_CANCELLATION = re.compile(r"^C\d")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_LINE_KEYS = ("sku", "description", "quantity", "unit_price")


@dataclass
class _Line:
    sku: str | None
    description: str | None
    quantity: int
    unit_minor: int

    def key(self) -> tuple:
        return (self.sku, self.description, self.quantity, self.unit_minor)


@dataclass
class _Row:
    item: Item
    number: str
    contact: str | None
    country: str | None
    order_date: str
    status: str | None
    currency: str
    lines: list[_Line] = field(default_factory=list)
    refund: bool = False  # a line with a negative quantity
    total: int | None = None
    coupon: str | None = None


def write_batch(db, tx, items, opts, res, reject, source=None) -> None:
    """Group the batch's rows into orders and create or update them."""
    st = opts.state.setdefault("orders", {"orders": {}, "contacts": {}})
    system = opts.system or "orders"
    rows: list[_Row] = []
    for item in items:
        try:
            rows.append(_prepare(item, opts, st, system))
        except ROW_ERRORS as e:
            reject(item, str(e))
    groups: dict[str, list[_Row]] = {}
    for r in rows:
        groups.setdefault(r.number.casefold(), []).append(r)
    contacts = _contacts(db, tx, [g[0] for g in groups.values()], st, system, reject)
    found = lookup.orders_by_numbers(
        db, [g[0].number for k, g in groups.items() if k not in st["orders"]]
    )
    last = next(reversed(groups), None)
    for key, group in groups.items():
        head = group[0]
        cid = contacts.get(head.contact or "")
        if cid is None or isinstance(cid, str):
            for r in group:
                reject(r.item, cid or "no customer: the row names none")
            continue
        good: list[_Row] = [head]
        for r in group[1:]:
            if r.contact != head.contact:
                reject(r.item, f"order {head.number} belongs to customer {head.contact}, "
                               f"but this row names {r.contact}")  # fmt: skip
            elif r.currency != head.currency:
                reject(r.item, f"order {head.number} is in {head.currency}, not {r.currency}")
            else:
                good.append(r)
        try:
            with transaction(db, "import row"):
                outcome = _write(db, tx, key, good, cid, found.get(key), st, system,
                                 partial=key == last)  # fmt: skip
        except ROW_ERRORS as e:
            for r in good:
                reject(r.item, str(e))
            continue
        setattr(res, outcome, getattr(res, outcome) + len(good))
        prior = st["orders"][key]
        if outcome == "updated" and prior["unchanged_rows"]:  # earlier batches said unchanged
            res.unchanged -= prior["unchanged_rows"]
            res.updated += prior["unchanged_rows"]
            prior["unchanged_rows"] = 0
        if outcome == "unchanged":
            prior["unchanged_rows"] += len(good)


# ---------------------------------------------------------------- reading rows


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(f"expected text, not {type(value).__name__}")
    return str(value).strip() or None


def _date(text: str | None) -> str:
    if not text:
        raise InvalidInput("an order needs a date")
    m = _DATE.match(text)
    if m:
        try:
            return date.fromisoformat(m.group(1)).isoformat()  # the date as written
        except ValueError:
            raise InvalidInput(f"'{text}' is not a date") from None
    from crm_cli.domain import dates

    return dates.parse_date(text)


def _line(sku, description, quantity, price, currency: str) -> tuple[_Line, bool]:
    """One line from its cells; (line with a positive quantity, whether it was negative)."""
    sku = validate.text(_text(sku))
    description = validate.text(_text(description))
    if sku is None and description is None:
        raise InvalidInput("an order line needs a SKU or a description")
    if sku is not None and len(sku) > 100:
        raise InvalidInput("the SKU must be one short line of text")
    q = _text(quantity)
    if q is None:
        raise InvalidInput("an order line needs a quantity")
    try:
        qty = int(q)
    except ValueError:
        raise InvalidInput(f"the quantity must be a whole number, not '{q}'") from None
    if qty == 0:
        raise InvalidInput("the quantity is 0: a line of nothing")
    if abs(qty) > orders.MAX_QUANTITY:
        raise InvalidInput(f"the quantity {qty} is too large")
    p = _text(price)
    if p is None:
        raise InvalidInput("an order line needs a unit price")
    unit = money.parse(p, currency)
    if unit < 0:
        raise InvalidInput(f"the unit price {p} is negative: an adjustment, not a sale")
    if abs(qty) * unit > orders.MAX_TOTAL_MINOR:
        raise InvalidInput("the line total is too large")
    return _Line(sku, description, abs(qty), unit), qty < 0


def _prepare(item: Item, opts, st: dict, system: str) -> _Row:
    rec = dict(item.record or {})
    number = orders._number(_text(rec.get("number")) or "")
    contact = _text(rec.get("contact"))
    if contact is None and rec.get("contact_id") is not None:
        contact = f"#{_text(rec.get('contact_id'))}"
    if contact is None:
        raise InvalidInput("no customer: the row's customer id is empty, so it cannot be an order")
    currency = orders._currency(_text(rec.get("currency")) or CURRENCY.get(system))
    status = _text(rec.get("status"))
    row = _Row(item, number, contact, _text(rec.get("country")),
               _date(_text(rec.get("date") or rec.get("order_date"))),
               orders._status(status) if status else None, currency)  # fmt: skip
    row.coupon = _text(rec.get("coupon") or rec.get("coupon_code"))
    total = _text(rec.get("total"))
    if isinstance(rec.get("lines"), list):  # our own JSON export
        if not rec["lines"]:
            raise InvalidInput(f"order {number} has no lines")
        for x in rec["lines"]:
            if isinstance(x, str):
                p = orders.parse_line(x, currency)
                row.lines.append(_Line(p.sku, p.description, p.quantity, p.unit_minor))
            elif isinstance(x, dict):
                price = x.get("unit_price")
                if price is None and x.get("unit_minor") is not None:
                    price = money.format(int(x["unit_minor"]), currency)
                line, neg = _line(x.get("sku"), x.get("description"), x.get("quantity"), price,
                                  currency)  # fmt: skip
                row.lines.append(line)
                row.refund |= neg
            else:
                raise InvalidInput("an order line must be an object or SKU:QTY:PRICE text")
    elif any(rec.get(k) not in (None, "") for k in ("quantity", "unit_price")):
        line, row.refund = _line(rec.get("sku"), rec.get("description"), rec.get("quantity"),
                                 rec.get("unit_price"), currency)  # fmt: skip
        row.lines.append(line)
    else:  # an order row whose lines are in the --lines file
        by_number = _lines_file(opts)
        if by_number is None:
            raise InvalidInput(
                f"order {number} has no lines: give the lines file with --lines FILE"
            )
        found = by_number.get(number.casefold())
        if not found:
            name = opts.extra["order_lines"]["name"]
            raise InvalidInput(f"order {number} has no lines in {name}")
        for line_no, rec_or_problem in found:
            if isinstance(rec_or_problem, str):
                raise InvalidInput(f"line {line_no} of the lines file: {rec_or_problem}")
            x = rec_or_problem
            try:
                line, neg = _line(x.get("sku"), x.get("description"), x.get("quantity"),
                                  x.get("unit_price"), currency)  # fmt: skip
            except InvalidInput as e:
                raise InvalidInput(f"line {line_no} of the lines file: {e}") from None
            row.lines.append(line)
            row.refund |= neg
        if total is not None:
            row.total = money.parse(total, currency)
            lines_total = sum(x.quantity * x.unit_minor for x in row.lines)
            if row.total != lines_total:
                raise InvalidInput(
                    f"order {number}: the total {total} is not the sum of its lines"
                    f" ({money.format(lines_total, currency)})"
                )
    return row


def _lines_file(opts) -> dict[str, list[tuple[int, dict | str]]] | None:
    """The --lines file's rows grouped by order number, as the command read it into
    ``opts.extra["order_lines"]``; a file that could not be read rejects the rows needing it."""
    data = opts.extra.get("order_lines")
    if not data:
        return None
    if "error" in data:
        raise InvalidInput(data["error"])
    return data["orders"]


# ---------------------------------------------------------------- customers


def _contacts(db, tx, heads: list[_Row], st: dict, system: str, reject) -> dict[str, int | str]:
    """Contact id per customer reference of these orders, or the reason there is none."""
    from crm_cli.domain import selectors

    memo: dict[str, int | str] = st["contacts"]
    refs = {h.contact for h in heads if h.contact and h.contact not in memo}
    if not refs:
        return memo
    family = system.split("-", 1)[0]
    found = lookup.by_external_ids_family(db, family, "contacts", refs)
    memo.update(found)
    missing = [h for h in heads if h.contact in refs and h.contact not in found]
    create: dict[str, _Row] = {}
    for h in missing:
        ref = h.contact
        if ref in memo or ref in create:
            continue
        if system in AUTO_CONTACTS and ref.isdigit():
            create[ref] = h
        elif ref.isdigit():
            memo[ref] = (
                f"no contact with {family} customer id {ref}: import the customers first"
                f" (crm import contacts Customer.csv)"
            )
        else:
            try:
                memo[ref] = selectors.contacts(db, ref)[0]
            except ROW_ERRORS as e:
                memo[ref] = f"customer {ref}: {e}"
    for ref, h in create.items():
        memo[ref] = _new_contact(db, tx, ref, h.country, system)
    return memo


def _new_contact(db, tx, ref: str, country: str | None, system: str) -> int | str:
    """A minimal contact for a customer known only by its id in the source system."""
    from crm_cli.domain import contacts, settings

    stages = settings.stages(db)
    for where in (country, None):
        try:
            with transaction(db, "import contact"):
                d = contacts.draft(db, f"Customer {ref}", country=where, source=system,
                                   stages=stages)  # fmt: skip
                (cid,) = contacts.write_drafts(db, tx, [d])
                _link_external(db, tx, system, ref, cid)
            return cid
        except ROW_ERRORS as e:
            reason = f"cannot create contact for customer {ref}: {e}"
    return reason


# ---------------------------------------------------------------- writing


def _write(db, tx, key: str, group: list[_Row], cid: int, existing: dict | None, st: dict,
           system: str, *, partial: bool) -> str:  # fmt: skip
    """Create or bring in line one order; 'created', 'updated' or 'unchanged'."""
    head = group[0]
    known = st["orders"].get(key)
    per_line = all(len(r.lines) == 1 and r.total is None for r in group) and not any(
        isinstance((r.item.record or {}).get("lines"), list) for r in group
    )
    lines = [x for r in group for x in r.lines]
    if known is not None and known["per_line"]:
        lines = known["lines"] + lines  # the same order continued in this batch
    refund = any(r.refund for r in group) or (known or {}).get("refund", False)
    if system in AUTO_CONTACTS and _CANCELLATION.match(head.number):
        refund = True
    status = head.status or ("refunded" if refund else "paid")
    total = sum(x.quantity * x.unit_minor for x in lines)
    if total > orders.MAX_TOTAL_MINOR:
        raise InvalidInput(f"order {head.number}: the total is too large")
    order_date = min(r.order_date for r in group)
    if known is not None:
        order_date = min(order_date, known["date"])
    want = {"contact_id": cid, "order_date": order_date, "status": status,
            "total_minor": total, "currency": head.currency}  # fmt: skip
    if known is None and existing is None:
        _with_coupon(db, group, want)
        oid = tx.insert("orders", {"number": head.number, **want, "source": system,
                                   "created_at": tx.at, "updated_at": tx.at})  # fmt: skip
        _insert_lines(tx, oid, lines, 0)
        outcome = "created"
    else:
        oid = known["id"] if known else existing["id"]
        current = existing or order_store.get(db, oid)
        if current is None:
            raise NotFound(f"order {head.number} is gone")
        if current["contact_id"] != cid:
            raise InvalidInput(
                f"order number {current['number']} already exists for another contact"
                f" (order #{oid}); not merged"
            )
        have = order_store.lines_of(db, [oid])[oid]
        have_keys = [(x["sku"], x["description"], x["quantity"], x["unit_minor"]) for x in have]
        want_keys = [x.key() for x in lines]
        if (
            partial
            and per_line
            and len(have_keys) > len(want_keys)
            and (have_keys[: len(want_keys)] == want_keys)
        ):
            # The order may go on in the next batch: leave it until it differs.
            want = {**want, "total_minor": current["total_minor"]}
            want_keys = have_keys
        _with_coupon(db, group, want)
        changed = False
        if have_keys != want_keys:
            k = 0
            while k < min(len(have_keys), len(want_keys)) and have_keys[k] == want_keys[k]:
                k += 1
            for x in have[k:]:
                tx.delete("order_lines", x["id"])
            _insert_lines(tx, oid, lines[k:], k)
            changed = True
        values = {c: v for c, v in want.items() if current[c] != v}
        if values:
            changed = tx.update("orders", oid, values) or changed
        if changed:
            tx.update("orders", oid, {"updated_at": tx.at})
        if known is not None and known["outcome"] == "created":
            outcome = "created"
        else:
            outcome = "updated" if changed else "unchanged"
    st["orders"][key] = {
        "id": oid, "lines": lines if per_line else [], "per_line": per_line, "refund": refund,
        "date": order_date, "outcome": outcome,
        "unchanged_rows": (known or {}).get("unchanged_rows", 0),
    }  # fmt: skip
    return outcome


def _with_coupon(db, group: list[_Row], want: dict) -> None:
    """Add a row's coupon code and the discount it gives (a code we did not issue is refused)."""
    from crm_cli.domain import coupons

    code = next((r.coupon for r in group if r.coupon), None)
    if code is not None:
        want["coupon_code"], want["discount_minor"] = coupons.for_order(
            db, code, want["total_minor"], want["currency"]
        )


def _insert_lines(tx, oid: int, lines: list[_Line], start: int) -> None:
    tx.insert_many("order_lines", [
        {"order_id": oid, "position": pos, "sku": x.sku, "description": x.description,
         "quantity": x.quantity, "unit_minor": x.unit_minor,
         "total_minor": x.quantity * x.unit_minor}
        for pos, x in enumerate(lines, start + 1)
    ])  # fmt: skip
