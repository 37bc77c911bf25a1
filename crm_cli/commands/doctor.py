"""crm doctor: a data-quality lint with a command that fixes each finding, made for cron."""

from __future__ import annotations

import json
import shlex
import sys
from typing import Annotated

import typer

from crm_cli.commands._common import JsonOpt, open_db, state
from crm_cli.domain import doctor
from crm_cli.errors import EXIT_REPORTED

COLUMNS = ["severity", "ref", "about", "problem", "fix"]


def doctor_cmd(
    ctx: typer.Context,
    checks: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[CHECK]...",
            help="Checks to run (default: all): " + ", ".join(doctor.CHECKS) + ".",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            "-n",
            min=0,
            max=2**31,
            help="Findings shown per check; the rest are counted (0: counts only).",
        ),
    ] = doctor.DEFAULT_LIMIT,  # fmt: skip
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            min=0,
            max=100_000,
            help="overdue: follow-ups more than N days past due (default: alerts.overdue_days).",
        ),
    ] = None,  # fmt: skip
    segment: Annotated[
        list[str] | None,
        typer.Option(
            "--segment",
            metavar="SEGMENT",
            help="consent: also treat this segment as mailed (name or id). Repeatable.",
        ),
    ] = None,  # fmt: skip
    min_severity: Annotated[
        str,
        typer.Option(
            "--severity",
            metavar="LEVEL",
            help="Report findings of at least this severity: info, warning or error.",
        ),
    ] = "info",  # fmt: skip
    json_: JsonOpt = False,
):
    """Check data quality: bad or bounced emails, unparsable phones, missing consent,
    orphans, duplicates, stale deals, overdue follow-ups, tickets past due, empty
    organizations; each finding with the crm command that fixes it.

    Exit status: 0 nothing found, 10 findings reported, 1 an error (3: no database).
    """
    names = doctor.parse_checks(checks)  # a bad name fails before the database is opened
    level = doctor.severity(min_severity)
    db = open_db(ctx, must_exist=True)
    report = doctor.run(db, names, limit=limit, days=days, segments=segment or (),
                        min_severity=level)  # fmt: skip
    prefix = ["crm"]
    db_path = state(ctx).db_path
    if db_path:  # the fixes must reach the same database
        prefix += ["--db", db_path]

    def line(f: doctor.Finding) -> str:
        return shlex.join([*prefix, *f.fix])

    if json_:
        out = {
            "findings": [f.to_dict(line(f)) for f in report.findings],
            "counts": {r.check: r.count for r in report.results},
            "truncated": {r.check: r.left_out for r in report.results if r.left_out},
            "by_severity": report.by_severity(),
            "notes": {r.check: r.note for r in report.results if r.note},
        }
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
    elif report.total:
        _tables(report, line)
    sys.stdout.flush()
    _summary(report)
    if report.total:
        raise typer.Exit(EXIT_REPORTED)


def _tables(report: doctor.Report, line) -> None:
    first = True
    for r in report.results:
        if not r.count:
            continue
        if not first:
            print()
        first = False
        title = f"{r.check}: {_counts(r.by_severity)}"
        rows = [[f.severity, f.ref, f.text, f.detail, line(f)] for f in r.findings]
        _table(rows, title)
        if r.left_out:
            print(f"… and {r.left_out} more (--limit {r.count} shows them all)")


def _table(rows: list[list[str]], title: str) -> None:
    if not sys.stdout.isatty():
        from crm_cli.commands._output import table

        if rows:
            table(rows, COLUMNS, title=title)
        else:
            print(title)
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, header_style="bold", title_justify="left", box=box.SIMPLE_HEAD,
              pad_edge=False)  # fmt: skip
    for h in COLUMNS:
        # Never cut a reference or a command short: a truncated fix cannot be run.
        t.add_column(h, overflow="fold" if h in ("ref", "fix") else "ellipsis",
                     no_wrap=h in ("severity",))  # fmt: skip
    for r in rows:
        t.add_row(*r)
    Console().print(t)


def _counts(by_severity: dict[str, int]) -> str:
    """'2 errors, 1 warning, 3 info': worst first, zeros left out."""
    order = sorted(by_severity.items(), key=lambda kv: -doctor.SEVERITIES.index(kv[0]))
    return ", ".join(f"{n} {s}{'s' if n != 1 and s != 'info' else ''}" for s, n in order if n)


def _summary(report: doctor.Report) -> None:
    """One line on stderr: what was found; when nothing was, only at a terminal (cron
    mails any output, so a clean run stays silent)."""
    from crm_cli.commands._cron import tty_note

    ran = len(report.results)
    notes = [f"{r.check}: {r.note}" for r in report.results if r.note]
    if not report.total:
        tty_note(f"crm doctor: no findings ({ran} checks)")
        for n in notes:
            tty_note(n)
        return
    sev = _counts(report.by_severity())
    hit = sum(1 for r in report.results if r.count)
    shown = len(report.findings)
    more = f"; {report.total - shown} not shown" if shown < report.total else ""
    what = "finding" if report.total == 1 else "findings"
    print(f"crm doctor: {report.total} {what} ({sev}) in {hit} of {ran} checks{more}",
          file=sys.stderr)  # fmt: skip
    for n in notes:
        print(n, file=sys.stderr)
