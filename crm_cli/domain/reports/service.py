"""The service report: the open backlog by age, response and resolution times, breaches
of the response target, satisfaction."""

from __future__ import annotations

from crm_cli.domain import dates, tickets
from crm_cli.domain.reports import (
    Chart,
    Col,
    Report,
    ReportArgs,
    elapsed,
    median,
    p90,
    pct,
    period_sql,
)
from crm_cli.storage import reports as store
from crm_cli.storage.db import Db

_ORDER = {p: i for i, p in enumerate(reversed(tickets.PRIORITIES))}  # urgent first


def service(db: Db, args: ReportArgs) -> Report:
    """Per priority (default), assignee, channel or type:

    - the open backlog now -- tickets not resolved or closed, how many older than 7 days,
      the oldest's age in days;
    - of the tickets opened in the period (default: the last 30 days): the first response
      time and the time to resolve (median and p90 hours, over those answered/resolved),
      breaches of the response target (answered after the ticket's due time, or still
      unanswered past it) and the average satisfaction (1-5) of the rated ones.
    """
    by = args.grouping(tuple(store.TICKET_GROUPS), "priority")
    period = args.resolve_period("last 30 days")
    where = tickets.filter_sql(list(args.filters), all_=True)
    now = dates.now()
    now_db = dates.to_db(now)
    groups: dict[str, dict] = {}

    def group(key: str | None) -> dict:
        return groups.setdefault(key or "(none)", {
            "open": 0, "aging": 0, "oldest": None, "created": 0, "response": [],
            "resolve": [], "breached": 0, "with_target": 0, "ratings": []})  # fmt: skip

    for r in store.open_tickets(db, by, where):
        g = group(r["grp"])
        age = (elapsed(r["created_at"], now_db) or 0.0) / 86400.0
        g["open"] += 1
        g["aging"] += age > 7
        g["oldest"] = max(g["oldest"] or 0.0, age)
    for r in store.tickets_created(db, by, where, period_sql(period, "t.created_at")):
        g = group(r["grp"])
        g["created"] += 1
        if r["first_response_at"]:
            g["response"].append(max(0.0, elapsed(r["created_at"], r["first_response_at"])) / 3600)
        if r["resolved_at"]:
            g["resolve"].append(max(0.0, elapsed(r["created_at"], r["resolved_at"])) / 3600)
        if r["due_at"]:
            g["with_target"] += 1
            answered = r["first_response_at"]
            g["breached"] += (answered or now_db) > r["due_at"]
        if r["satisfaction"] is not None:
            g["ratings"].append(r["satisfaction"])
    if by == "priority":
        order = sorted(groups, key=lambda k: (_ORDER.get(k, 9), k))
    else:
        order = sorted(groups, key=lambda k: (-(groups[k]["open"] + groups[k]["created"]),
                                              k.casefold()))  # fmt: skip
    rows = [_row({by: key}, groups[key]) for key in order]
    everything = group_total(groups.values())
    cols = [Col(by, by), Col("open", "open", "int"), Col("open_over_7d", "open >7d", "int"),
            Col("oldest_days", "oldest days", "days"), Col("created", "opened", "int"),
            Col("response_median_h", "1st response h", "hours"),
            Col("response_p90_h", "p90 h", "hours"), Col("breached", "breached", "int"),
            Col("breach_rate", "breach %", "pct"), Col("resolved", "resolved", "int"),
            Col("resolve_median_h", "resolve h", "hours"),
            Col("satisfaction", "satisfaction", "pct"), Col("rated", "rated", "int")]  # fmt: skip
    return Report(
        "service", f"Service by {by}: backlog now, tickets opened {period.label}", cols, rows,
        period, tuple(args.filters), totals=[_row({}, everything)] if rows else [],
        notes=["breached: answered after the response target (ticket.target.PRIORITY), or "
               "still unanswered past it"],
        chart=Chart(by, (("response_median_h", "median hours to first response"),
                         ("resolve_median_h", "median hours to resolve"))),
    )  # fmt: skip


def group_total(groups) -> dict:
    total: dict = {"open": 0, "aging": 0, "oldest": None, "created": 0, "response": [],
                   "resolve": [], "breached": 0, "with_target": 0, "ratings": []}  # fmt: skip
    for g in groups:
        for k in ("open", "aging", "created", "breached", "with_target"):
            total[k] += g[k]
        for k in ("response", "resolve", "ratings"):
            total[k] += g[k]
        if g["oldest"] is not None:
            total["oldest"] = max(total["oldest"] or 0.0, g["oldest"])
    return total


def _row(head: dict, g: dict) -> dict:
    ratings = g["ratings"]
    return {
        **head, "open": g["open"], "open_over_7d": g["aging"],
        "oldest_days": round(g["oldest"], 1) if g["oldest"] is not None else None,
        "created": g["created"], "response_median_h": median(g["response"]),
        "response_p90_h": p90(g["response"]), "breached": g["breached"],
        "breach_rate": pct(g["breached"], g["with_target"]), "resolved": len(g["resolve"]),
        "resolve_median_h": median(g["resolve"]),
        "satisfaction": round(sum(ratings) / len(ratings), 1) if ratings else None,
        "rated": len(ratings),
    }  # fmt: skip
