"""Print a report: a table (rich on a terminal, aligned text when piped), JSON, CSV, bars."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from decimal import Decimal
from typing import Any

from crm_cli.domain import money
from crm_cli.domain.reports import Col, Report

_NUMERIC = ("int", "money", "pct", "days", "hours", "num", "signed")


def emit(report: Report, fmt: str, *, chart: bool = False) -> None:
    if fmt == "json":
        sys.stdout.write(json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n")
        return
    if fmt == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow([c.key for c in report.columns])
        for r in report.rows:
            w.writerow([_csv_cell(r.get(c.key), c) for c in report.columns])
        return
    _table(report)
    if chart and report.chart is not None and report.rows:
        print()
        sys.stdout.write(bars(report))
    sys.stdout.flush()  # the notes below follow the table, also on a terminal with 2>&1
    if not report.rows:
        print("(nothing in this period)" if report.period else "(nothing to show)", file=sys.stderr)
    if report.period is not None:
        print(f"period: {report.period.first} to {report.period.last}"
              + (f" (filters: {' '.join(report.filters)})" if report.filters else ""),
              file=sys.stderr)  # fmt: skip
    for n in report.notes:
        print(f"note: {n}", file=sys.stderr)


# -- cells -------------------------------------------------------------------


def _csv_cell(v: Any, col: Col) -> str:
    if v is None:
        return ""
    if isinstance(v, dict):
        if col.kind == "money":
            return "; ".join(f"{a} {c}" for c, a in v.items())
        return "; ".join(f"{k} {n}" for k, n in v.items())
    return str(v)


def cell(v: Any, col: Col) -> str:
    """A value for people: amounts grouped, rates and days with one decimal."""
    if v is None or v == {}:
        return "—" if col.kind in _NUMERIC else ""
    if col.kind == "money":
        if isinstance(v, dict):
            return " + ".join(f"{money.grouped(a)} {c}" for c, a in v.items())
        return money.grouped(str(v))
    if col.kind == "int":
        return f"{v:,}"
    if col.kind in ("pct", "days", "hours"):
        return f"{v:.1f}"
    if col.kind == "num":
        return f"{v:.2f}"
    if col.kind == "signed":
        return f"{v:+.2f}"
    if isinstance(v, dict):
        return " · ".join(f"{k} {n}" for k, n in v.items())
    return str(v)


def _total_row(report: Report, total: dict) -> list[str]:
    out = []
    for i, c in enumerate(report.columns):
        if c.key in total:
            out.append(cell(total[c.key], c))
        else:
            out.append("total" if i == 0 else "")
    return out


# -- table -------------------------------------------------------------------


def _table(report: Report) -> None:
    rows = [[cell(r.get(c.key), c) for c in report.columns] for r in report.rows]
    totals = [_total_row(report, t) for t in report.totals] if report.rows else []
    headers = [c.header for c in report.columns]
    right = [c.kind in _NUMERIC for c in report.columns]
    if sys.stdout.isatty():
        from rich import box
        from rich.console import Console
        from rich.table import Table

        t = Table(title=report.title, header_style="bold", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)  # fmt: skip
        for h, r in zip(headers, right, strict=True):
            t.add_column(h, justify="right" if r else "left")
        for row in rows:
            t.add_row(*row)
        if totals:
            t.add_section()
            for row in totals:
                t.add_row(*row, style="bold")
        Console().print(t)
    else:
        print(report.title)
        lines = [headers, *rows, *totals]
        widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]

        def show(line: list[str]) -> None:
            print("  ".join(v.rjust(w) if r else v.ljust(w)
                            for v, w, r in zip(line, widths, right, strict=True)).rstrip())  # fmt: skip

        show(headers)
        for row in rows:
            show(row)
        if totals:
            print("  ".join("-" * w for w in widths))
            for row in totals:
                show(row)


# -- bars --------------------------------------------------------------------

_FILLS = ("█", "▓", "░", "▒", "▚", "▞")
_EIGHTHS = " ▏▎▍▌▋▊▉"


def _number(v: Any) -> float:
    if v is None:
        return 0.0
    if isinstance(v, str):
        return float(Decimal(v))
    return float(v)


def _bar(value: float, scale: float, fill: str, fine: bool = True) -> str:
    """A bar of value * scale cells; the solid fill gets eighth-cell precision."""
    if value <= 0 or scale <= 0:
        return ""
    cells = value * scale
    whole = int(cells)
    if fill != "█" or not fine:
        return fill * max(1, round(cells))
    part = _EIGHTHS[int((cells - whole) * 8)]
    return "█" * whole + (part if part != " " else "")


def bars(report: Report, width: int | None = None) -> str:
    """Horizontal bars, one per row (per series); money charts one per currency."""
    spec = report.chart
    assert spec is not None
    width = width or shutil.get_terminal_size((100, 24)).columns
    groups: list[tuple[str | None, list[dict]]]
    if spec.money:
        currencies = sorted({r["currency"] for r in report.rows if r.get("currency")})
        groups = [(c, [r for r in report.rows if r.get("currency") == c]) for c in currencies]
    else:
        groups = [(None, report.rows)]
    # A row with none of the charted figures (a summary row such as a difference) has no bar.
    groups = [(c, [r for r in rows if any(r.get(k) is not None for k, _ in spec.series)])
              for c, rows in groups]  # fmt: skip
    out: list[str] = []
    legend = "  ".join(
        f"{_FILLS[i % len(_FILLS)]} {name}" for i, (_, name) in enumerate(spec.series)
    )
    for currency, rows in groups:
        if not rows:
            continue
        labels = [str(r.get(spec.label, "")) for r in rows]
        values = [[_number(r.get(k)) for k, _ in spec.series] for r in rows]
        shown = [[_short(v) for v in vs] for vs in values]
        label_w = min(max(len(x) for x in labels), 28)
        if spec.stacked:
            value_w = max(len(_short(sum(vs))) for vs in values)
            top = max(sum(vs) for vs in values)
        else:
            value_w = max(len(s) for ss in shown for s in ss)
            top = max(v for vs in values for v in vs)
        room = max(10, width - label_w - value_w - 4)
        scale = room / top if top > 0 else 0
        out.append((f"{currency}: " if currency else "") + legend)
        for label, vs, ss in zip(labels, values, shown, strict=True):
            name = label[:label_w].ljust(label_w)
            if spec.stacked:
                bar = "".join(_bar(v, scale, _FILLS[i % len(_FILLS)], fine=False)
                              for i, v in enumerate(vs))  # fmt: skip
                out.append(f"{name}  {bar} {_short(sum(vs))}".rstrip())
                continue
            for i, (v, s) in enumerate(zip(vs, ss, strict=True)):
                head = name if i == 0 else " " * label_w
                out.append(f"{head}  {_bar(v, scale, _FILLS[i % len(_FILLS)])} {s}".rstrip())
        out.append("")
    return "\n".join(out)


def _short(v: float) -> str:
    """A bar's number: 12.5k, 1.2M (exact figures are in the table)."""
    a = abs(v)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= limit:
            return f"{v / limit:.1f}{suffix}".replace(".0" + suffix, suffix)
    return f"{v:.1f}".removesuffix(".0")
