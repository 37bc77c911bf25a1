"""crm remind: report what is due exactly once, for cron (exit 10 reported, 0 nothing new)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from crm_cli.commands._common import JsonOpt, open_db
from crm_cli.domain import followups
from crm_cli.errors import EXIT_REPORTED

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


def _tty_note(message: str) -> None:
    """A note for people at a terminal only: cron mails any output, so runs stay silent."""
    if sys.stderr.isatty():
        print(message, file=sys.stderr)


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
        bool, typer.Option("--with-alerts", help="Also report alerts (none exist yet).")
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
    1 an error (a failed mail releases its claims, so the next run reports them again).
    """
    from crm_cli.commands._output import emit_list, note

    smtp = to = None
    if mail is not None and not dry_run:
        from crm_cli.io import mail as mailer

        to = mailer.check_address(mail)
        smtp = mailer.settings()  # checked before anything is claimed
    if with_alerts:
        note(
            "no alert rules exist yet (alerts come with the analytics issue); reporting follow-ups only"
        )
    db = open_db(ctx, must_exist=True)
    reminder = followups.remind(db, for_, dry_run=dry_run)
    items = reminder.items
    if not items:
        if json_:
            print("[]")
        _tty_note(f"nothing new due for {reminder.recipient}")
        return
    data = [{**i.to_dict(), "recipient": reminder.recipient} for i in items]
    if mail is not None:
        subject, body = followups.digest(reminder)
        if dry_run:
            print(f"To: {mail}\nSubject: {subject}\n\n{body}", end="")
            note(f"dry run: would mail {len(items)} items to {mail}; nothing marked as reported")
            raise typer.Exit(EXIT_REPORTED)
        from crm_cli.io import mail as mailer

        try:
            followups.deliver(db, reminder, lambda _r: mailer.send(smtp, to, subject, body))
        except mailer.MailFailed as e:
            raise mailer.MailFailed(
                f"{e}; nothing was sent and the {len(items)} items stay due for the next run"
            ) from None
        if json_:
            print(json.dumps(data, ensure_ascii=False, indent=2))
        _tty_note(f"mailed {len(items)} items to {to}: {subject}")
        raise typer.Exit(EXIT_REPORTED)
    if json_:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        emit_list(
            [_row(i) for i in items],
            COLUMNS,
            "table",
            title=f"Due for {reminder.recipient} ({len(items)})",
        )
    if dry_run:
        note("dry run: nothing marked as reported")
    raise typer.Exit(EXIT_REPORTED)
