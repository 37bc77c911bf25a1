"""The churn report: customers who have gone quiet, against their own rhythm."""

from __future__ import annotations

from datetime import date

from crm_cli.domain import dates
from crm_cli.domain.reports import Col, Report, ReportArgs, amount
from crm_cli.domain.selectors import where_for
from crm_cli.errors import InvalidInput
from crm_cli.storage import reports as store
from crm_cli.storage.db import Db

MIN_TOUCHES = 3  # a usual gap needs at least two gaps to mean anything
LIMIT = 100


def factor(db: Db) -> float:
    from crm_cli.domain import settings

    return float(settings.get(db, "reports.churn_factor"))


def churn(db: Db, args: ReportArgs) -> Report:
    """Customers who have gone quiet: no order or interaction for longer than
    ``reports.churn_factor`` (1.5) times their own usual gap -- the time from their first
    to their last touch over the number of gaps, for contacts with at least three orders
    and interactions -- ranked by value at risk (what they have spent, per currency; then
    the most overdue), with a suggested next action. The first ``--limit`` (100; 0: all)
    are listed; the totals count every one."""
    if args.period is not None or args.start is not None or args.end is not None:
        raise InvalidInput("churn is about now: it takes filters, not a period")
    k = factor(db)
    where = where_for(list(args.filters), "contacts", db=db)
    now = dates.now()
    now_jd = dates.julian_day(now)
    limit = LIMIT if args.limit is None else args.limit
    found = store.quiet_customers(db, where, now_jd, k, MIN_TOUCHES, limit=limit or None)
    work = store.open_work_of(db, [r["id"] for r in found]) if found else {}
    today = dates.to_local(now).date()
    rows = []
    for r in found:
        last = last_touch_day(r["touch_last_at"])
        quiet = (today - last).days
        gap = r["gap_days"]
        rows.append({
            "id": r["id"], "name": r["name"], "touches": r["touches"],
            "usual_gap_days": round(gap, 1), "quiet_days": quiet,
            "overdue": round(quiet / gap, 1), "last_touch": last.isoformat(),
            "value": amount(r["spend_minor"], r["spend_currency"]),
            "currency": r["spend_currency"], "action": action(r, work[r["id"]], quiet / gap),
        })  # fmt: skip
    totals, everyone = [], 0
    for currency, n, value in store.quiet_totals(db, where, now_jd, k, MIN_TOUCHES):
        everyone += n
        if currency is not None:
            totals.append({"currency": currency, "customers": n, "value": amount(value, currency)})
    cols = [Col("id", "id", "int"), Col("name", "name"), Col("value", "value", "money"),
            Col("currency", "currency"), Col("last_touch", "last touch"),
            Col("quiet_days", "quiet days", "int"), Col("usual_gap_days", "usual gap", "days"),
            Col("overdue", "× gap", "days"), Col("action", "suggested action")]  # fmt: skip
    shown = f"; the first {len(rows)} listed (--limit)" if len(rows) < everyone else ""
    return Report(
        "churn", f"Churn risk: quiet for more than {k:g}× their usual gap", cols, rows, None,
        tuple(args.filters), totals=totals,
        notes=[f"{everyone} customer(s) at risk{shown}; value is their paid orders to date"],
    )  # fmt: skip


def last_touch_day(text: str) -> date:
    """The local day of a stored last touch (an order's date is stored at 12:00 UTC)."""
    return dates.to_local(dates.from_db(text)).date()


def action(r: dict, work: dict, overdue: float) -> str:
    """What to do next: settle open work first, then win back or check in by what reaches them."""
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
