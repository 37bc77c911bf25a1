"""Customer reports: RFM scores and segments, churn risk."""

from __future__ import annotations

import statistics
from collections import defaultdict
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
from crm_cli.storage import reports as store
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
    rows_in = store.order_totals(db, currency, where, dated) if currency else []
    recency = [(ref - date.fromisoformat(r["last_order"])).days for r in rows_in]
    r_cuts = quintile_cuts([float(x) for x in recency])
    f_cuts = quintile_cuts([float(r["orders"]) for r in rows_in])
    m_cuts = quintile_cuts([float(r["spent_minor"]) for r in rows_in])
    customers = []
    for r, days_since in zip(rows_in, recency, strict=True):
        rs = score(days_since, r_cuts, low_is_good=True)
        fs = score(r["orders"], f_cuts)
        ms = score(r["spent_minor"], m_cuts)
        customers.append({
            "id": r["id"], "name": r["name"], "recency_days": days_since, "orders": r["orders"],
            "spent": amount(r["spent_minor"], currency), "currency": currency,
            "last_order": r["last_order"], "r": rs, "f": fs, "m": ms, "rfm": f"{rs}{fs}{ms}",
            "segment": segment(rs, fs), "_spent": r["spent_minor"],
        })  # fmt: skip
    customers.sort(key=lambda c: (-c["_spent"], c["id"]))
    notes = [f"orders in {', '.join(others)} are left out: one currency at a time (--currency)"
             ] if others else []  # fmt: skip
    notes.append(f"recency counted to {ref.isoformat()}")
    title = f"RFM in {currency or '—'}" + (f", orders {period.label}" if period else "")
    if by == "customer":
        cols = [Col("id", "id", "int"), Col("name", "name"),
                Col("recency_days", "days since", "int"), Col("orders", "orders", "int"),
                Col("spent", "spent", "money"), Col("currency", "currency"), Col("rfm", "RFM"),
                Col("segment", "segment")]  # fmt: skip
        return Report("rfm", f"{title}: customers by value", cols,
                      [{k: v for k, v in c.items() if not k.startswith("_")} for c in customers],
                      period, tuple(args.filters), notes=notes)  # fmt: skip
    per: dict[str, list[dict]] = defaultdict(list)
    for c in customers:
        per[c["segment"]].append(c)
    rows = []
    for name, _ in SEGMENTS:
        members = per.get(name, [])
        if not members:
            continue
        spent = sum(c["_spent"] for c in members)
        rows.append({
            "segment": name, "customers": len(members), "share": pct(len(members), len(customers)),
            "recency_days": median([float(c["recency_days"]) for c in members]),
            "orders": median([float(c["orders"]) for c in members]),
            "spent": amount(spent, currency), "currency": currency,
            "spent_share": pct(spent, sum(c["_spent"] for c in customers)),
        })  # fmt: skip
    cols = [Col("segment", "segment"), Col("customers", "customers", "int"),
            Col("share", "share %", "pct"), Col("recency_days", "median days since", "days"),
            Col("orders", "median orders", "days"), Col("spent", "spent", "money"),
            Col("currency", "currency"), Col("spent_share", "of spend %", "pct")]  # fmt: skip
    total = sum(c["_spent"] for c in customers)
    totals = [{"customers": len(customers), "spent": amount(total, currency),
               "currency": currency}] if customers else []  # fmt: skip
    return Report("rfm", f"{title}: segments", cols, rows, period, tuple(args.filters),
                  totals=totals, notes=notes,
                  chart=Chart("segment", (("customers", "customers"),)))  # fmt: skip


__all__ = ["rfm", "segment", "score", "quintile_cuts"]
