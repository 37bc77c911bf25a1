"""crm coupon: unique codes for a campaign's recipients, for printing or mail merge."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from crm_cli.commands._common import CsvOpt, JsonOpt, NdjsonOpt, noun_app, open_db
from crm_cli.domain import coupons

app = noun_app("Coupons: issue a unique code per campaign recipient, list, show.")

LIST_COLUMNS = [("code", "code"), ("name", "name"), ("email", "email"), ("street", "street"),
                ("postal_code", "postal code"), ("city", "city"), ("country", "country"),
                ("discount", "discount")]  # fmt: skip
ORDER_COLUMNS = [("number", "order"), ("order_date", "date"), ("status", "status"),
                 ("contact", "contact"), ("total_minor", "total minor"),
                 ("discount_minor", "discount minor"), ("currency", "currency"),
                 ("used_by_other", "used by someone else")]  # fmt: skip


@app.command("issue")
def issue_cmd(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Argument(help="Campaign name or id.", metavar="CAMPAIGN")],
    segment: Annotated[
        str, typer.Option("--segment", "-s", help="Segment whose members get codes.")
    ],
    prefix: Annotated[str, typer.Option("--prefix", help="Code prefix, e.g. WKND.")],
    discount: Annotated[
        str | None, typer.Option("--discount", help="10% or an amount off, e.g. '5 EUR'.")
    ] = None,
    length: Annotated[
        int, typer.Option("--length", help="Random characters after the prefix.")
    ] = 8,
):
    """Give each segment member a unique code for the campaign; print how many are new."""
    r = coupons.issue(open_db(ctx), campaign, segment=segment, prefix=prefix, discount=discount,
                      length=length)  # fmt: skip
    print(r.issued)
    held = f", {r.held_out} in the hold-out (skipped)" if r.held_out else ""
    print(f"{r.campaign}: {r.issued} new, {r.kept} already had one, "
          f"{r.opted_out} opted out (skipped){held}", file=sys.stderr)  # fmt: skip


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Argument(help="Campaign name or id.", metavar="CAMPAIGN")],
    json_: JsonOpt = False,
    ndjson: NdjsonOpt = False,
    csv_: CsvOpt = False,
):
    """List a campaign's codes with names, emails and postal addresses (--csv for mail merge)."""
    from crm_cli.commands._output import emit_list, fmt_choice

    fmt = fmt_choice(json_, ndjson, csv_)
    rows = coupons.list_coupons(open_db(ctx, must_exist=True), campaign)
    emit_list(rows, LIST_COLUMNS, fmt, keys=coupons.KEYS)


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="The coupon code (any case).", metavar="CODE")],
    json_: JsonOpt = False,
    ndjson: NdjsonOpt = False,
    csv_: CsvOpt = False,
):
    """Show one coupon: its recipient, discount and the orders that used it."""
    from crm_cli.commands._output import emit_object, fmt_choice

    fmt = fmt_choice(json_, ndjson, csv_)
    d = coupons.show(open_db(ctx, must_exist=True), code)
    if fmt in ("json", "ndjson"):
        emit_object(d, fmt)
        return
    used = d.pop("orders")
    if fmt == "csv":
        d["orders"] = [o["number"] for o in used]
        emit_object(d, fmt)
        return
    emit_object(d, "table", sections=[(f"Orders ({len(used)})", used, ORDER_COLUMNS)])
