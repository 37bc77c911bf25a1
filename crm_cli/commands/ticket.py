"""crm ticket: customer service tickets whose comments share the contact's timeline."""

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
from crm_cli.domain import tickets

app = noun_app("Customer service tickets: open, list, show, assign, status, comment, close.")

LIST_COLUMNS = [("id", "id"), ("status", "status"), ("priority", "priority"),
                ("subject", "subject"), ("contact", "contact"), ("org", "org"),
                ("assignee", "assignee"), ("due_at", "due"), ("overdue", "overdue")]  # fmt: skip
COMMENT_COLUMNS = [("id", "id"), ("occurred_at", "at"), ("direction", "dir"),
                   ("actor", "by"), ("body", "text")]  # fmt: skip

TicketId = Annotated[int, typer.Argument(help="Ticket id.", min=1, max=2**63 - 1)]
TicketFilters = Annotated[
    list[str] | None,
    typer.Argument(
        help="Filter expressions, ANDed; see the filter language in README.md. E.g. "
        "status:pending priority:high 'due<now' contact~garc assignee:maria.",
    ),
]
# Instants a person reads in the tables, shown in local time (JSON and CSV keep UTC text).
TIME_KEYS = ("due_at", "first_response_at", "resolved_at", "closed_at", "created_at",
             "updated_at")  # fmt: skip


def _opt(*names: str, help: str, metavar: str | None = None):
    return typer.Option(*names, help=help, metavar=metavar)


def _local(row: dict, keys=TIME_KEYS) -> dict:
    """A copy of a row with its instants in local time, for a table."""
    from crm_cli.commands._output import local_time

    return {**row, **{k: local_time(row[k]) for k in keys if k in row}}


def _print(t: tickets.Ticket, json_: bool) -> None:
    """What a writing command prints: the id, or the ticket with --json."""
    print(json.dumps(t.to_dict(), ensure_ascii=False, indent=2) if json_ else t.id)


@app.command("open")
def open_cmd(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="What the ticket is about.")],
    contact: Annotated[
        str | None, _opt("--contact", "-c", help="Contact: id, email, name or filter.")
    ] = None,
    org: Annotated[str | None, _opt("--org", help="Organization (default: the contact's).")] = None,
    channel: Annotated[
        str | None, _opt("--channel", help="Where it came in: email, phone, chat, web...")
    ] = None,
    priority: Annotated[
        str, _opt("--priority", "-p", help="low, normal, high or urgent.")
    ] = "normal",
    type_: Annotated[
        str | None, _opt("--type", help="Kind: complaint, question, suggestion...")
    ] = None,
    assign: Annotated[str | None, _opt("--assign", help="Assignee (a team member).")] = None,
    body: Annotated[
        str | None,
        _opt("--body", "-m", help="What the customer wrote (the first comment; may span lines)."),
    ] = None,
    json_: JsonOpt = False,
):
    """Open a ticket and print its id; it is due after the priority's response target."""
    db = open_db(ctx)
    t = tickets.open_ticket(
        db, subject, contact=contact, org=org, channel=channel, priority=priority, type=type_,
        assign=assign, body=body,
    )  # fmt: skip
    _print(t, json_)


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    filters: TicketFilters = None,
    all_: Annotated[bool, _opt("--all", "-a", help="Include resolved and closed tickets.")] = False,
    json_: JsonOpt = False,
    ndjson: NdjsonOpt = False,
    csv_: CsvOpt = False,
    limit: LimitOpt = None,
    sort: SortOpt = None,
):
    """List tickets, soonest due first (active ones unless --all or a status filter), local times."""
    from crm_cli.commands._output import emit_list, fmt_choice

    fmt = fmt_choice(json_, ndjson, csv_)
    db = open_db(ctx, must_exist=True)
    found = tickets.list_tickets(db, filters, all_=all_, sort=parse_sort(sort), limit=limit)
    rows = [t.to_dict() for t in found]
    if fmt == "table":
        rows = [_local(r) for r in rows]
    emit_list(rows, LIST_COLUMNS, fmt, keys=tickets.JSON_KEYS)


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    ticket_id: TicketId,
    json_: JsonOpt = False,
    ndjson: NdjsonOpt = False,
    csv_: CsvOpt = False,
):
    """Show a ticket with its comments, oldest first; times in local time (--json keeps UTC)."""
    from crm_cli.commands._output import emit_object, fmt_choice

    fmt = fmt_choice(json_, ndjson, csv_)
    db = open_db(ctx, must_exist=True)
    t = tickets.get(db, ticket_id).to_dict()
    comments = [a.to_dict() for a in tickets.comments(db, ticket_id)]
    if fmt in ("json", "ndjson"):
        emit_object({**t, "comments": comments}, fmt)
        return
    if fmt == "csv":
        emit_object(t, fmt)
        return
    comments = [_local(c, ("occurred_at",)) for c in comments]
    emit_object(
        _local(t), "table", sections=[(f"Comments ({len(comments)})", comments, COMMENT_COLUMNS)]
    )


