"""The root command: global options, one sub-app per noun, and the error mapping."""

from __future__ import annotations

import importlib
import sqlite3
import sys
from typing import Annotated

import typer
from typer.core import TyperGroup

from crm_cli import __version__
from crm_cli.commands._common import noun_app, state
from crm_cli.errors import EXIT_BUSY, EXIT_USER, CrmError

# Sub-commands load on first use: `crm contact list` imports and builds only the
# contact module, not every noun's (measured in bench/startup.py).
# name -> (module, attribute): a Typer sub-app, or a function for a single command.
COMMANDS: dict[str, tuple[str, str]] = {
    "contact": ("crm_cli.commands.contact", "app"),
    "org": ("crm_cli.commands.org", "app"),
    "pipeline": ("crm_cli.commands.pipeline", "app"),
    "deal": ("crm_cli.commands.deal", "app"),
    "log": ("crm_cli.commands.log", "app"),
    "timeline": ("crm_cli.commands.log", "timeline_cmd"),
    "followup": ("crm_cli.commands.followup", "app"),
    "remind": ("crm_cli.commands.remind", "remind_cmd"),
    "ticket": ("crm_cli.commands.ticket", "app"),
    "order": ("crm_cli.commands.order", "app"),
    "segment": ("crm_cli.commands.segment", "app"),
    "import": ("crm_cli.commands.import_", "app"),
    "export": ("crm_cli.commands.export", "export_cmd"),
    "search": ("crm_cli.commands.search", "search_cmd"),
    "history": ("crm_cli.commands.history", "history_cmd"),
    "undo": ("crm_cli.commands.history", "undo_cmd"),
    "user": ("crm_cli.commands.user", "app"),
    "team": ("crm_cli.commands.user", "team_app"),
    "config": ("crm_cli.commands.config", "app"),
    "demo": ("crm_cli.commands.demo", "demo_cmd"),
    "dash": ("crm_cli.commands.dash", "dash_cmd"),
    "report": ("crm_cli.commands.report", "app"),
    "target": ("crm_cli.commands.target", "app"),
    "alerts": ("crm_cli.commands.alerts", "alerts_cmd"),
    "campaign": ("crm_cli.commands.campaign", "app"),
    "coupon": ("crm_cli.commands.coupon", "app"),
    "hooks": ("crm_cli.commands.hooks", "app"),
    "dump": ("crm_cli.commands.dump", "dump_cmd"),
    "load": ("crm_cli.commands.dump", "load_cmd"),
    "doctor": ("crm_cli.commands.doctor", "doctor_cmd"),
    "db": ("crm_cli.commands.db", "app"),
}


class CrmGroup(TyperGroup):
    """Load sub-commands lazily; turn user mistakes into one error line and an exit code."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name]
        obj = getattr(importlib.import_module(module), attr)
        if not isinstance(obj, typer.Typer):
            single = noun_app("")
            single.command(name)(obj)
            obj = single
        cmd = typer.main.get_command(obj)
        cmd.name = name
        return cmd

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CrmError as e:
            _fail(str(e), e.exit_code)
        except sqlite3.OperationalError as e:
            msg = str(e)
            if "locked" in msg or "busy" in msg:
                _fail("database is locked by another writer; try again", EXIT_BUSY)
            if "readonly" in msg or "read-only" in msg:
                _fail(f"cannot write the database: {msg}", EXIT_USER)
            raise
        except UnicodeError as e:
            _fail(f"input is not valid UTF-8 text ({e.__class__.__name__})", EXIT_USER)
        except BrokenPipeError:
            # stdout closed early (crm ... | head): not an error.
            sys.stderr.close()
            raise typer.Exit(0) from None


def _fail(message: str, code: int):
    print(f"crm: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


app = typer.Typer(
    cls=CrmGroup,
    help="A terminal CRM for power users: contacts, deals, activities, follow-ups, tickets and orders in one SQLite file.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool):
    if value:
        print(f"crm {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db", metavar="PATH", help="Database file (default: $CRM_DB, else the user data dir)."
        ),
    ] = None,
    as_: Annotated[
        str | None,
        typer.Option(
            "--as",
            metavar="USER",
            help="Act as this user (name or email; default: $CRM_USER, config).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
):
    """A terminal CRM for power users: contacts, deals, activities, follow-ups, tickets and orders in one SQLite file."""
    st = state(ctx)
    if db is not None and not db.strip():
        _fail("--db needs a path (an empty one would mean the default database)", EXIT_USER)
    st.db_path = db
    st.actor = as_


def main() -> None:
    app()
