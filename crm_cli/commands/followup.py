"""crm followup: tasks with due dates in plain words, recurring rules, snooze and done."""

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
    filter_args,
    noun_app,
    open_db,
)
from crm_cli.domain import followups

app = noun_app("Follow-ups (tasks): add, list, show, done, snooze, edit, delete.")

COLUMNS = [("ref", "id"), ("due", "due"), ("text", "text"), ("about", "about"),
           ("assignee", "assignee"), ("every", "every")]  # fmt: skip
TITLES = {
    "overdue": "Overdue",
    "today": "Today",
    "upcoming": "Upcoming",
    "done": "Done",
}

IdArg = Annotated[int, typer.Argument(help="Follow-up id.", min=1)]
IdsArg = Annotated[list[int], typer.Argument(help="Follow-up ids.", min=1)]
ContactOpt = Annotated[
    str | None, typer.Option("--contact", "-c", help="Contact: id, email or name.")
]
OrgOpt = Annotated[str | None, typer.Option("--org", help="Organization: id or name.")]
DealOpt = Annotated[str | None, typer.Option("--deal", help="Deal: id or title.")]
EveryOpt = Annotated[
    str | None,
    typer.Option(
        "--every",
        metavar="RULE",
        help="Repeat: 2w, 3d, daily, weekly, monthly, weekdays, 'monthly on the 1st',"
        " 'every friday', or an RRULE.",
    ),
]
AssignOpt = Annotated[
    str | None, typer.Option("--assign", metavar="USER", help="Assignee (default: you).")
]


def _print(item: followups.Followup, json_: bool) -> None:
    if json_:
        print(json.dumps(item.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(item.id)


@app.command("add")
def add_cmd(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="What to do.")],
    due: Annotated[
        str,
        typer.Option(
            "--due",
            "-d",
            metavar="WHEN",
            help="When: 'tomorrow 9am', +3d, 'next friday', 'in 2 weeks', 2026-12-01 10:00.",
        ),
    ],
    contact: ContactOpt = None,
    org: OrgOpt = None,
    deal: DealOpt = None,
    every: EveryOpt = None,
    assign: AssignOpt = None,
    json_: JsonOpt = False,
):
    """Add a follow-up and print its id."""
    item = followups.add(
        open_db(ctx), text, due, contact=contact, org=org, deal=deal, every=every, assign=assign
    )
    _print(item, json_)


def _about(item: followups.Followup) -> str:
    parts = [item.contact, item.org if item.org != item.contact else None]
    if item.deal:
        parts.append(f"deal: {item.deal}")
    return ", ".join(p for p in parts if p)


def _table_row(item: followups.Followup) -> dict:
    return {
        "ref": str(item.id) if item.kind == "followup" else f"contact:{item.id}",
        "due": followups.local_text(item.done_at if item.group == "done" else item.due_at),
        "text": item.text,
        "about": _about(item),
        "assignee": item.assignee or "",
        "every": item.every or "",
    }


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    filters: filter_args("text~ana 'due<+2d' assignee:maria has:every status:done") = None,
    mine: Annotated[bool, typer.Option("--mine", help="Only yours (assigned to you).")] = False,
    for_: Annotated[
        str | None, typer.Option("--for", metavar="USER", help="Only this user's.")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", "-a", help="Everything: done ones and all upcoming.")
    ] = False,
    days: Annotated[
        int,
        typer.Option("--days", min=0, help="Upcoming: the next N days (default 14; --all: all)."),
    ] = 14,
    contact: ContactOpt = None,
    org: OrgOpt = None,
    deal: DealOpt = None,
    no_cadence: Annotated[
        bool, typer.Option("--no-cadence", help="Leave out contacts due for a touch.")
    ] = False,
    json_: JsonOpt = False,
    ndjson: NdjsonOpt = False,
    csv_: CsvOpt = False,
    limit: LimitOpt = None,
):
    """List open follow-ups and contacts past their cadence: overdue, today, upcoming.

    Filters narrow the follow-ups (contacts due for a touch are then left out); a filter
    on status (status:done) includes done ones.
    """
    from crm_cli.commands._output import emit_list, fmt_choice, note
    from crm_cli.errors import InvalidInput

    fmt = fmt_choice(json_, ndjson, csv_)
    if mine and for_ is not None:
        raise InvalidInput("give --mine or --for USER, not both")
    db = open_db(ctx, must_exist=True)
    assignee = db.actor if mine else for_
    items = followups.agenda(
        db,
        include_done=all_,
        assignee=assignee,
        contact=contact,
        org=org,
        deal=deal,
        cadence=not no_cadence,
        days=None if all_ else days,
        filter_args=filters,
        limit=limit,
    )
    if not all_ and (limit is None or len(items) < limit):
        later = followups.later_count(
            db, days, assignee=assignee, contact=contact, org=org, deal=deal
        )
        if later:
            note(f"{later} more upcoming after the next {days} days (--days N or --all)")
    if fmt != "table":
        rows = [i.to_dict() for i in items]
        keys = list(followups.Followup.__dataclass_fields__)
        emit_list(rows, COLUMNS, fmt, keys=keys)
        return
    if not items:
        note("nothing to do: no open follow-ups")
        return
    first = True
    for group in followups.GROUPS:
        rows = [_table_row(i) for i in items if i.group == group]
        if not rows:
            continue
        if not first:
            print()
        first = False
        emit_list(rows, COLUMNS, "table", title=f"{TITLES[group]} ({len(rows)})")


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    followup_id: IdArg,
    json_: JsonOpt = False,
):
    """Show one follow-up."""
    from crm_cli.commands._output import emit_object

    item = followups.get(open_db(ctx, must_exist=True), followup_id)
    data = item.to_dict()
    if not json_:
        for key in ("due_at", "done_at", "created_at", "updated_at", "rule_start_at"):
            if data.get(key):
                data[key] = followups.local_text(data[key])
    emit_object(data, "json" if json_ else "table")


