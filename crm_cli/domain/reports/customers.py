"""Customer reports: RFM scores and segments, churn risk."""

from __future__ import annotations

import statistics
from bisect import bisect_left
from datetime import date

from crm_cli.domain import dates, money
from crm_cli.domain.reports import (
    Chart,
    Col,
    Report,
    ReportArgs,
    amount,
    date_sql,
    median,
    pct,
)
from crm_cli.domain.selectors import where_for
from crm_cli.storage import customer_reports as store
from crm_cli.storage.db import Db

# ---------------------------------------------------------------- RFM

# (segment, test on the recency and frequency scores): the first that matches names the
# customer. The grid is the usual RF one; 1-1 is "lost" rather than "hibernating".
SEGMENTS: tuple[tuple[str, object], ...] = (
    ("champions", lambda r, f: r == 5 and f >= 4),
    ("loyal", lambda r, f: r in (3, 4) and f >= 4),
    ("potential loyalists", lambda r, f: r >= 4 and f in (2, 3)),
    ("new customers", lambda r, f: r == 5 and f == 1),
    ("promising", lambda r, f: r == 4 and f == 1),
    ("need attention", lambda r, f: r == 3 and f == 3),
    ("about to sleep", lambda r, f: r == 3 and f <= 2),
    ("can't lose", lambda r, f: r <= 2 and f == 5),
    ("at risk", lambda r, f: r <= 2 and f in (3, 4)),
    ("hibernating", lambda r, f: r == 2 or f == 2),
    ("lost", lambda r, f: True),
)


def segment(r: int, f: int) -> str:
    return next(name for name, test in SEGMENTS if test(r, f))  # type: ignore[operator]


def quintile_cuts(values: list[float]) -> list[float]:
    """The 20/40/60/80% quantiles (interpolated between closest ranks)."""
    if len(values) < 2:
        return [values[0]] * 4 if values else []
    return statistics.quantiles(values, n=5, method="inclusive")


def score(value: float, cuts: list[float], *, low_is_good: bool = False) -> int:
    """1-5: one more than the number of cut points the value is above (recency reversed:
    fewer days since the last order is better)."""
    above = sum(value > c for c in cuts)
    return 5 - above if low_is_good else 1 + above


def _currency(db: Db, requested: str | None, where, dated) -> tuple[str | None, list[str]]:
    found = store.order_currencies(db, where, dated)
    if requested:
        code = requested.strip().upper()
        money.exponent(code)
        others = [c for c, _ in found if c != code]
        return code, others
    if not found:
        return None, []
    return found[0][0], [c for c, _ in found[1:]]


def scorer(values: list, *, low_is_good: bool = False):
    """``score`` against the quintile cuts of these values, as a function. The number of
    cut points a value is above is where it would go in the sorted cuts (bisect)."""
    cuts = sorted(quintile_cuts([float(x) for x in values]))
    if low_is_good:
        return lambda value: 5 - bisect_left(cuts, value)
    return lambda value: 1 + bisect_left(cuts, value)


def _amounts(currency: str | None):
    """``amount`` for many figures in one currency (the currency checked once)."""
    if not currency:
        return lambda minor: None
    text = money.formatter(currency)
    return lambda minor: None if minor is None else text(minor)


# The segment of every (recency, frequency) pair of scores.
_SEGMENT_OF = {(r, f): segment(r, f) for r in range(1, 6) for f in range(1, 6)}


