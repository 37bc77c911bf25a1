"""What the cron-facing commands (remind, alerts) share: writing a report for sure,
quiet runs, and termination signals that release what was claimed."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import contextmanager

import typer

from crm_cli.errors import EXIT_REPORTED, CrmError


def tty_note(message: str) -> None:
    """A note for people at a terminal only: cron mails any output, so runs stay silent."""
    if sys.stderr.isatty():
        print(message, file=sys.stderr)


class _Stopped(BaseException):
    """A termination signal arrived: unwind (releasing claims) instead of dying silently."""


@contextmanager
def signals_as_errors():
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


def write_out(text: str) -> None:
    """Write the report to stdout and make sure it got there (a full disk, a closed pipe)."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as e:
        raise CrmError(
            f"cannot write the report ({e.strerror or e}); nothing counts as reported, "
            "the next run reports it"
        ) from None


def deliver(send, releases) -> None:
    """Run ``send()``; if it fails in any way, call every release (claims of a report that
    did not get through) and re-raise."""
    try:
        send()
    except BaseException:
        for release in releases:
            release()
        raise


def mail_settings(mail: str | None, dry_run: bool):
    """(address, SMTP settings) for --mail, checked before anything is claimed."""
    if mail is None or dry_run:
        return None, None
    from crm_cli.io import mail as mailer

    return mailer.check_address(mail), mailer.settings()


def report(
    *, count: int, what: str, stays: str, as_json: str, json_: bool, mail: str | None,
    to, smtp, dry_run: bool, digest: Callable[[], tuple[str, str]],
    tables: Callable[[], None], releases,
) -> None:  # fmt: skip
    """Deliver a claimed report -- printed (``tables`` or ``as_json``) or mailed
    (``digest``: subject and body) -- and exit 10. If it does not get through, the claims
    are released (``releases``) and the error says the items ``stays`` for the next run."""
    from crm_cli.commands._output import note

    if mail is not None:
        subject, body = digest()
        if dry_run:
            write_out(f"To: {mail}\nSubject: {subject}\n\n{body}")
            note(f"dry run: would mail {count} {what} to {mail}; nothing marked as reported")
            raise typer.Exit(EXIT_REPORTED)
        from crm_cli.io import mail as mailer

        try:
            deliver(lambda: mailer.send(smtp, to, subject, body), releases)
        except mailer.MailFailed as e:
            raise mailer.MailFailed(
                f"{e}; nothing was sent and the {count} {what} {stays} for the next run"
            ) from None
        if json_:
            print(as_json, end="")
        tty_note(f"mailed {count} {what} to {to}: {subject}")
        raise typer.Exit(EXIT_REPORTED)

    def show() -> None:
        if json_:
            write_out(as_json)
            return
        try:
            tables()
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