@app.command("assign")
def assign_cmd(
    ctx: typer.Context,
    ticket_id: TicketId,
    user: Annotated[str, typer.Argument(help="Team member's name or email ('' unassigns).")],
    json_: JsonOpt = False,
):
    """Assign a ticket to a team member."""
    _print(tickets.assign(open_db(ctx, must_exist=True), ticket_id, user), json_)


@app.command("status")
def status_cmd(
    ctx: typer.Context,
    ticket_id: TicketId,
    status: Annotated[
        str, typer.Argument(help="new, open, pending, resolved or closed.", metavar="STATUS")
    ],
    json_: JsonOpt = False,
):
    """Change a ticket's status (resolved stamps resolved_at; reopening clears it)."""
    _print(tickets.set_status(open_db(ctx, must_exist=True), ticket_id, status), json_)


@app.command("comment")
def comment_cmd(
    ctx: typer.Context,
    ticket_id: TicketId,
    text: Annotated[str, typer.Argument(help="The comment; it may span several lines.")],
    direction: Annotated[
        str,
        _opt("--direction", "-d", help="out: staff answering (default); in: the customer wrote."),
    ] = "out",
    internal: Annotated[
        bool, _opt("--internal", help="An internal note, not a message to or from the customer.")
    ] = False,
    json_: JsonOpt = False,
):
    """Add a comment to a ticket (an activity on the contact's timeline); print the ticket id."""
    db = open_db(ctx, must_exist=True)
    tickets.comment(db, ticket_id, text, direction=direction, internal=internal)
    _print(tickets.get(db, ticket_id), json_)


@app.command("close")
def close_cmd(
    ctx: typer.Context,
    ticket_id: TicketId,
    satisfaction: Annotated[
        str | None,
        _opt(
            "--satisfaction",
            "-s",
            help="The customer's score, 1 (bad) to 5 (great).",
            metavar="1-5",
        ),
    ] = None,
    json_: JsonOpt = False,
):
    """Close a ticket (resolving it if it was not), with an optional satisfaction score."""
    _print(
        tickets.close(open_db(ctx, must_exist=True), ticket_id, satisfaction=satisfaction), json_
    )


@app.command("edit")
def edit_cmd(
    ctx: typer.Context,
    ticket_id: TicketId,
    subject: Annotated[str | None, _opt("--subject", help="New subject.")] = None,
    priority: Annotated[
        str | None, _opt("--priority", "-p", help="low, normal, high or urgent (recomputes due).")
    ] = None,
    type_: Annotated[str | None, _opt("--type", help="Kind ('' clears).")] = None,
    channel: Annotated[str | None, _opt("--channel", help="Channel ('' clears).")] = None,
    contact: Annotated[str | None, _opt("--contact", "-c", help="Contact ('' clears).")] = None,
    org: Annotated[str | None, _opt("--org", help="Organization ('' clears).")] = None,
    due: Annotated[
        str | None, _opt("--due", help="Due time, e.g. 'tomorrow 9am' ('' clears).")
    ] = None,
    json_: JsonOpt = False,
):
    """Change a ticket's subject, priority, type, channel, contact, organization or due time."""
    t = tickets.edit(
        open_db(ctx, must_exist=True), ticket_id, subject=subject, priority=priority, type=type_,
        channel=channel, contact=contact, org=org, due=due,
    )  # fmt: skip
    _print(t, json_)
