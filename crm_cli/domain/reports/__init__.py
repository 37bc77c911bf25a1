"""Analytical reports: what happened, why, and what will happen.

Each report is a function ``(db, ReportArgs) -> Report`` in a module of this package:
``sales`` (pipeline, forecast, winrate, cycle, funnel, lost) and ``activity``. A report
is plain data -- columns, rows, per-currency totals, an optional chart -- that the
command layer prints as a table, JSON or CSV. Money is never summed across currencies:
a row that carries money names its currency, and amounts are exact decimal strings in
major units (as everywhere else in the CLI). Durations are days with one decimal;
rates are percentages with one decimal. Quantiles (median, p90) interpolate between
the closest ranks (``statistics.quantiles(method="inclusive")``).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from crm_cli.domain import dates
from crm_cli.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Col:
    key: str
    header: str
    kind: str = "text"  # text, int, money, pct, days, date


@dataclass(frozen=True, slots=True)
class Chart:
    """What ``--chart`` draws: one bar per row (``label``), one series per value key."""

    label: str
    series: tuple[tuple[str, str], ...]  # (row key, legend)
    money: bool = False  # values are amounts: one chart per currency
    stacked: bool = False


@dataclass(slots=True)
class Report:
    name: str
    title: str
    columns: list[Col]
    rows: list[dict[str, Any]]
    period: dates.Period | None = None
    filters: tuple[str, ...] = ()
    totals: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    chart: Chart | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"report": self.name, "title": self.title}
        if self.period is not None:
            out["period"] = {"label": self.period.label, "from": self.period.first.isoformat(),
                             "to": self.period.last.isoformat()}  # fmt: skip
        out["filters"] = list(self.filters)
        out["rows"] = self.rows
        if self.totals:
            out["totals"] = self.totals
        if self.notes:
            out["notes"] = self.notes
        return out


@dataclass(frozen=True, slots=True)
class ReportArgs:
    """What every report accepts: filters and a period (or none: the report's default)."""

    filters: tuple[str, ...] = ()
    period: str | None = None
    start: str | None = None  # --from
    end: str | None = None  # --to
    by: str | None = None
    pipeline: str | None = None
    currency: str | None = None
    top: int | None = None  # best / lookalike: the top percent by value
    limit: int | None = None
    orgs: bool = False
    window: str | None = None  # campaign results: the conversion window (30, 30d, 4w)
    metric: str | None = None  # impact: orders, revenue or visits
    weekdays: str | None = None  # impact: count only these days (sat,sun)
    control: str | None = None  # impact: holdout or matched

    def resolve_period(self, default: str | None) -> dates.Period | None:
        """--period, else --from/--to, else the report's default (None: all time)."""
        if self.period is not None and (self.start is not None or self.end is not None):
            raise InvalidInput("give either --period or --from/--to, not both")
        if self.period is not None:
            return dates.parse_period(self.period)
        if self.start is not None or self.end is not None:
            return dates.period_between(self.start, self.end)
        return dates.parse_period(default) if default else None

    def grouping(self, allowed: Iterable[str], default: str) -> str:
        allowed = tuple(allowed)
        by = (self.by or default).strip().lower()
        if by not in allowed:
            raise InvalidInput(f"--by must be one of {', '.join(allowed)}, not {self.by!r}")
        return by


# -- figures -----------------------------------------------------------------


def parse_days(text: str, option: str = "--window") -> int:
    """A span in days: ``30``, ``30d`` or ``4w`` (1 day to 10 years)."""
    t = text.strip().lower()
    units = {"d": 1, "w": 7}
    n, unit = (t[:-1], t[-1]) if t[-1:] in units else (t, "d")
    if not (n.isascii() and n.isdigit()) or not 1 <= int(n) * units[unit] <= 3660:
        raise InvalidInput(f"{option} {text!r}: give days or weeks, e.g. 30, 30d or 4w")
    return int(n) * units[unit]


def pct(part: int | float, whole: int | float) -> float | None:
    """part / whole as a percentage with one decimal; None when whole is 0."""
    return round(100.0 * part / whole, 1) if whole else None


def days(seconds: float) -> float:
    return round(seconds / 86400.0, 1)


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def p90(values: list[float]) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=10, method="inclusive")[8], 1)


def weighted(minor: int, probability: int) -> int:
    """minor * probability / 100, rounded half to even in integer arithmetic."""
    q, r = divmod(minor * probability, 100)
    if r * 2 > 100 or (r * 2 == 100 and q % 2):
        q += 1
    return q


def amount(minor: int | None, currency: str | None) -> str | None:
    from crm_cli.domain import money

    if minor is None or not currency:
        return None
    return money.format(minor, currency)


def amounts(per_currency: dict[str, int]) -> dict[str, str]:
    """{currency: minor} as {currency: exact decimal text}, currencies in order."""
    return {c: amount(v, c) for c, v in sorted(per_currency.items())}  # type: ignore[misc]


def elapsed(start: str | None, end: str | None) -> float | None:
    """Seconds between two stored instants (None when either is missing)."""
    if not start or not end:
        return None
    return (dates.from_db(end) - dates.from_db(start)).total_seconds()


def period_sql(period: dates.Period | None, column: str) -> tuple[str, list]:
    """``column`` (a stored UTC instant) within the period, as SQL and parameters."""
    if period is None:
        return "1", []
    start, end = period.db()
    return f"({column} >= ? AND {column} < ?)", [start, end]


def date_sql(period: dates.Period | None, column: str) -> tuple[str, list]:
    """``column`` (a local calendar date, YYYY-MM-DD) within the period."""
    if period is None:
        return "1", []
    return f"({column} >= ? AND {column} <= ?)", [period.first.isoformat(),
                                                    period.last.isoformat()]  # fmt: skip


REPORTS = {
    "pipeline": ("crm_cli.domain.reports.sales", "pipeline"),
    "forecast": ("crm_cli.domain.reports.sales", "forecast"),
    "winrate": ("crm_cli.domain.reports.sales", "winrate"),
    "cycle": ("crm_cli.domain.reports.sales", "cycle"),
    "funnel": ("crm_cli.domain.reports.sales", "funnel"),
    "lost": ("crm_cli.domain.reports.sales", "lost"),
    "activity": ("crm_cli.domain.reports.activity", "activity"),
    "service": ("crm_cli.domain.reports.service", "service"),
    "rfm": ("crm_cli.domain.reports.customers", "rfm"),
    "churn": ("crm_cli.domain.reports.churn", "churn"),
    "team": ("crm_cli.domain.reports.team", "team"),
    "best": ("crm_cli.domain.reports.best", "best"),
    "lookalike": ("crm_cli.domain.reports.best", "lookalike"),
    "conversion": ("crm_cli.domain.reports.conversion", "conversion"),
    "campaign": ("crm_cli.domain.reports.campaigns", "campaign"),
    "campaigns": ("crm_cli.domain.reports.campaigns", "campaigns_side_by_side"),
    "targets": ("crm_cli.domain.reports.targets", "targets_report"),
    "impact": ("crm_cli.domain.reports.impact", "impact"),
}


def run(db, name: str, args: ReportArgs) -> Report:
    import importlib

    if name not in REPORTS:
        raise InvalidInput(f"no report named {name!r} (reports: {', '.join(REPORTS)})")
    module, attr = REPORTS[name]
    from crm_cli import config

    with config.frozen():  # the time zone is asked for once per row: read the file once
        return getattr(importlib.import_module(module), attr)(db, args)
