"""crm remind: report what is due exactly once, for cron (exit 10 reported, 0 nothing new)."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Annotated

import typer

from crm_cli.commands._common import JsonOpt, open_db
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
    1 an error (a failed mail or write releases its claims, so the next run reports
    them again), 3 unknown --for user or no database.
    """
    from crm_cli.commands._output import note

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
    with _signals_as_errors():
        _run(db, for_, mail, to, smtp, dry_run, json_)


class _Stopped(BaseException):
    """A termination signal arrived: unwind (releasing claims) instead of dying silently."""


@contextmanager
def _signals_as_errors():
    """Turn SIGTERM/SIGHUP (cron's timeout, systemd stop) into an exception while claiming and
    delivering, so claims of an undelivered report are released; SIGKILL cannot be caught."""
    import signal

    def stop(signum, _frame):
        raise _Stopped(signum)

    sigs = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s]
    try:
        old = {sig: signal.signal(sig, stop) for sig in sigs}
    except ValueError:  # not the main thread: nothing to install
        old = {}
    try:
        yield
    except _Stopped as e:
        raise CrmError(
            f"stopped by signal {e.args[0]}; nothing counts as reported, the next run reports it"
        ) from None
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _write(text: str) -> None:
    """Write the report to stdout and make sure it got there (a full disk, a closed pipe)."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as e:
        raise CrmError(
            f"cannot write the report ({e.strerror or e}); nothing counts as reported, "
            "the next run reports it"
        ) from None


def _run(db, for_, mail, to, smtp, dry_run: bool, json_: bool) -> None:
    from crm_cli.commands._output import emit_list, note

    reminder = followups.remind(db, for_, dry_run=dry_run)
    items = reminder.items
    if not items:
        if json_:
            _write("[]\n")
        _tty_note(f"nothing new due for {reminder.recipient}")
        return
    data = [{**i.to_dict(), "recipient": reminder.recipient} for i in items]
    as_json = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if mail is not None:
        subject, body = followups.digest(reminder)
        if dry_run:
            _write(f"To: {mail}\nSubject: {subject}\n\n{body}")
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
            print(as_json, end="")
        _tty_note(f"mailed {len(items)} items to {to}: {subject}")
        raise typer.Exit(EXIT_REPORTED)

    def show(_r) -> None:
        if json_:
            _write(as_json)
            return
        try:
            emit_list(
                [_row(i) for i in items], COLUMNS, "table",
                title=f"Due for {reminder.recipient} ({len(items)})",
            )  # fmt: skip
            sys.stdout.flush()
        except OSError as e:
            raise CrmError(
                f"cannot write the report ({e.strerror or e}); nothing counts as reported"
            ) from None

    if dry_run:
        show(reminder)
        note("dry run: nothing marked as reported")
    else:
        followups.deliver(db, reminder, show)  # a report that cannot be written is released
    raise typer.Exit(EXIT_REPORTED)