def rfm(db: Db, args: ReportArgs) -> Report:
    """Customers scored 1-5 on recency (days since their last paid order), frequency
    (paid orders) and monetary value (their total), each by quintile of all customers in
    the period, and named by segment from the recency and frequency scores. One currency
    at a time (``--currency``; default: the one with the most orders)."""
    by = args.grouping(("segment", "customer"), "segment")
    period = args.resolve_period(None)
    where = where_for(list(args.filters), "contacts", db=db)
    dated = date_sql(period, "o.order_date")
    currency, others = _currency(db, args.currency, where, dated)
    today = dates.to_local(dates.now()).date()
    ref = min(period.last, today) if period is not None else today
    # (id, orders, spent, last order[, name]), one per customer
    rows_in = (store.order_totals(db, currency, where, dated, names=by == "customer")
               if currency else [])  # fmt: skip
    ref_day = ref.toordinal()
    day_of: dict[str, int] = {}  # a last-order date -> days since it (many customers share one)
    recency = []
    for r in rows_in:
        days_since = day_of.get(r[3])
        if days_since is None:
            days_since = day_of[r[3]] = ref_day - date.fromisoformat(r[3]).toordinal()
        recency.append(days_since)
    r_score = scorer(recency, low_is_good=True)
    f_score = scorer([r[1] for r in rows_in])
    notes = [f"orders in {', '.join(others)} are left out: one currency at a time (--currency)"
             ] if others else []  # fmt: skip
    notes.append(f"recency counted to {ref.isoformat()}")
    title = f"RFM in {currency or '—'}" + (f", orders {period.label}" if period else "")
    if by == "customer":
        m_score = scorer([r[2] for r in rows_in])
        order = sorted(range(len(rows_in)), key=lambda i: (-rows_in[i][2], rows_in[i][0]))
        spent_text = _amounts(currency)
        customers = []
        for i in order:
            cid, orders, spent, last_order, name = rows_in[i]
            days_since = recency[i]
            rs, fs, ms = r_score(days_since), f_score(orders), m_score(spent)
            customers.append({
                "id": cid, "name": name, "recency_days": days_since, "orders": orders,
                "spent": spent_text(spent), "currency": currency, "last_order": last_order,
                "r": rs, "f": fs, "m": ms, "rfm": f"{rs}{fs}{ms}", "segment": _SEGMENT_OF[rs, fs],
            })  # fmt: skip
        cols = [Col("id", "id", "int"), Col("name", "name"),
                Col("recency_days", "days since", "int"), Col("orders", "orders", "int"),
                Col("spent", "spent", "money"), Col("currency", "currency"), Col("rfm", "RFM"),
                Col("segment", "segment")]  # fmt: skip
        return Report("rfm", f"{title}: customers by value", cols, customers,
                      period, tuple(args.filters), notes=notes)  # fmt: skip
    # per segment: customers, their spend, and their days since and orders (for medians)
    per: dict[str, tuple[list, list, list]] = {}
    for r, days_since in zip(rows_in, recency, strict=True):
        name = _SEGMENT_OF[r_score(days_since), f_score(r[1])]
        found = per.get(name)
        if found is None:
            found = per[name] = ([], [], [])
        found[0].append(r[2])
        found[1].append(float(days_since))
        found[2].append(float(r[1]))
    total = sum(r[2] for r in rows_in)
    rows = []
    for name, _ in SEGMENTS:
        if name not in per:
            continue
        spents, days_since, orders = per[name]
        spent = sum(spents)
        rows.append({
            "segment": name, "customers": len(spents), "share": pct(len(spents), len(rows_in)),
            "recency_days": median(days_since), "orders": median(orders),
            "spent": amount(spent, currency), "currency": currency,
            "spent_share": pct(spent, total),
        })  # fmt: skip
    cols = [Col("segment", "segment"), Col("customers", "customers", "int"),
            Col("share", "share %", "pct"), Col("recency_days", "median days since", "days"),
            Col("orders", "median orders", "days"), Col("spent", "spent", "money"),
            Col("currency", "currency"), Col("spent_share", "of spend %", "pct")]  # fmt: skip
    totals = [{"customers": len(rows_in), "spent": amount(total, currency),
               "currency": currency}] if rows_in else []  # fmt: skip
    return Report("rfm", f"{title}: segments", cols, rows, period, tuple(args.filters),
                  totals=totals, notes=notes,
                  chart=Chart("segment", (("customers", "customers"),)))  # fmt: skip


__all__ = ["rfm", "segment", "score", "scorer", "quintile_cuts"]
