"""Output for every read command: a table for people, JSON / NDJSON / CSV for scripts.

Data goes to stdout, notes to stderr. Piped stdout gets plain aligned text with no
colours or boxes; rich is imported only when stdout is a terminal.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import Any

from crm_cli.errors import InvalidInput


def fmt_choice(json_: bool = False, ndjson: bool = False, csv_: bool = False) -> str:
    """Pick one output format from the flags (they are exclusive)."""
    chosen = [n for n, on in (("json", json_), ("ndjson", ndjson), ("csv", csv_)) if on]
    if len(chosen) > 1:
        raise InvalidInput(
            f"choose one output format, not {' and '.join('--' + c for c in chosen)}"
        )
    return chosen[0] if chosen else "table"


def cell(value: Any) -> str:
    """One value as text: lists joined with '; ', emails/phones by their value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "; ".join(
            cell(v["value"] if isinstance(v, dict) and "value" in v else v) for v in value
        )
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _write_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def emit_list(
    rows: list[dict],
    columns: list[tuple[str, str]],
    fmt: str,
    *,
    title: str | None = None,
    keys: list[str] | tuple[str, ...] | None = None,
) -> None:
    """Print records: columns are (key, header) pairs for the table; keys the CSV header."""
    if fmt == "json":
        _write_json(rows)
    elif fmt == "ndjson":
        out = sys.stdout
        for r in rows:
            out.write(json.dumps(r, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        keys = list(keys or (rows[0] if rows else [k for k, _ in columns]))
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(keys)
        for r in rows:
            w.writerow([cell(r.get(k)) for k in keys])
    else:
        table(
            [[cell(r.get(k)) for k, _ in columns] for r in rows],
            [h for _, h in columns],
            title=title,
        )
        if not rows:
            print("(none)", file=sys.stderr)


def emit_object(
    obj: dict, fmt: str, *, sections: list[tuple[str, list[dict], list[tuple[str, str]]]] = ()
) -> None:
    """Print one record: a key/value view for people, an object for --json."""
    if fmt in ("json", "ndjson"):
        if fmt == "json":
            _write_json(obj)
        else:
            sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
        return
    if fmt == "csv":
        emit_list([obj], [(k, k) for k in obj], "csv")
        return
    # Instants (keys ending in _at) read in local time for people; JSON keeps UTC.
    pairs = [
        [k, local_time(v) if k.endswith("_at") and isinstance(v, str) else cell(v)]
        for k, v in obj.items()
        if v not in (None, "", [], {})
    ]
    table(pairs, ["field", "value"], header=False)
    for title, rows, cols in sections:
        if not rows:
            continue
        print()
        table([[cell(r.get(k)) for k, _ in cols] for r in rows], [h for _, h in cols], title=title)


def table(
    rows: list[list[str]], headers: list[str], *, title: str | None = None, header: bool = True
) -> None:
    """Print a table: rich on a terminal, plain aligned columns when piped."""
    if sys.stdout.isatty():
        from rich import box
        from rich.console import Console
        from rich.table import Table

        t = Table(
            title=title, show_header=header, header_style="bold", title_justify="left",
            box=box.SIMPLE_HEAD, pad_edge=False,
        )  # fmt: skip
        for h in headers:
            # Never cut identifiers short with an ellipsis: a truncated email is useless.
            t.add_column(
                h, overflow="fold" if h in ("email", "phone", "email / domain") else "ellipsis"
            )
        for r in rows:
            t.add_row(*r)
        Console().print(t)
        return
    if title:
        print(title)
    # One record per line when piped: line breaks inside a cell (a note's body) become ↵.
    rows = [[v.replace("\r\n", "\n").replace("\n", " ↵ ") for v in r] for r in rows]
    lines = ([headers] if header else []) + rows
    if not lines:
        return
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    for line in lines:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip())


def local_time(text: str | None) -> str:
    """A stored UTC instant as local 'YYYY-MM-DD HH:MM' for tables (JSON keeps the UTC text)."""
    if not text:
        return ""
    if not text.endswith("Z"):
        return text  # already shown in local time
    from crm_cli.domain import dates

    return dates.from_db(text).astimezone(dates.local_tz()).strftime("%Y-%m-%d %H:%M")


def note(message: str) -> None:
    """A note for people, on stderr."""
    print(message, file=sys.stderr)