@app.command("done")
def done_cmd(ctx: typer.Context, ids: IdsArg, json_: JsonOpt = False):
    """Mark follow-ups done; a recurring one gets its next occurrence (its id on stderr)."""
    from crm_cli.commands._output import note

    results = followups.done(open_db(ctx, must_exist=True), ids)
    if json_:
        out = [{**r.done.to_dict(), "next": r.next.to_dict() if r.next else None} for r in results]
        print(json.dumps(out if len(ids) > 1 else out[0], ensure_ascii=False, indent=2))
    else:
        sys.stdout.write("".join(f"{r.done.id}\n" for r in results))
    for r in results:
        if r.next is not None:
            note(
                f"next: follow-up {r.next.id} due {followups.local_text(r.next.due_at)}"
                f" ({r.next.every})"
            )
        elif r.ended:
            note(f"follow-up {r.done.id} was the last of its series ({r.done.every})")


@app.command("snooze")
def snooze_cmd(
    ctx: typer.Context,
    followup_id: IdArg,
    when: Annotated[
        str, typer.Argument(help="Until when: 2h, +3d, 'tomorrow 9am', 'next monday'.")
    ],
    json_: JsonOpt = False,
):
    """Move a follow-up's due time later (it is reminded again then)."""
    from crm_cli.commands._output import note

    item = followups.snooze(open_db(ctx, must_exist=True), followup_id, when)
    _print(item, json_)
    note(f"follow-up {item.id} now due {followups.local_text(item.due_at)}")


@app.command("edit")
def edit_cmd(
    ctx: typer.Context,
    followup_id: IdArg,
    text: Annotated[str | None, typer.Option("--text", help="New text.")] = None,
    due: Annotated[
        str | None, typer.Option("--due", "-d", metavar="WHEN", help="New due time.")
    ] = None,
    every: Annotated[
        str | None,
        typer.Option("--every", metavar="RULE", help="New repeat rule ('none' stops repeating)."),
    ] = None,
    assign: Annotated[
        str | None, typer.Option("--assign", metavar="USER", help="New assignee.")
    ] = None,
    contact: Annotated[
        str | None, typer.Option("--contact", "-c", help="Contact ('' unlinks).")
    ] = None,
    org: Annotated[str | None, typer.Option("--org", help="Organization ('' unlinks).")] = None,
    deal: Annotated[str | None, typer.Option("--deal", help="Deal ('' unlinks).")] = None,
    json_: JsonOpt = False,
):
    """Change a follow-up's text, due time, repeat rule, assignee or links."""
    item = followups.edit(
        open_db(ctx, must_exist=True),
        followup_id,
        text=text,
        due=due,
        every=every,
        assign=assign,
        contact=contact,
        org=org,
        deal=deal,
    )
    _print(item, json_)


@app.command("delete")
def delete_cmd(ctx: typer.Context, ids: IdsArg):
    """Delete follow-ups (crm undo brings them back)."""
    deleted = followups.delete(open_db(ctx, must_exist=True), ids)
    sys.stdout.write("".join(f"{i}\n" for i in deleted))
