"""crm deal: deals moving through a pipeline's stages until won or lost."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from crm_cli.commands._common import (
    CsvOpt,
    JsonOpt,
    LimitOpt,
    NdjsonOpt,
    SortOpt,
    filter_args,
    noun_app,
    open_db,
    parse_sort,
)
from crm_cli.domain import deals, selectors

app = noun_app("Deals: add, show, list, edit, move, won, lost, reopen, delete.")

DealArg = Annotated[str, typer.Argument(help="Deal id (or a title matching one deal).")]
Multi = list[str] | None

LIST_COLUMNS = [("id", "id"), ("title", "title"), ("org", "org"), ("amount", "amount"),
                ("currency", "cur"), ("stage", "stage"), ("status", "status"),
                ("expected_close_date", "close"), ("owner", "owner")]  # fmt: skip


def _opt(*names: str, help: str, metavar: str | None = None):
    return typer.Option(*names, help=help, metavar=metavar)


def _emit(d: deals.Deal | None, json_: bool, deal_id: int | None = None) -> None:
    if json_:
        print(json.dumps(d.to_dict() if d else None, ensure_ascii=False, indent=2))
    else:
        print(d.id if d else deal_id)


@app.command("add")
def add_cmd(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(help="What is being sold.")],
    org: Annotated[str | None, _opt("--org", help="Organization name or id.")] = None,
    contact: Annotated[
        str | None, _opt("--contact", help="Contact id, email or name (sets --org if unset).")
    ] = None,
    amount: Annotated[
        str | None, _opt("--amount", help="Amount in major units, e.g. 12000.50 or '500 USD'.")
    ] = None,
    currency: Annotated[
        str | None, _opt("--currency", help="ISO 4217 code (default: config money.currency).")
    ] = None,
    close: Annotated[
        str | None, _opt("--close", help="Expected close date: 2026-12-01, 'in 3 weeks', +30d.")
    ] = None,
    owner: Annotated[str | None, _opt("--owner", help="Owning user (default: you).")] = None,
    stage: Annotated[
        str | None, _opt("--stage", help="Stage name or position (default: the first).")
    ] = None,
    pipeline: Annotated[
        str | None, _opt("--pipeline", help="Pipeline name or id (default: the default).")
    ] = None,
    source: Annotated[str | None, _opt("--source", help="Where the deal came from.")] = None,
    tag: Annotated[Multi, _opt("--tag", "-t", help="Tag. Repeatable.")] = None,
    field: Annotated[
        Multi, _opt("--field", "-f", help="Custom field KEY=VALUE. Repeatable.")
    ] = None,
    json_: JsonOpt = False,
):
    """Add an open deal and print its id."""
    d = deals.add(
        open_db(ctx), title, org=org, contact=contact, amount=amount, currency=currency,
        close=close, owner=owner, stage=stage, pipeline=pipeline, source=source,
        tags=tag or [], fields=field or [],
    )  # fmt: skip
    _emit(d, json_)


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    deal: DealArg,
    json_: JsonOpt = False,
    ndjson: NdjsonOpt = False,
    csv_: CsvOpt = False,
):
    """Show a deal with its stage moves and latest activities."""
    from crm_cli.commands._output import emit_object, fmt_choice
    from crm_cli.domain import activities

    fmt = fmt_choice(json_, ndjson, csv_)
    db = open_db(ctx, must_exist=True)
    did = selectors.deal(db, deal)
    d = deals.get(db, did)
    moves = deals.moves(db, did)
    acts = activities.timeline(db, ("deals", did), limit=10)
    if fmt in ("json", "ndjson"):
        obj = d.to_dict()
        obj["moves"] = [
            {k: m[k] for k in ("moved_at", "from_stage_id", "from_stage", "to_stage_id",
                               "to_stage", "from_status", "to_status", "actor")}
            for m in moves
        ]  # fmt: skip
        obj["activities"] = [a.to_dict() for a in acts]
        emit_object(obj, fmt)
        return
    if fmt == "csv":
        emit_object(d.to_dict(), fmt)
        return
    from crm_cli.commands._output import local_time

    for m in moves:
        m["moved_at"] = local_time(m["moved_at"])
        if m["from_status"] is None:
            m["what"] = f"added at {m['to_stage']}"
        elif m["from_status"] != m["to_status"]:
            m["what"] = f"{m['from_status']} -> {m['to_status']}"
        else:
            m["what"] = f"{m['from_stage']} -> {m['to_stage']}"
    act_rows = [
        {"occurred_at": local_time(a.occurred_at), "kind": a.kind, "subject": a.subject or a.outcome or "",
         "actor": a.actor} for a in acts
    ]  # fmt: skip
    emit_object(
        {k: v for k, v in d.to_dict().items() if k not in ("custom",) or v},
        fmt,
        sections=[
            ("moves", moves, [("moved_at", "when"), ("what", "what"), ("actor", "who")]),
            (
                "activities",
                act_rows,
                [
                    ("occurred_at", "when"),
                    ("kind", "kind"),
                    ("subject", "subject"),
                    ("actor", "who"),
                ],
            ),
        ],  # fmt: skip
    )


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    filters: filter_args(
        "stage:proposal 'close<+30d' owner:maria 'amount>5000' tag:renewal"
    ) = None,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Include won and lost deals.")] = False,
    json_: JsonOpt = False,
    ndjson: NdjsonOpt = False,
    csv_: CsvOpt = False,
    limit: LimitOpt = None,
    sort: SortOpt = None,
):
    """List deals matching the filters (open ones unless --all or a status: filter)."""
    from crm_cli.commands._output import emit_list, fmt_choice

    fmt = fmt_choice(json_, ndjson, csv_)
    db = open_db(ctx, must_exist=True)
    rows = deals.list_deals(db, filters, everything=all_, sort=parse_sort(sort), limit=limit)
    emit_list([d.to_dict() for d in rows], LIST_COLUMNS, fmt, keys=deals.JSON_KEYS)


@app.command("edit")
def edit_cmd(
    ctx: typer.Context,
    deal: DealArg,
    title: Annotated[str | None, _opt("--title", help="Title.")] = None,
    org: Annotated[str | None, _opt("--org", help="Organization ('' unlinks).")] = None,
    contact: Annotated[str | None, _opt("--contact", help="Contact ('' unlinks).")] = None,
    amount: Annotated[str | None, _opt("--amount", help="Amount ('' clears).")] = None,
    currency: Annotated[str | None, _opt("--currency", help="Currency of --amount.")] = None,
    close: Annotated[str | None, _opt("--close", help="Expected close date ('' clears).")] = None,
    owner: Annotated[str | None, _opt("--owner", help="Owning user ('' clears).")] = None,
    source: Annotated[str | None, _opt("--source", help="Source ('' clears).")] = None,
    tag: Annotated[Multi, _opt("--tag", "-t", help="Add a tag. Repeatable.")] = None,
    untag: Annotated[Multi, _opt("--untag", help="Remove a tag. Repeatable.")] = None,
    field: Annotated[
        Multi, _opt("--field", "-f", help="Custom field KEY=VALUE (KEY= removes).")
    ] = None,
    json_: JsonOpt = False,
):
    """Change a deal's fields (use move, won, lost and reopen for its stage and status)."""
    db = open_db(ctx, must_exist=True)
    did = selectors.deal(db, deal)
    e = deals.DealEdit(
        title=title, org=org, contact=contact, amount=amount, currency=currency, close=close,
        owner=owner, source=source, add_tags=tag or [], remove_tags=untag or [], fields=field or [],
    )  # fmt: skip
    d = deals.edit(db, did, e)
    if d is None:
        print(f"deal {did} already had those values", file=sys.stderr)
    _emit(d or deals.get(db, did), json_)


