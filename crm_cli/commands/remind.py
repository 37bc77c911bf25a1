"""crm remind: report what is due exactly once, for cron (exit 10 reported, 0 nothing new)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from crm_cli.commands._common import JsonOpt, open_db
from crm_cli.commands._cron import signals_as_errors, tty_note, write_out
from crm_cli.domain import followups
from crm_cli.errors import EXIT_REPORTED, CrmError

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

    smtp = to = None
    if mail is not None and not dry_run:
        from crm_cli.io import mail as mailer

        to = mailer.check_address(mail)
        smtp = mailer.settings()  # checked before anything is claimed
    db = open_db(ctx, must_exist=True)
    with signals_as_errors():
        _run(db, for_, mail, to, smtp, dry_run, json_, with_alerts)


def _run(db, for_, mail, to, smtp, dry_run: bool, json_: bool, with_alerts: bool) -> None:
    from crm_cli.commands._cron import deliver
    from crm_cli.commands._output import emit_list, note

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
    count = len(items) + len(found)
    if mail is not None:
        subject, body = _digest(reminder, found, alert_run.more if alert_run else ())
        if dry_run:
            write_out(f"To: {mail}\nSubject: {subject}\n\n{body}")
            note(f"dry run: would mail {count} items to {mail}; nothing marked as reported")
            raise typer.Exit(EXIT_REPORTED)
        from crm_cli.io import mail as mailer

        try:
            deliver(lambda: mailer.send(smtp, to, subject, body), releases)
        except mailer.MailFailed as e:
            raise mailer.MailFailed(
                f"{e}; nothing was sent and the {count} items stay due for the next run"
            ) from None
        if json_:
            print(as_json, end="")
        tty_note(f"mailed {count} items to {to}: {subject}")
        raise typer.Exit(EXIT_REPORTED)

    def show() -> None:
        if json_:
            write_out(as_json)
            return
        try:
            if items:
                emit_list(
                    [_row(i) for i in items], COLUMNS, "table",
                    title=f"Due for {reminder.recipient} ({len(items)})",
                )  # fmt: skip
            if found:
                if items:
                    print()
                from crm_cli.commands.alerts import ALERT_COLUMNS, alert_row

                emit_list([alert_row(a) for a in found], ALERT_COLUMNS, "table",
                          title=f"Alerts for {reminder.recipient} ({len(found)})")  # fmt: skip
            sys.stdout.flush()
        except OSError as e:
            raise CrmError(
                f"cannot write the report ({e.strerror or e}); nothing counts as reported"
            ) from None

    if dry_run:
        show()
        note("dry run: nothing marked as reported")
    else:
        deliver(show, releases)  # a report that cannot be written is released
    raise typer.Exit(EXIT_REPORTED)


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
