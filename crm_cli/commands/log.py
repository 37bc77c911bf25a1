"""crm log KIND / crm timeline: record interactions on every channel, and read them back."""

from __future__ import annotations

import json
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
from crm_cli.domain import activities

app = noun_app("Log an interaction: call, email, meeting, chat, visit, social, note.")

TIMELINE_COLUMNS = [("id", "id"), ("when", "when"), ("kind", "kind"), ("direction", "dir"),
                    ("with", "with"), ("subject", "subject"), ("outcome", "outcome"),
                    ("duration", "duration"), ("actor", "by")]  # fmt: skip


def _make(kind: str, doc: str):
    def command(
        ctx: typer.Context,
        subject: Annotated[
            str | None, typer.Argument(help="Subject or a one-line summary.")
        ] = None,
        contact: Annotated[
            list[str] | None,
            typer.Option("--contact", "-c", help="Contact id, email or name. Repeatable."),
        ] = None,
        org: Annotated[str | None, typer.Option("--org", help="Organization name or id.")] = None,
        deal: Annotated[str | None, typer.Option("--deal", help="Deal id.")] = None,
        direction: Annotated[
            str | None, typer.Option("--direction", "-d", help="in or out.")
        ] = None,
        body: Annotated[str | None, typer.Option("--body", "-b", help="Longer text.")] = None,
        outcome: Annotated[
            str | None, typer.Option("--outcome", help="What came of it, e.g. 'left voicemail'.")
        ] = None,
        duration: Annotated[
            str | None, typer.Option("--duration", help="How long: 15m, 1h30m, 1:30, 45 (min).")
        ] = None,
        at: Annotated[
            str | None,
            typer.Option("--at", help="When it happened: 'yesterday 16:00', -2h (default: now)."),
        ] = None,
        channel: Annotated[
            str | None,
            typer.Option("--channel", help="Channel details: whatsapp, linkedin, a number..."),
        ] = None,
        json_: JsonOpt = False,
    ):
        a = activities.log(
            open_db(ctx), kind, contacts=contact or [], org=org, deal=deal, direction=direction,
            subject=subject, body=body, outcome=outcome, duration=duration, at=at,
            channel=channel,
        )  # fmt: skip
        if json_:
            print(json.dumps(a.to_dict(), ensure_ascii=False, indent=2))
        else:
            print(a.id)

    command.__doc__ = doc
    return command


for _kind, _doc in [
    ("call", "Log a phone call and print its id."),
    ("email", "Log an email sent or received and print its id."),
    ("meeting", "Log a meeting (one activity, every participant) and print its id."),
    ("chat", "Log a chat conversation and print its id."),
    ("visit", "Log a visit and print its id."),
    ("social", "Log a social media interaction and print its id."),
    ("note", "Log a note and print its id."),
]:
    app.command(_kind)(_make(_kind, _doc))


@app.command("delete")
def delete_cmd(
    ctx: typer.Context,
    activity_id: Annotated[int, typer.Argument(help="Activity id.", min=1, max=2**63 - 1)],
):
    """Delete a logged activity (crm undo brings it back)."""
    activities.delete(open_db(ctx, must_exist=True), activity_id)
    print(activity_id)


def timeline_cmd(
    ctx: typer.Context,
    ref: Annotated[
        str,
        typer.Argument(
            help='Whose timeline: a contact selector, contact:12, org:"Acme SL", deal:7, ticket:3,'
            " all, or thread:ID (the email conversation of activity ID, oldest first)."
        ),
    ],
    filters: filter_args("kind:call 'at>-7d' direction:in 'subject~renov' actor:maria") = None,
    json_: JsonOpt = False,
    ndjson: NdjsonOpt = False,
    csv_: CsvOpt = False,
    limit: LimitOpt = None,
):
    """Show everything that happened with a contact, organization or deal, newest first;
    imported email conversations are grouped, each one oldest first."""
    from crm_cli.commands._output import fmt_choice
    from crm_cli.domain import selectors

    fmt = fmt_choice(json_, ndjson, csv_)
    db = open_db(ctx, must_exist=True)
    kind, sep, rest = ref.strip().partition(":")
    if sep and kind.lower() == "thread":
        aid = selectors.as_id(rest.strip())
        if aid is None:
            from crm_cli.errors import InvalidInput

            raise InvalidInput(f"thread:ID takes an activity id, not '{rest.strip()}'")
        rows = [a.to_dict() for a in activities.thread(db, aid, filters, limit=limit)]
        _emit_timeline(rows, fmt, grouped=False)
        return
    target = None if ref.strip().lower() == "all" else selectors.reference(db, ref)
    if target is not None and target[0] in ("users", "orders"):
        from crm_cli.errors import InvalidInput

        raise InvalidInput(
            f"a timeline belongs to a contact, org, deal or ticket, not {target[0][:-1]} {target[1]}"
        )
    if target is not None and not selectors.record_exists(db, *target):
        from crm_cli.errors import NotFound

        raise NotFound(f"no {target[0][:-1]} with id {target[1]}")
    rows = [a.to_dict() for a in activities.timeline(db, target, filters, limit=limit)]
    _emit_timeline(rows, fmt, grouped=True)


def _emit_timeline(rows: list[dict], fmt: str, *, grouped: bool) -> None:
    from crm_cli.commands._output import emit_list

    if fmt == "table":
        from crm_cli.commands._output import local_time

        for r in rows:
            r["when"] = local_time(r["occurred_at"])
            r["with"] = ", ".join(c["name"] for c in r["contacts"]) or r["org"] or ""
            r["subject"] = r["subject"] or (r["body"] or "")[:60]
        rows = _threads(rows) if grouped else _replies(rows)
    emit_list(rows, TIMELINE_COLUMNS, fmt, keys=activities.JSON_KEYS)


def _threads(rows: list[dict]) -> list[dict]:
    """Table rows with the messages of one email thread together: where its newest message
    is in the (newest first) timeline, oldest first, the replies marked '↳'."""
    groups: dict[str, list[dict]] = {}
    order: list[list[dict]] = []
    for r in rows:
        key = r.get("thread_key")
        if key is None:
            order.append([r])
        elif key in groups:
            groups[key].append(r)
        else:
            groups[key] = [r]
            order.append(groups[key])
    out: list[dict] = []
    for group in order:
        out += _replies(sorted(group, key=lambda r: (r["occurred_at"], r["id"])))
    return out


def _replies(rows: list[dict]) -> list[dict]:
    """A thread's rows, oldest first: the first as it is, the rest marked as replies."""
    for i, r in enumerate(rows):
        if i and r.get("thread_key"):
            r["subject"] = f"↳ {r['subject'] or ''}"
    return rows