@app.command("move")
def move_cmd(
    ctx: typer.Context,
    deal: DealArg,
    stage: Annotated[str, typer.Argument(help="Stage name, or its 1-based position.")],
    json_: JsonOpt = False,
):
    """Move an open deal to another stage of its pipeline (recorded with time and user)."""
    db = open_db(ctx, must_exist=True)
    did = selectors.deal(db, deal)
    d = deals.move(db, did, stage)
    if d is None:
        d = deals.get(db, did)
        print(f"deal {did} is already at {d.stage}", file=sys.stderr)
    _emit(d, json_)


@app.command("won")
def won_cmd(ctx: typer.Context, deal: DealArg, json_: JsonOpt = False):
    """Mark an open deal won."""
    db = open_db(ctx, must_exist=True)
    _emit(deals.close(db, selectors.deal(db, deal), "won"), json_)


@app.command("lost")
def lost_cmd(
    ctx: typer.Context,
    deal: DealArg,
    reason: Annotated[str | None, _opt("--reason", "-r", help="Why it was lost.")] = None,
    json_: JsonOpt = False,
):
    """Mark an open deal lost, with the reason."""
    db = open_db(ctx, must_exist=True)
    _emit(deals.close(db, selectors.deal(db, deal), "lost", reason=reason), json_)


@app.command("reopen")
def reopen_cmd(ctx: typer.Context, deal: DealArg, json_: JsonOpt = False):
    """Reopen a won or lost deal at the stage it was closed in."""
    db = open_db(ctx, must_exist=True)
    _emit(deals.reopen(db, selectors.deal(db, deal)), json_)


@app.command("delete")
def delete_cmd(
    ctx: typer.Context,
    deal: DealArg,
    cascade: Annotated[
        bool, _opt("--cascade", help="Also delete activities and follow-ups that refer to it.")
    ] = False,
):
    """Delete a deal with its tags and moves (crm undo brings it back)."""
    db = open_db(ctx, must_exist=True)
    did = selectors.deal(db, deal)
    deals.delete(db, did, cascade=cascade)
    print(did)
