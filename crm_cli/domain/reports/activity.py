"""The activity report: interactions by channel (kind) per week, month or person."""

from __future__ import annotations

from collections import defaultdict

from crm_cli.domain import activities, dates
from crm_cli.domain.reports import Chart, Col, Report, ReportArgs
from crm_cli.storage import reports as store
from crm_cli.storage.db import Db

_BUCKETS = ("week", "month", "quarter", "day", "year")


def activity(db: Db, args: ReportArgs) -> Report:
    """Interactions logged in the period, one column per channel (call, email, meeting…):
    per week (default), day, month, quarter or year of the period, or per person (the
    team member who logged them). Default period: the last 12 weeks."""
    by = args.grouping((*_BUCKETS, "person"), "week")
    period = args.resolve_period("last 12 weeks")
    assert period is not None
    where = activities.filter_sql(list(args.filters))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    order: list[str] = []
    if by == "person":
        start, end = period.db()
        for person, kind, n in store.activity_counts_by_person(db, start, end, where):
            counts[person][kind] += n
        order = sorted(counts, key=lambda p: (-sum(counts[p].values()), p.casefold()))
    else:
        # Local calendar units, each counted per kind on the (kind, occurred_at) index.
        buckets = dates.buckets(period, by)
        order = [b.label for b in buckets]
        found = store.activity_kind_counts(db, [b.db() for b in buckets], activities.ALL_KINDS,
                                           where)  # fmt: skip
        for (i, kind), n in found.items():
            counts[order[i]][kind] += n
    kinds = sorted({k for c in counts.values() for k in c}, key=_kind_order)
    rows = []
    for key in order:
        c = counts.get(key, {})
        rows.append({by: key, **{k: c.get(k, 0) for k in kinds}, "total": sum(c.values())})
    totals = {k: sum(r[k] for r in rows) for k in (*kinds, "total")}
    cols = [Col(by, by), *(Col(k, k, "int") for k in kinds), Col("total", "total", "int")]
    return Report(
        "activity", f"Activity by {by} and channel, {period.label}", cols, rows, period,
        tuple(args.filters), totals=[totals] if rows else [],
        chart=Chart(by, tuple((k, k) for k in kinds), stacked=True),
    )  # fmt: skip


_KIND_ORDER = ("call", "email", "meeting", "chat", "visit", "social", "note", "comment")


def _kind_order(kind: str) -> tuple[int, str]:
    return (_KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER), kind)
