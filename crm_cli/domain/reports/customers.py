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
from crm_cli.errors import InvalidInput
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


# ---------------------------------------------------------------- churn


def _churn_factor(db: Db) -> float:
    from crm_cli.domain import settings

    return float(settings.get(db, "reports.churn_factor"))


MIN_TOUCHES = 3  # a usual gap needs at least two gaps to mean anything


def churn(db: Db, args: ReportArgs) -> Report:
    """Customers who have gone quiet: no order or interaction for longer than
    ``reports.churn_factor`` (1.5) times their own usual gap -- the time from their first
    to their last touch over the number of gaps, for contacts with at least three orders
    and interactions -- ranked by value at risk (what they have spent, per currency), with
    a suggested next action."""
    if args.period is not None or args.start is not None or args.end is not None:
        raise InvalidInput("churn is about now: it takes filters, not a period")
    factor = _churn_factor(db)
    where = where_for(list(args.filters), "contacts", db=db)
    now = dates.now()
    found = store.quiet_customers(db, where, dates.to_db(now), factor, MIN_TOUCHES)
    work = store.open_work_of(db, [r["id"] for r in found]) if found else {}
    rows = []
    for r in found:
        last = _day(r["last_touch"])
        quiet = (dates.to_local(now).date() - last).days
        gap = r["gap_days"]
        w = work[r["id"]]
        rows.append({
            "id": r["id"], "name": r["name"], "touches": r["touches"],
            "usual_gap_days": round(gap, 1), "quiet_days": quiet,
            "overdue": round(quiet / gap, 1), "last_touch": last.isoformat(),
            "value": amount(r["spend_minor"], r["spend_currency"]),
            "currency": r["spend_currency"], "action": _action(r, w, quiet / gap),
            "_value": r["spend_minor"] or 0,
        })  # fmt: skip
    # Value at risk first (per currency: amounts in different currencies do not compare),
    # then the most overdue.
    rows.sort(key=lambda x: (x["currency"] is None, x["currency"] or "", -x["_value"],
                             -x["overdue"], x["id"]))  # fmt: skip
    cols = [Col("id", "id", "int"), Col("name", "name"), Col("value", "value", "money"),
            Col("currency", "currency"), Col("last_touch", "last touch"),
            Col("quiet_days", "quiet days", "int"), Col("usual_gap_days", "usual gap", "days"),
            Col("overdue", "× gap", "days"), Col("action", "suggested action")]  # fmt: skip
    per: dict[str, int] = defaultdict(int)
    for x in rows:
        if x["currency"]:
            per[x["currency"]] += x["_value"]
    totals = [{"currency": c, "value": amount(v, c)} for c, v in sorted(per.items())]
    return Report(
        "churn", f"Churn risk: quiet for more than {factor:g}× their usual gap", cols,
        [{k: v for k, v in x.items() if not k.startswith("_")} for x in rows], None,
        tuple(args.filters), totals=totals,
        notes=[f"{len(rows)} customer(s) at risk; value is their paid orders to date"],
    )  # fmt: skip


def _day(text: str) -> date:
    if len(text) == 10:
        return date.fromisoformat(text)
    return dates.to_local(dates.from_db(text)).date()


def _action(r: dict, work: dict, overdue: float) -> str:
    if work["ticket"] is not None:
        return f"resolve their open ticket #{work['ticket']} first"
    if work["deal"] is not None:
        return f"follow up on open deal #{work['deal']}"
    reachable = work["email"] and r["consent"] != "opted_out"
    if overdue >= 3:
        return "win-back offer by email" if reachable else "win-back call" if work["phone"] else (
            "win-back visit or letter")  # fmt: skip
    if reachable:
        return "check-in email"
    return "call to check in" if work["phone"] else "ask the owner to get in touch"


__all__ = ["rfm", "churn", "segment", "score", "quintile_cuts"]
