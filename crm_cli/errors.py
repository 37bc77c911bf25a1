"""Typed errors with the exit codes every command shares (a leaf module)."""

from __future__ import annotations

# One table of outcome codes for every command; cron scripts rely on these.
EXIT_OK = 0
EXIT_USER = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_BUSY = 4
EXIT_REPORTED = 10
EXIT_PARTIAL = 11


class CrmError(Exception):
    """A user-facing failure: one line on stderr and an exit code."""

    exit_code = EXIT_USER

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(CrmError):
    """Bad input from the user: a value, a filter, a selector."""

    exit_code = EXIT_USER


class Conflict(CrmError):
    """The request clashes with the stored data (e.g. undo over later changes)."""

    exit_code = EXIT_USER


class NotFound(CrmError):
    """Nothing matched a selector or id."""

    exit_code = EXIT_NOT_FOUND


class Busy(CrmError):
    """The database stayed locked by another writer past the timeout."""

    exit_code = EXIT_BUSY
