"""What every command shares: the global state, opening the database, common options."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from typing import Annotated

import typer

from crm_cli.errors import InvalidInput


@dataclass
class State:
    db_path: str | None = None
    actor: str | None = None


def noun_app(help: str) -> typer.Typer:
    """A sub-command group with the root's conventions: plain help, -h, no completion flags."""
    return typer.Typer(
        help=help,
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


def state(ctx: typer.Context) -> State:
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


def open_db(ctx: typer.Context, *, must_exist: bool = False):
    """Open the database named by --db / CRM_DB / the default, acting as --as / CRM_USER / config."""
    from crm_cli.domain.session import open_session

    st = state(ctx)
    db = open_session(
        st.db_path,
        actor=st.actor,
        command=shlex.join(["crm", *sys.argv[1:]]),
        must_exist=must_exist,
    )
    ctx.call_on_close(db.close)
    return db


def parse_sort(values: list[str] | None) -> list[tuple[str, bool]]:
    """'name', '-created', 'created:desc' -> [(field, descending)]."""
    out = []
    for v in values or []:
        for part in v.split(","):
            part = part.strip()
            if not part:
                continue
            desc = part.startswith("-")
            name = part.lstrip("-")
            if ":" in name:
                name, _, d = name.partition(":")
                if d not in ("asc", "desc"):
                    raise InvalidInput(f"sort direction must be asc or desc, not '{d}'")
                desc = d == "desc"
            out.append((name, desc))
    return out


def confirm_bulk(count: int, what: str, yes: bool) -> None:
    """Ask before changing more than 3 records; refuse when there is no terminal to ask on."""
    if count <= 3 or yes:
        return
    if not sys.stdin.isatty():
        raise InvalidInput(
            f"this would change {count} {what}; add --yes to confirm (stdin is not a terminal)"
        )
    if not typer.confirm(f"Change {count} {what}?", default=False, err=True):
        raise typer.Exit(1)


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
NdjsonOpt = Annotated[bool, typer.Option("--ndjson", help="Print one JSON object per line.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Print CSV (list fields joined with '; ').")]
LimitOpt = Annotated[
    int | None,
    typer.Option("--limit", "-n", min=0, max=2**63 - 1, help="At most this many rows."),
]
SortOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--sort", help="Sort by a field; '-field' or 'field:desc' for descending. Repeatable."
    ),
]
YesOpt = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask before changing more than 3 records.")
]
FilterArgs = Annotated[
    list[str] | None,
    typer.Argument(
        help="Filter expressions, ANDed: tag:vip 'created>-30d' 'name~garc or stage:customer'."
    ),
]


def filter_args(examples: str):
    """A FILTER… argument whose help gives examples that work for this noun."""
    return Annotated[
        list[str] | None,
        typer.Argument(
            help=f"Filter expressions, ANDed (the filter language in README.md): {examples}."
        ),
    ]
