"""crm target: sales targets per person or team for a month, quarter or year."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from crm_cli.commands._common import CsvOpt, JsonOpt, noun_app, open_db
from crm_cli.domain import targets

app = noun_app("Sales targets: set, list, delete (crm report targets shows attainment).")

COLUMNS = [("id", "id"), ("period", "period"), ("owner", "owner"), ("team", "team"),
           ("amount", "amount"), ("currency", "currency"), ("updated_at", "updated")]  # fmt: skip
KEYS = ("id", "period", "start_date", "end_date", "owner_id", "owner", "team_id", "team",
        "amount", "amount_minor", "currency", "created_at", "updated_at")  # fmt: skip

PeriodArg = Annotated[
    str,
    typer.Option("--period", "-p", metavar="PERIOD",
                 help="A whole month, quarter or year: 2026-03, 2026-Q1, 2026, 'this quarter'."),
]  # fmt: skip


@app.command("set")
def set_cmd(
    ctx: typer.Context,
    period: PeriodArg,
    amount: Annotated[str, typer.Option("--amount", help="The amount to win (50000, 50000 EUR).")],
    owner: Annotated[
        str | None, typer.Option("--owner", help="The person (name or email).")
    ] = None,
    team: Annotated[str | None, typer.Option("--team", help="The team (name).")] = None,
    currency: Annotated[
        str | None, typer.Option("--currency", help="ISO 4217 code (default: money.currency).")
    ] = None,
    json_: JsonOpt = False,
):
    """Set (or adjust) the target of a person or a team for a period and print its id."""
    t, created = targets.set_target(open_db(ctx), owner=owner, team=team, period=period,
                                    amount=amount, currency=currency)  # fmt: skip
    if json_:
        print(json.dumps(t.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(t.id)
    print(f"{'set' if created else 'adjusted'}: {t.owner or 'team ' + str(t.team)} "
          f"{t.period} {t.to_dict()['amount']} {t.currency}", file=sys.stderr)  # fmt: skip


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    period: Annotated[
        str | None, typer.Option("--period", "-p", metavar="PERIOD", help="Only this period.")
    ] = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
):
    """List sales targets (by period, people before teams)."""
    from crm_cli.commands._output import emit_list, fmt_choice

    fmt = fmt_choice(json_, False, csv_)
    rows = [t.to_dict() for t in targets.list_targets(open_db(ctx, must_exist=True), period)]
    rows = [{k: r[k] for k in KEYS} for r in rows]
    emit_list(rows, COLUMNS, fmt, keys=KEYS)


@app.command("delete")
def delete_cmd(ctx: typer.Context, target_id: Annotated[int, typer.Argument(help="Target id.")]):
    """Delete a target and print its id (crm undo brings it back)."""
    print(targets.delete(open_db(ctx, must_exist=True), target_id).id)
