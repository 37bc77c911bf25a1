"""The conversion report: which landing pages and sources bring customers."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from urllib.parse import urlsplit

from crm_cli.domain import dates
from crm_cli.domain.reports import Chart, Col, Report, ReportArgs, amount, median, pct
from crm_cli.domain.selectors import where_for
from crm_cli.storage import visits as store
from crm_cli.storage.db import Db


def landing(url: str | None) -> str:
    """A landing page without its query and fragment (UTM tags would split one page in
    many): host and path for full URLs, the path otherwise."""
    if not url:
        return "(unknown)"
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/") or "/"
    return f"{parts.netloc.casefold()}{path}" if parts.netloc else path


def source(v: dict) -> str:
    """Where a visit came from: its UTM source, else the referrer's host, else direct."""
    if v.get("utm_source"):
        return v["utm_source"].strip().casefold()
    if v.get("referrer"):
        host = urlsplit(v["referrer"].strip()).netloc or v["referrer"].strip()
        return host.casefold().removeprefix("www.")
    return "(direct)"


def conversion(db: Db, args: ReportArgs) -> Report:
    """Per landing page (default) or source, for the period (default: the last 90 days):
    visits and distinct visitors; the contacts first seen there in the period (first
    touch: a contact belongs to the landing page and source of their first visit), how
    many of them have ordered since, the conversion rate (customers / visitors), their
    revenue per currency, and the path to the first order: median days and visits from
    the first visit to the first paid order."""
    by = args.grouping(("landing", "source"), "landing")
    period = args.resolve_period("last 90 days")
    assert period is not None
    key = landing if by == "landing" else None

    def group(v: dict) -> str:
        return key(v["landing_page"]) if key else source(v)

    start, end = period.db()
    where = where_for(list(args.filters), "visits", db=db)
    g: dict[str, dict] = defaultdict(lambda: {"visits": 0, "visitors": set(), "contacts": 0,
                                               "customers": 0, "revenue": defaultdict(int),
                                               "days": [], "steps": []})  # fmt: skip
    for v in store.visits_in(db, start, end, where):
        row = g[group(v)]
        row["visits"] += 1
        row["visitors"].add(v["who"])
    cohort = {f["contact_id"]: f for f in store.first_visits(db, start, end, where)}
    orders: dict[int, list[dict]] = defaultdict(list)
    for o in store.paid_orders_of_visitors(db):
        if o["contact_id"] in cohort:
            orders[o["contact_id"]].append(o)
    times: dict[int, list[str]] = defaultdict(list)
    for cid, at in store.visit_times(db, list(cohort)) if cohort else ():
        times[cid].append(at)
    for cid, first in cohort.items():
        row = g[group(first)]
        row["contacts"] += 1
        first_day = dates.to_local(dates.from_db(first["started_at"])).date()
        since = [o for o in orders.get(cid, []) if date.fromisoformat(o["order_date"]) >= first_day]
        if not since:
            continue
        row["customers"] += 1
        for o in since:
            row["revenue"][o["currency"]] += o["total_minor"]
        first_order = date.fromisoformat(since[0]["order_date"])
        row["days"].append(float((first_order - first_day).days))
        cutoff = first_order.isoformat()
        row["steps"].append(float(sum(1 for t in times[cid]
                                      if dates.to_local(dates.from_db(t)).date().isoformat() <= cutoff)))  # fmt: skip
    rows = []
    for name in sorted(g, key=lambda k: (-g[k]["customers"], -g[k]["visits"], k)):
        r = g[name]
        visitors = len(r["visitors"])
        rows.append({
            by: name, "visits": r["visits"], "visitors": visitors, "new_contacts": r["contacts"],
            "customers": r["customers"], "conversion": pct(r["customers"], visitors),
            "revenue": {c: amount(v, c) for c, v in sorted(r["revenue"].items())},
            "days_to_order": median(r["days"]), "visits_to_order": median(r["steps"]),
        })  # fmt: skip
    cols = [Col(by, "landing page" if by == "landing" else "source"),
            Col("visits", "visits", "int"), Col("visitors", "visitors", "int"),
            Col("new_contacts", "new contacts", "int"), Col("customers", "customers", "int"),
            Col("conversion", "conversion %", "pct"), Col("revenue", "revenue", "money"),
            Col("days_to_order", "days to 1st order", "days"),
            Col("visits_to_order", "visits to 1st order", "days")]  # fmt: skip
    keys = ("visits", "new_contacts", "customers")
    totals = [{k: sum(r[k] for r in rows) for k in keys}] if rows else []
    return Report(
        "conversion", f"Conversion by {'landing page' if by == 'landing' else 'source'}, "
        f"{period.label}", cols, rows, period, tuple(args.filters), totals=totals,
        notes=["first touch: a contact counts for the landing page and source of their first "
               "visit; customers: those with a paid order since"],
        chart=Chart(by, (("visitors", "visitors"), ("customers", "customers"))),
    )  # fmt: skip
