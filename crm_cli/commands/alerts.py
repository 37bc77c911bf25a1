"""crm alerts: stale deals, overdue follow-ups, customers at risk, tickets past due -- once each."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from crm_cli.commands._common import JsonOpt, open_db
from crm_cli.commands._cron import mail_settings, report, signals_as_errors, tty_note, write_out
from crm_cli.domain import alerts

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
    to, smtp = mail_settings(mail, dry_run)
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

        def digest() -> tuple[str, str]:
            lines = alerts.digest_lines(found, run.more)
            return alerts.subject(found), f"Alerts for {run.recipient}:\n\n" + "\n".join(lines)

        report(count=len(found), what="alerts", stays="stay new", as_json=as_json,
               json_=json_, mail=mail, to=to, smtp=smtp, dry_run=dry_run, digest=digest,
               tables=lambda: alert_tables(run), releases=[lambda: alerts.release(db, run)])  # fmt: skip


def alert_tables(run: alerts.AlertRun) -> None:
    """The alerts of a run as a table, and a note when a kind had more than one run reports."""
    from crm_cli.commands._output import emit_list, note

    emit_list([alert_row(a) for a in run.alerts], ALERT_COLUMNS, "table",
              title=f"Alerts for {run.recipient} ({len(run.alerts)})")  # fmt: skip
    if run.more:
        sys.stdout.flush()
        note(alerts.more_note(run.more))
