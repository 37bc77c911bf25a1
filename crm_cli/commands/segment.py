"""crm segment: saved contact filters (tags, stage, activity, purchases, campaigns)."""

from __future__ import annotations

import sys
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
from crm_cli.domain import segments
from crm_cli.errors import CrmError

app = noun_app("Segments (saved contact filters): add, list, show, count, edit, delete.")

LIST_COLUMNS = [("id", "id"), ("name", "name"), ("count", "contacts"), ("filter", "filter"),
                ("description", "description")]  # fmt: skip
JSON_KEYS = ("id", "name", "filter", "description", "created_at", "updated_at", "count")

SegmentArg = Annotated[str, typer.Argument(help="Segment name or id.", metavar="SEGMENT")]
_FILTER_HELP = (
    "Filter expressions over contacts, ANDed (the filter language in README.md): "
    "tag:vip 'last_activity<-90d' 'orders>=3' 'spent>500' campaign:spring replied:spring."
)
DescriptionOpt = Annotated[
    str | None, typer.Option("--description", "-d", help="What the segment is for.")
]


@app.command("add")
def add_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Segment name (unique, ignoring case).")],
    filters: Annotated[list[str], typer.Argument(help=_FILTER_HELP, metavar="FILTER...")],
    description: DescriptionOpt = None,
):
    """Save a contact filter under a name; print its id."""
    seg = segments.add(open_db(ctx), name, filters, description=description)
    print(seg.id)


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    json_: JsonOpt = False,
    ndjson: NdjsonOpt = False,
    csv_: CsvOpt = False,
):
    """List segments with their filters and how many contacts each matches now."""
    from crm_cli.commands._output import emit_list, fmt_choice, note

    fmt = fmt_choice(json_, ndjson, csv_)
    db = open_db(ctx, must_exist=True)
    rows = []
    for seg in segments.list_segments(db):
        row = seg.to_dict()
        try:
            row["count"] = segments.count(db, seg)
        except CrmError as e:  # one stale filter does not hide the others
            row["count"] = None
            note(str(e))
        rows.append(row)
    emit_list(rows, LIST_COLUMNS, fmt, keys=JSON_KEYS)


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    segment: SegmentArg,
    json_: JsonOpt = False,
    ndjson: NdjsonOpt = False,
    csv_: CsvOpt = False,
    limit: LimitOpt = None,
    sort: SortOpt = None,
):
    """List the contacts in a segment now, as 'crm contact list' does."""
    from crm_cli.commands._output import emit_list, fmt_choice
    from crm_cli.commands.contact import LIST_COLUMNS as CONTACT_COLUMNS
    from crm_cli.domain import contacts

    fmt = fmt_choice(json_, ndjson, csv_)
    db = open_db(ctx, must_exist=True)
    rows = segments.members(db, segment, sort=parse_sort(sort), limit=limit)
    emit_list([c.to_dict() for c in rows], CONTACT_COLUMNS, fmt, keys=contacts.JSON_KEYS)


@app.command("count")
def count_cmd(ctx: typer.Context, segment: SegmentArg):
    """Print how many contacts are in a segment now."""
    print(segments.count(open_db(ctx, must_exist=True), segment))


@app.command("edit")
def edit_cmd(
    ctx: typer.Context,
    segment: SegmentArg,
    filters: Annotated[
        list[str] | None,
        typer.Argument(help="A new filter (replaces the old one). " + _FILTER_HELP),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    description: Annotated[
        str | None, typer.Option("--description", "-d", help="A new description ('' clears).")
    ] = None,
):
    """Change a segment's filter, name or description; print its id."""
    seg = segments.edit(
        open_db(ctx, must_exist=True),
        segment,
        filter_args=filters or None,
        description=description,
        new_name=name,
    )
    print(seg.id)


@app.command("delete")
def delete_cmd(ctx: typer.Context, segment: SegmentArg):
    """Delete a segment no campaign uses; print its id (crm undo brings it back)."""
    sys.stdout.write(f"{segments.delete(open_db(ctx, must_exist=True), segment)}\n")
