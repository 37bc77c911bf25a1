"""crm alerts: stale deals, overdue follow-ups, customers at risk, tickets past due -- once each."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from crm_cli.commands._common import JsonOpt, open_db
from crm_cli.commands._cron import deliver, signals_as_errors, tty_note, write_out
from crm_cli.domain import alerts
from crm_cli.errors import EXIT_REPORTED, CrmError

ALERT_COLUMNS = [("kind", "alert"), ("ref", "ref"), ("text", "about"), ("detail", "detail"),
                 ("owner", "owner")]  # fmt: skip


def alert_row(a: alerts.Alert) -> dict:
    return {"kind": a.kind, "ref": a.ref, "text": a.text, "detail": a.detail,
            "owner": a.owner or ""}  # fmt: skip


def alerts_cmd(
    ctx: typer.Context,
    for_: Annotated[
        str | None,
        typer.Option("--for", metavar="USER", help="Who is told (default: the acting user)."),
    ] = None,
    mine: Annotated[
        bool,
        typer.Option("--mine", help="Only alerts about the recipient's own records (and unowned)."),
    ] = False,
    mail: Annotated[
        str | None,
        typer.Option("--mail", metavar="TO", help="Send one digest email to TO (smtp.* config)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be reported without marking it.")
    ] = False,
    json_: JsonOpt = False,
):
    """Report stale deals, overdue follow-ups, customers at risk and tickets past due, each
    once per recipient until its condition changes (thresholds: crm config list alerts).

    Exit status: 0 nothing new, 10 something was reported (or mailed), 1 an error (its
    claims are released, so the next run reports it), 3 unknown --for user or no database.
    """
    from crm_cli.commands._output import emit_list, note

    smtp = to = None
    if mail is not None and not dry_run:
        from crm_cli.io import mail as mailer

        to = mailer.check_address(mail)
        smtp = mailer.settings()  # checked before anything is claimed
    db = open_db(ctx, must_exist=True)
    with signals_as_errors():
        run = alerts.run(db, for_, mine=mine, dry_run=dry_run)
        found = run.alerts
        if not found:
            if json_:
                write_out("[]\n")
            tty_note(f"no new alerts for {run.recipient}")
            return
        as_json = json.dumps([{**a.to_dict(), "recipient": run.recipient} for a in found],
                             ensure_ascii=False, indent=2) + "\n"  # fmt: skip
        releases = [lambda: alerts.release(db, run)]
        if mail is not None:
            subject = alerts.subject(found)
            body = f"Alerts for {run.recipient}:\n\n" + "\n".join(
                alerts.digest_lines(found, run.more)
            )
            if dry_run:
                write_out(f"To: {mail}\nSubject: {subject}\n\n{body}")
                note(f"dry run: would mail {len(found)} alerts to {mail}; nothing marked")
                raise typer.Exit(EXIT_REPORTED)
            from crm_cli.io import mail as mailer

            try:
                deliver(lambda: mailer.send(smtp, to, subject, body), releases)
            except mailer.MailFailed as e:
                raise mailer.MailFailed(
                    f"{e}; nothing was sent and the {len(found)} alerts stay new for the next run"
                ) from None
            if json_:
                print(as_json, end="")
            tty_note(f"mailed {len(found)} alerts to {to}: {subject}")
            raise typer.Exit(EXIT_REPORTED)

        def show() -> None:
            if json_:
                write_out(as_json)
                return
            try:
                emit_list([alert_row(a) for a in found], ALERT_COLUMNS, "table",
                          title=f"Alerts for {run.recipient} ({len(found)})")  # fmt: skip
                sys.stdout.flush()
                if run.more:
                    note(alerts.more_note(run.more))
            except OSError as e:
                raise CrmError(
                    f"cannot write the report ({e.strerror or e}); nothing counts as reported"
                ) from None

        if dry_run:
            show()
            note("dry run: nothing marked as reported")
        else:
            deliver(show, releases)
        raise typer.Exit(EXIT_REPORTED)
