"""crm db: back up, restore, check and describe the database file."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Annotated

import typer

from crm_cli.commands._common import JsonOpt, noun_app, state
from crm_cli.errors import EXIT_REPORTED, InvalidInput

app = noun_app("The database file: backup, restore, check, stats.")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover


@app.command("backup")
def backup_cmd(
    ctx: typer.Context,
    path: Annotated[
        str | None,
        typer.Argument(
            help="Backup file (must not exist) or directory (default: backups/ beside the database); "
            "in a directory the file is crm-YYYYMMDDTHHMMSSZ.db (UTC).",
            metavar="PATH",
        ),
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep",
            min=1,
            metavar="N",
            help="Then delete the oldest crm-*.db backups in that directory beyond the newest N.",
        ),
    ] = None,
    json_: JsonOpt = False,
):
    """Copy the database consistently while other processes write; print the backup's path."""
    from crm_cli.commands._output import note
    from crm_cli.domain import maintenance

    r = maintenance.backup(state(ctx).db_path, path, keep=keep)
    if json_:
        print(json.dumps(asdict(r), ensure_ascii=False, indent=2))
        return
    print(r.path)
    rows = sum(r.tables.values())
    note(f"backed up {_size(r.bytes)} ({rows} rows in {len(r.tables)} tables) in {r.seconds:.2f} s")
    for p in r.removed:
        note(f"removed old backup {p}")


@app.command("restore")
def restore_cmd(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="The backup file to restore.", metavar="PATH")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Restore even when the database is newer than the backup."),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
):
    """Replace the database's content with a backup's, keeping the replaced database beside it."""
    from crm_cli.commands._output import note
    from crm_cli.domain import maintenance

    plan = maintenance.plan_restore(state(ctx).db_path, path)
    maintenance.refuse_if_newer(plan, force=force)
    if plan.live.exists and not yes:
        if not sys.stdin.isatty():
            raise InvalidInput(
                "a restore replaces the database's content; add --yes to confirm (stdin is not a terminal)"
            )
        if not typer.confirm(
            f"Replace the content of {plan.live.path} with {plan.source.path}?",
            default=False,
            err=True,
        ):
            raise typer.Exit(1)
    r = maintenance.restore(plan, force=force)
    last = plan.source.last_change
    when = f" (last change set {last['set_id']}, {last['at']})" if last else ""
    note(f"restored {r.path} from {r.source}{when}")
    if r.replaced:
        note(f"the replaced database is kept at {r.replaced}")
        print(r.replaced)
    if r.migrated:
        note(f"migrated the restored schema: {', '.join(r.migrated)}")


def _where(f: dict) -> str:
    if f["table"] and f["row_id"] is not None:
        return f"{f['table']}:{f['row_id']}"
    return f["table"] or "-"


@app.command("check")
def check_cmd(
    ctx: typer.Context,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="PRAGMA quick_check instead of integrity_check (skips index contents)."
        ),
    ] = False,
    all_: Annotated[
        bool,
        typer.Option(
            "--all", help="List every finding (default: the first 20 of each check and table)."
        ),
    ] = False,
    json_: JsonOpt = False,
):
    """Check integrity, foreign keys, the search index, derived data, migrations and the change log.

    Exit status 0 when all is well, 10 when there are findings, 1 when the file cannot be
    opened as a database.
    """
    from crm_cli.commands._output import note
    from crm_cli.domain import maintenance

    def stream(f: dict) -> None:  # findings as they are found: a long check shows progress
        print(f"{f['check']}  {_where(f)}  {f['detail']}", flush=True)

    report = maintenance.check(
        state(ctx).db_path,
        quick=quick,
        limit=None if all_ else 20,
        on_finding=None if json_ else stream,
    )
    if json_:
        out = {
            "ok": report.ok,
            "path": report.path,
            "findings": report.findings,
            "counts": report.counts,
            "total": report.total,
            "listed": report.listed,
            "seconds": report.seconds,
            **{k: v for k, v in report.meta.items()},
        }
        print(json.dumps(out, ensure_ascii=False, indent=2))
    elif report.ok:
        m = report.meta
        note(
            f"ok: {report.path}: {m.get('changes', 0)} changes in {m.get('change_sets', 0)} sets"
            f" account for {m.get('rows_checked', 0)} rows in {len(m.get('logged_tables', []))}"
            f" logged tables; integrity, foreign keys, search index, derived data and migrations"
            f" checked in {report.seconds:.1f} s"
        )
    else:
        parts = ", ".join(f"{k} {v}" for k, v in report.counts.items())
        more = (
            ""
            if report.listed == report.total
            else f" ({report.listed} listed; --all lists every one)"
        )
        print(f"{report.total} finding{'s' if report.total != 1 else ''}: {parts}{more}")
    for s in report.meta.get("skipped", []) if not json_ else ():
        note(f"not checked: {s}")
    if not report.ok:
        raise typer.Exit(EXIT_REPORTED)


@app.command("stats")
def stats_cmd(ctx: typer.Context, json_: JsonOpt = False):
    """Show row counts, file and page sizes, the last change and the schema version."""
    from crm_cli.commands._output import local_time, table
    from crm_cli.domain import maintenance

    s = maintenance.stats(state(ctx).db_path)
    if json_:
        print(json.dumps(s, ensure_ascii=False, indent=2))
        return
    b = s["bytes"]
    last = s["last_change"]
    schema = s["schema"]
    version = f"{schema['migration']} ({schema['applied']} applied"
    version += f", pending: {', '.join(schema['pending'])})" if schema["pending"] else ")"
    pairs = [
        ["path", s["path"]],
        ["size", f"{_size(b['total'])} (database {_size(b['db'])}, wal {_size(b['wal'])})"],
        [
            "pages",
            f"{s['page_count']} × {s['page_size']} B, {s['freelist_count']} free;"
            f" journal {s['journal_mode']}",
        ],
        ["schema", version],
        [
            "last change",
            f"set {last['set_id']}, {local_time(last['at'])}, {last['actor'] or '?'}: {last['label']}"
            if last
            else "(none)",
        ],
    ]
    for vt, i in s["search_indexes"].items():
        pairs.append(
            [vt, f"{i['rows']} rows; {i['shadow_tables']} shadow tables, {i['shadow_rows']} rows"]
        )
    table(pairs, ["field", "value"], header=False)
    print()
    table([[t, str(n)] for t, n in s["tables"].items()], ["table", "rows"])
