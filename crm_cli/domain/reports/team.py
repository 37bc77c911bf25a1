"""The team report: the employee side of the relationship."""

from __future__ import annotations

from collections import defaultdict

from crm_cli.domain import dates
from crm_cli.domain.reports import Chart, Col, Report, ReportArgs, amount, elapsed, median
from crm_cli.domain.selectors import where_for
from crm_cli.storage import reports as store
from crm_cli.storage.db import Db


def team(db: Db, args: ReportArgs) -> Report:
    """Per team member (filters: ``team:sales``, ``role:manager``, ``name:ana``): in the
    period (default: the last 30 days) the interactions they logged, the deals they won
    and lost with the amounts won, the tickets they resolved and the median hours to first
    response on those; now, their open follow-ups and tickets (the workload) and how many
    of those are overdue (follow-ups past due, tickets unanswered past their target)."""
    period = args.resolve_period("last 30 days")
    assert period is not None
    members = store.team_members(db, where_for(list(args.filters), "users", db=db))
    start, end = period.db()
    figures = store.team_figures(db, start, end, dates.to_db(dates.now()))
    acts = dict(figures["activities"])
    won: dict[int, int] = defaultdict(int)
    lost: dict[int, int] = defaultdict(int)
    won_amount: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for uid, status, currency, n, total in figures["deals"]:
        (won if status == "won" else lost)[uid] += n
        if status == "won" and currency is not None:
            won_amount[uid][currency] += total
    resolved: dict[int, list[float]] = defaultdict(list)
    resolved_n: dict[int, int] = defaultdict(int)
    for uid, created, responded in figures["resolved"]:
        resolved_n[uid] += 1
        if responded:
            resolved[uid].append(max(0.0, elapsed(created, responded) or 0.0) / 3600)
    fus = {uid: (n, late or 0) for uid, n, late in figures["followups"]}
    tks = {uid: (n, late or 0) for uid, n, late in figures["tickets"]}
    rows = []
    for m in members:
        uid = m["id"]
        rows.append({
            "member": m["name"], "team": m["team"], "interactions": acts.get(uid, 0),
            "won": won[uid], "lost": lost[uid],
            "won_amount": {c: amount(v, c) for c, v in sorted(won_amount[uid].items())},
            "tickets_resolved": resolved_n[uid], "response_median_h": median(resolved[uid]),
            "open_followups": fus.get(uid, (0, 0))[0], "open_tickets": tks.get(uid, (0, 0))[0],
            "overdue": fus.get(uid, (0, 0))[1] + tks.get(uid, (0, 0))[1],
        })  # fmt: skip
    cols = [Col("member", "member"), Col("team", "team"),
            Col("interactions", "interactions", "int"), Col("won", "won", "int"),
            Col("lost", "lost", "int"), Col("won_amount", "won amount", "money"),
            Col("tickets_resolved", "tickets resolved", "int"),
            Col("response_median_h", "1st response h", "hours"),
            Col("open_followups", "open follow-ups", "int"),
            Col("open_tickets", "open tickets", "int"), Col("overdue", "overdue", "int")]  # fmt: skip
    keys = ("interactions", "won", "lost", "tickets_resolved", "open_followups", "open_tickets",
            "overdue")  # fmt: skip
    totals = [{k: sum(r[k] for r in rows) for k in keys}] if rows else []
    return Report("team", f"Team, {period.label} (workload: now)", cols, rows, period,
                  tuple(args.filters), totals=totals,
                  chart=Chart("member", (("interactions", "interactions"),
                                         ("open_followups", "open follow-ups"),
                                         ("overdue", "overdue"))))  # fmt: skip
