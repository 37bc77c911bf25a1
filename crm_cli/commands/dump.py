"""crm dump and crm load: the whole database as sorted JSON Lines, and back."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from crm_cli.commands._common import open_db, state
from crm_cli.errors import InvalidInput


def dump_cmd(
    ctx: typer.Context,
    dir_: Annotated[
        str | None,
        typer.Option(
            "--dir", metavar="DIR", help="Write meta.json and one TABLE.jsonl per table here."
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write the stream to FILE (atomically)."
        ),
    ] = None,
):
    """Dump the whole database as sorted JSON Lines (stdout, --output FILE or --dir DIR)."""
    from crm_cli.domain import dump

    if dir_ is not None and output is not None:
        raise InvalidInput("give --dir or --output, not both")
    db = open_db(ctx, must_exist=True)
    if dir_ is not None:
        r = dump.dump_dir(db, dir_)
        changed = f"{len(r.changed)} files written" if r.changed else "no file changed"
        removed = f", {len(r.removed)} removed" if r.removed else ""
        print(f"dumped {r.rows} rows of {r.tables} tables to {dir_} ({changed}{removed})",
              file=sys.stderr)  # fmt: skip
    elif output is not None:
        r = dump.dump_file(db, output)
        print(f"dumped {r.rows} rows of {r.tables} tables to {output}", file=sys.stderr)
    else:
        import io

        out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n")
        try:
            dump.dump_stream(db, out)
            out.flush()
        finally:
            out.detach()


def load_cmd(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(metavar="DUMP", help="A dump directory, a dump file, or - for stdin.")
    ],
    db: Annotated[
        str | None,
        typer.Option("--db", metavar="NEW", help="The database file to create (must not exist)."),
    ] = None,
):
    """Create a new database from a dump (crm dump): identical records, ids and history."""
    from crm_cli.domain import dump

    target = db or state(ctx).db_path
    if not target:
        raise InvalidInput("crm load needs --db NEW: the database file to create")
    r = dump.load(source, target)
    migrated = f", then migrated ({', '.join(r.migrated)})" if r.migrated else ""
    print(f"loaded {r.rows} rows of {r.tables} tables into {r.path}{migrated}", file=sys.stderr)
