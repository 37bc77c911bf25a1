"""crm order: purchases tied to contacts (B2C / e-commerce), the basis of RFM analysis."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from crm_cli.commands._common import (
    CsvOpt,
    JsonOpt,
    LimitOpt,
    NdjsonOpt,
    SortOpt,
    noun_app,
    open_db,
    parse_sort,
)
from crm_cli.domain import orders

app = noun_app("Orders (purchases): add, list, show, status, delete.")

LIST_COLUMNS = [("id", "id"), ("number", "number"), ("order_date", "date"),
                ("contact", "contact"), ("status", "status"), ("total", "total"),
                ("currency", "currency"), ("items", "items"), ("source", "source")]  # fmt: skip
LINE_COLUMNS = [("sku", "sku"), ("description", "description"), ("quantity", "qty"),
                ("unit_price", "unit price"), ("total", "total")]  # fmt: skip

OrderRef = Annotated[
    str,
    typer.Argument(
        help="Order number (A-1001) or id; #12 is always the id, '\"12\"' always the number.",
        metavar="ORDER",
    ),
]
OrderFilters = Annotated[
    list[str] | None,
    typer.Argument(
        help="Filter expressions, ANDed; see the filter language in README.md. E.g. "
        "'date>-30d' sku:SKU1 'total>100' status:refunded contact~garc."
    ),
]
# Instants a person reads in the tables, shown in local time (JSON and CSV keep UTC text).
TIME_KEYS = ("created_at", "updated_at")


def _opt(*names: str, help: str, metavar: str | None = None):
    return typer.Option(*names, help=help, metavar=metavar)


def _print(o: orders.Order, json_: bool) -> None:
    """What a writing command prints: the id, or the order with --json."""
    print(json.dumps(o.to_dict(), ensure_ascii=False, indent=2) if json_ else o.id)


@app.command("add")
def add_cmd(
    ctx: typer.Context,
    contact: Annotated[str, _opt("--contact", "-c", help="Who bought: id, email, name or filter.")],
    number: Annotated[str, _opt("--number", help="Order number, unique (A-1001).")],
    line: Annotated[
        list[str],
        _opt(
            "--line",
            "-l",
            help="SKU:QTY:UNIT_PRICE or SKU:QTY:UNIT_PRICE:DESCRIPTION. Repeatable.",
            metavar="LINE",
        ),
    ],
    date: Annotated[
        str | None, _opt("--date", "-d", help="Order date, e.g. 2026-11-01 (default today).")
    ] = None,
    currency: Annotated[
        str | None, _opt("--currency", help="ISO 4217 code (default: config money.currency).")
    ] = None,
    status: Annotated[
        str, _opt("--status", help="paid (default), refunded or cancelled.")
    ] = "paid",
    source: Annotated[
        str | None, _opt("--source", help="Where it was bought: shop, pos, phone...")
    ] = None,
    coupon: Annotated[
        str | None, _opt("--coupon", help="A coupon code we issued (crm coupon issue).")
    ] = None,
    json_: JsonOpt = False,
):
    """Record an order and print its id; the total is the sum of its lines."""
    o = orders.add(
        open_db(ctx), contact=contact, number=number, lines=line, date=date, currency=currency,
        status=status, source=source, coupon=coupon,
    )  # fmt: skip
    _print(o, json_)


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    filters: OrderFilters = None,
    json_: JsonOpt = False,
    ndjson: NdjsonOpt = False,
    csv_: CsvOpt = False,
    limit: LimitOpt = None,
    sort: SortOpt = None,
):
    """List orders matching the filters (ANDed), newest first."""
    from crm_cli.commands._output import emit_list, fmt_choice

    fmt = fmt_choice(json_, ndjson, csv_)
    db = open_db(ctx, must_exist=True)
    rows = [
        o.to_dict() for o in orders.list_orders(db, filters, sort=parse_sort(sort), limit=limit)
    ]
    if fmt == "table":
        for r in rows:
            r["items"] = sum(x["quantity"] for x in r["lines"])
    elif fmt == "csv":
        for r in rows:
            r["lines"] = [orders.format_line(_line(x), r["currency"]) for x in r["lines"]]
    emit_list(rows, LIST_COLUMNS, fmt, keys=orders.JSON_KEYS)


def _line(x: dict) -> orders.Line:
    return orders.Line(x["sku"], x["quantity"], x["unit_minor"], x["description"])


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    ref: OrderRef,
    json_: JsonOpt = False,
    ndjson: NdjsonOpt = False,
    csv_: CsvOpt = False,
):
    """Show one order with its lines; times in local time (--json keeps UTC)."""
    from crm_cli.commands._output import emit_object, fmt_choice

    fmt = fmt_choice(json_, ndjson, csv_)
    db = open_db(ctx, must_exist=True)
    o = orders.get(db, orders.resolve(db, ref)).to_dict()
    if fmt in ("json", "ndjson"):
        emit_object(o, fmt)
        return
    if fmt == "csv":
        o["lines"] = [orders.format_line(_line(x), o["currency"]) for x in o["lines"]]
        emit_object(o, fmt)
        return
    from crm_cli.commands._output import local_time

    lines = o.pop("lines")
    o.update({k: local_time(o[k]) for k in TIME_KEYS})
    emit_object(o, "table", sections=[(f"Lines ({len(lines)})", lines, LINE_COLUMNS)])


@app.command("status")
def status_cmd(
    ctx: typer.Context,
    ref: OrderRef,
    status: Annotated[str, typer.Argument(help="paid, refunded or cancelled.", metavar="STATUS")],
    json_: JsonOpt = False,
):
    """Mark an order paid, refunded or cancelled (only paid orders count as spend)."""
    _print(orders.set_status(open_db(ctx, must_exist=True), ref, status), json_)


@app.command("delete")
def delete_cmd(ctx: typer.Context, ref: OrderRef):
    """Delete an order with its lines and print its id (crm undo brings it back)."""
    print(orders.delete(open_db(ctx, must_exist=True), ref))
