"""crm remind: report what is due exactly once, for cron (exit 10 reported, 0 nothing new)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from crm_cli.commands._common import JsonOpt, open_db
from crm_cli.commands._cron import mail_settings, report, signals_as_errors, tty_note, write_out
from crm_cli.domain import followups

COLUMNS = [("ref", "id"), ("due", "due"), ("text", "text"), ("about", "about"),
           ("every", "every")]  # fmt: skip


def _row(item: followups.Followup) -> dict:
    about = ", ".join(x for x in (item.contact, item.org, item.deal) if x)
    return {
        "ref": str(item.id) if item.kind == "followup" else f"contact:{item.id}",
        "due": followups.local_text(item.due_at),
        "text": item.text,
        "about": about,
        "every": item.every or "",
    }


def remind_cmd(
    ctx: typer.Context,
    for_: Annotated[
        str | None,
        typer.Option("--for", metavar="USER", help="Whose reminders (default: the acting user)."),
    ] = None,
    mail: Annotated[
        str | None,
        typer.Option("--mail", metavar="TO", help="Send one digest email to TO (smtp.* config)."),
    ] = None,
    with_alerts: Annotated[
        bool,
        typer.Option(
            "--with-alerts",
            help="Also report the recipient's alerts (crm alerts --mine), each once.",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Show what would be reported (and the mail) without marking it."
        ),
    ] = False,
    json_: JsonOpt = False,
):
    """Report due follow-ups and contacts past their cadence, each once per recipient.

    Exit status: 0 nothing new is due, 10 something was reported (or mailed),
    1 an error (a failed mail or write releases its claims, so the next run reports
    them again), 3 unknown --for user or no database.
    """

    to, smtp = mail_settings(mail, dry_run)
    db = open_db(ctx, must_exist=True)
    with signals_as_errors():
        _run(db, for_, mail, to, smtp, dry_run, json_, with_alerts)


def _run(db, for_, mail, to, smtp, dry_run: bool, json_: bool, with_alerts: bool) -> None:
    from crm_cli.commands._output import emit_list

    reminder = followups.remind(db, for_, dry_run=dry_run)
    alert_run = None
    if with_alerts:
        from crm_cli.domain import alerts

        try:
            alert_run = alerts.run(db, for_, mine=True, dry_run=dry_run)
        except BaseException:
            followups.release(db, reminder)
            raise
    items = reminder.items
    found = alert_run.alerts if alert_run is not None else ()
    if not items and not found:
        if json_:
            write_out("[]\n")
        tty_note(f"nothing new due for {reminder.recipient}")
        return
    data = [{**i.to_dict(), "recipient": reminder.recipient} for i in items]
    data += [{**a.to_dict(), "recipient": reminder.recipient} for a in found]
    as_json = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    releases = [lambda: followups.release(db, reminder)]
    if alert_run is not None:
        releases.append(lambda: alerts.release(db, alert_run))

    def tables() -> None:
        if items:
            emit_list([_row(i) for i in items], COLUMNS, "table",
                      title=f"Due for {reminder.recipient} ({len(items)})")  # fmt: skip
        if found:
            if items:
                print()
            from crm_cli.commands.alerts import alert_tables

            alert_tables(alert_run)

    report(count=len(items) + len(found), what="items", stays="stay due", as_json=as_json,
           json_=json_, mail=mail, to=to, smtp=smtp, dry_run=dry_run,
           digest=lambda: _digest(reminder, found, alert_run.more if alert_run else ()),
           tables=tables, releases=releases)  # fmt: skip


def _digest(reminder: followups.Reminder, found, more=()) -> tuple[str, str]:
    """The reminder digest, with the alerts as a section of their own."""
    if not found:
        return followups.digest(reminder)
    from crm_cli.domain import alerts

    lines = alerts.digest_lines(found, more)
    if not reminder.items:
        head = f"Alerts for {reminder.recipient}:\n\n"
        return alerts.subject(found), head + "\n".join(lines)
    subject, body = followups.digest(reminder)
    return f"{subject}; {alerts.subject(found).removeprefix('crm alerts: ')}", (
        body.rstrip("\n") + "\n\n" + "\n".join(lines)
    )
