"""What the cron-facing commands (remind, alerts) share: writing a report for sure,
quiet runs, and termination signals that release what was claimed."""

from __future__ import annotations

import sys
from contextlib import contextmanager

from crm_cli.errors import CrmError


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
