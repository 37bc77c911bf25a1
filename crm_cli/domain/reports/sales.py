"""Sales reports: pipeline, forecast, win rate, cycle, funnel, lost reasons.

Filters are the deal filter language (``owner:ana source:web tag:renewal``). Periods:
``pipeline`` and ``forecast`` place open deals by their expected close date; ``winrate``,
``cycle`` and ``lost`` take the deals closed in the period; ``funnel`` follows the deals
created in the period through their ``deal move`` history.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections import defaultdict
from datetime import date

from crm_cli.domain import dates, deals
from crm_cli.domain.reports import (
    Chart,
    Col,
    Report,
    ReportArgs,
    amount,
    date_sql,
    days,
    median,
    p90,
    pct,
    period_sql,
    weighted,
)
from crm_cli.storage import reports as store
from crm_cli.storage.db import Db

MONEY_COLS = [Col("currency", "currency")]


def _money_totals(rows: list[dict], keys: tuple[str, ...], count: str = "deals") -> list[dict]:
    """Per currency: the sum of each money key (exact text) and of the count."""
    acc: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        cur = r.get("currency")
        if not cur:
            continue
        acc[cur][count] += r.get(count) or 0
        for k in keys:
            acc[cur][k] += r.get(f"_{k}") or 0
    return [{"currency": c, count: v[count], **{k: amount(v[k], c) for k in keys}}
            for c, v in sorted(acc.items())]  # fmt: skip


def _no_pipeline_yet(db: Db, args: ReportArgs) -> bool:
    """A fresh database, read before its first write created the default pipeline."""
    return args.pipeline is None and not deals.has_pipelines(db)


def _strip(rows: list[dict]) -> list[dict]:
    """Drop the private minor-unit keys (``_amount``) used for totals."""
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]


# ---------------------------------------------------------------- pipeline


def pipeline(db: Db, args: ReportArgs) -> Report:
    """Open deals by stage: count, amount and amount weighted by the stage's probability,
    per currency; ``--by owner`` splits each stage per owner; a period keeps the deals
    expected to close in it."""
    by = args.grouping(("stage", "owner"), "stage")
    if _no_pipeline_yet(db, args):
        return Report("pipeline", "Pipeline: none yet", [Col("stage", "stage")], [],
                      args.resolve_period(None), tuple(args.filters))  # fmt: skip
    pid = deals.resolve_pipeline(db, args.pipeline)
    p = deals.get_pipeline(db, pid)
    period = args.resolve_period(None)
    where, params = deals.filter_sql(db, list(args.filters))
    close_sql, close_params = date_sql(period, "d.expected_close_date")
    rows = []
    for r in store.open_by_stage(db, pid, (f"({where}) AND {close_sql}", [*params, *close_params]),
                                 by == "owner"):  # fmt: skip
        minor = r["amount_minor"]
        w = weighted(minor, r["probability"]) if minor is not None else None
        row = {"stage": r["stage"], "probability": r["probability"]}
        if by == "owner":
            if not r["deals"]:
                continue  # a stage with no deal has no owner to show
            row["owner"] = r["owner"] or "(nobody)"
        row.update(currency=r["currency"], deals=r["deals"], amount=amount(minor, r["currency"]),
                   weighted=amount(w, r["currency"]), _amount=minor, _weighted=w)  # fmt: skip
        rows.append(row)
    cols = [Col("stage", "stage"), Col("probability", "prob %", "int")]
    if by == "owner":
        cols.append(Col("owner", "owner"))
    cols += [Col("currency", "currency"), Col("deals", "deals", "int"),
             Col("amount", "amount", "money"), Col("weighted", "weighted", "money")]  # fmt: skip
    no_amount = sum(r["deals"] for r in rows if not r["currency"])
    notes = [f"{no_amount} open deal(s) have no amount"] if no_amount else []
    return Report(
        "pipeline",
        f"Pipeline {p.name}: open deals by stage" + (" and owner" if by == "owner" else "")
        + (f", closing {period.label}" if period else ""),
        cols, _strip(rows), period, tuple(args.filters),
        totals=_money_totals(rows, ("amount", "weighted")), notes=notes,
        chart=Chart("stage", (("amount", "amount"), ("weighted", "weighted")), money=True),
    )  # fmt: skip


# ---------------------------------------------------------------- forecast


def _commit_probability(db: Db) -> int:
    from crm_cli.domain import settings

    return int(settings.get(db, "reports.commit_probability"))


def forecast(db: Db, args: ReportArgs) -> Report:
    """By expected close month: what was won (past and current months) and what may be
    won from open deals -- worst case (won + deals at or above the commit probability),
    weighted (won + amount x probability), best case (won + every open deal). Open deals
    whose close date has passed are shown apart as "overdue"; those without one as
    "no date". Default period: the last 6 months through the next 6."""
    period = args.resolve_period(None)
    if period is None:
        today = dates.to_local(dates.now()).date()
        this = dates.unit_period(today, "month")
        first = _shift_month(this.first, -6)
        last = dates.unit_period(_shift_month(this.first, 6), "month").last
        period = dates.parse_period(f"{first.isoformat()}..{last.isoformat()}")
    commit = _commit_probability(db)
    where = deals.filter_sql(db, list(args.filters), everything=True)
    months = dates.buckets(period, "month")
    today = dates.to_local(dates.now()).date()
    this_month = f"{today.year:04d}-{today.month:02d}"
    # month -> currency -> figures (minor units)
    acc: dict[str, dict[str, dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(int))
    )
    for r in store.closed_deals(db, where, period_sql(period, "d.closed_at"), "won"):
        if r["amount_minor"] is None:
            continue
        label = dates.unit_period(dates.to_local(dates.from_db(r["closed_at"])).date(),
                                  "month").label  # fmt: skip
        f = acc[label][r["currency"]]
        f["won"] += r["amount_minor"]
        f["won_deals"] += 1
    labels = {b.label for b in months}
    for r in store.open_by_close_month(db, where):
        if r["amount_minor"] is None:
            continue
        month = r["month"]
        if month is None:
            key = "no date"
        elif month < this_month:
            key = "overdue"
        elif month in labels:
            key = month
        else:
            continue  # beyond the period
        f = acc[key][r["currency"]]
        f["open_deals"] += r["deals"]
        f["best"] += r["amount_minor"]
        f["weighted"] += weighted(r["amount_minor"], r["probability"])
        if r["probability"] >= commit:
            f["commit"] += r["amount_minor"]
    rows = []
    currencies = sorted({c for figures in acc.values() for c in figures})
    for b in months:  # every month of the period shows, for every currency seen
        for cur in currencies:
            acc[b.label].setdefault(cur, defaultdict(int))  # zeros: a chart's months line up
    for key in [b.label for b in months] + ["overdue", "no date"]:
        for cur, f in sorted(acc.get(key, {}).items()):
            won = f["won"]
            rows.append({
                "month": key, "currency": cur, "won_deals": f["won_deals"],
                "won": amount(won, cur), "open_deals": f["open_deals"],
                "worst": amount(won + f["commit"], cur),
                "weighted": amount(won + f["weighted"], cur),
                "best": amount(won + f["best"], cur),
                "_won": won, "_worst": won + f["commit"], "_weighted": won + f["weighted"],
                "_best": won + f["best"], "_open": f["open_deals"],
            })  # fmt: skip
    cols = [Col("month", "close month"), Col("currency", "currency"),
            Col("won_deals", "won", "int"), Col("won", "won amount", "money"),
            Col("open_deals", "open", "int"), Col("worst", "worst case", "money"),
            Col("weighted", "weighted", "money"), Col("best", "best case", "money")]  # fmt: skip
    totals = _money_totals(rows, ("won", "worst", "weighted", "best"), count="won_deals")
    return Report(
        "forecast", f"Forecast by expected close month, {period.label}", cols, _strip(rows),
        period, tuple(args.filters), totals=totals,
        notes=[f"worst case counts open deals in stages of {commit}% or more "
               "(config reports.commit_probability)"],
        chart=Chart("month", (("won", "won"), ("weighted", "weighted"), ("best", "best case")),
                    money=True),
    )  # fmt: skip


def _shift_month(first: date, n: int) -> date:
    total = first.year * 12 + first.month - 1 + n
    return date(total // 12, total % 12 + 1, 1)


# ---------------------------------------------------------------- win rate and cycle

_GROUPS = ("owner", "source", "month", "quarter", "year", "pipeline")


def _grouper(rows: list[dict], by: str):
    """row -> its group: owner, source or pipeline; for month, quarter or year the local
    calendar unit of its closing, found by bisecting the units' UTC starts (stored times
    are fixed-width UTC text, so text order is time order: no date parsing per row)."""
    if by == "owner":
        return lambda r: r["owner"] or "(nobody)"
    if by == "source":
        return lambda r: r["source"] or "(none)"
    if by == "pipeline":
        return lambda r: str(r["pipeline_id"])
    if not rows:
        return lambda r: ""
    first, last = min(r["closed_at"] for r in rows), max(r["closed_at"] for r in rows)
    span = dates.period_between(_local_day(first), _local_day(last))
    units = dates.buckets(span, by)
    starts, labels = [dates.to_db(u.start) for u in units], [u.label for u in units]
    return lambda r: labels[bisect.bisect_right(starts, r["closed_at"]) - 1]


def _local_day(at: str) -> str:
    return dates.to_local(dates.from_db(at)).date().isoformat()


def _closed(db: Db, args: ReportArgs, default_period: str | None) -> tuple[list[dict], object]:
    period = args.resolve_period(default_period)
    where = deals.filter_sql(db, list(args.filters), everything=True)
    return store.closed_deals(db, where, period_sql(period, "d.closed_at")), period


def _pipeline_names(db: Db) -> dict[str, str]:
    return {str(r["id"]): r["name"] for r in deals.list_pipelines(db)}


def winrate(db: Db, args: ReportArgs) -> Report:
    """Of the deals closed in the period: won, lost and the win rate (won / closed) per
    owner (default), source, pipeline or month/quarter/year of closing; the amount won
    per currency."""
    by = args.grouping(_GROUPS, "owner")
    rows_in, period = _closed(db, args, None)
    names = _pipeline_names(db) if by == "pipeline" else {}
    groups: dict[str, dict] = {}
    group_of = _grouper(rows_in, by)
    for r in rows_in:
        key = group_of(r)
        g = groups.setdefault(key, {"won": 0, "lost": 0, "won_amount": defaultdict(int)})
        g[r["status"]] += 1
        if r["status"] == "won" and r["amount_minor"] is not None:
            g["won_amount"][r["currency"]] += r["amount_minor"]
    rows = []
    order = (
        sorted(groups)
        if by in ("month", "quarter", "year")
        else sorted(groups, key=lambda k: (-(groups[k]["won"] + groups[k]["lost"]), k.casefold()))
    )
    for key in order:
        g = groups[key]
        closed = g["won"] + g["lost"]
        rows.append({by: names.get(key, key), "closed": closed, "won": g["won"], "lost": g["lost"],
                     "win_rate": pct(g["won"], closed),
                     "won_amount": {c: amount(v, c) for c, v in sorted(g["won_amount"].items())}})  # fmt: skip
    won = sum(g["won"] for g in groups.values())
    lost = sum(g["lost"] for g in groups.values())
    won_amount: dict[str, int] = defaultdict(int)
    for g in groups.values():
        for c, v in g["won_amount"].items():
            won_amount[c] += v
    totals = [{"closed": won + lost, "won": won, "lost": lost, "win_rate": pct(won, won + lost),
               "won_amount": {c: amount(v, c) for c, v in sorted(won_amount.items())}}]  # fmt: skip
    cols = [Col(by, by), Col("closed", "closed", "int"), Col("won", "won", "int"),
            Col("lost", "lost", "int"), Col("win_rate", "win rate %", "pct"),
            Col("won_amount", "won amount", "money")]  # fmt: skip
    return Report("winrate", f"Win rate by {by}" + (f", closed {period.label}" if period else ""),
                  cols, rows, period, tuple(args.filters), totals=totals,
                  chart=Chart(by, (("win_rate", "win rate %"),)))  # fmt: skip


def cycle(db: Db, args: ReportArgs) -> Report:
    """Sales-cycle length of the deals won in the period -- days from created to won --
    median and p90 per owner (default), source, pipeline or month/quarter/year; lost
    deals' time to loss beside it."""
    by = args.grouping(_GROUPS, "owner")
    rows_in, period = _closed(db, args, None)
    names = _pipeline_names(db) if by == "pipeline" else {}
    groups: dict[str, dict[str, list[float]]] = {}
    group_of = _grouper(rows_in, by)
    for r in rows_in:
        if r["days"] is None:
            continue
        g = groups.setdefault(group_of(r), {"won": [], "lost": []})
        g[r["status"]].append(max(0.0, r["days"]))
    everything = {"won": [], "lost": []}
    rows = []
    order = (
        sorted(groups)
        if by in ("month", "quarter", "year")
        else sorted(groups, key=lambda k: (-len(groups[k]["won"]), k.casefold()))
    )
    for key in order:
        g = groups[key]
        everything["won"] += g["won"]
        everything["lost"] += g["lost"]
        rows.append(_cycle_row({by: names.get(key, key)}, g))
    cols = [Col(by, by), Col("won", "won", "int"), Col("median_days", "median days", "days"),
            Col("p90_days", "p90 days", "days"), Col("lost", "lost", "int"),
            Col("lost_median_days", "lost median days", "days")]  # fmt: skip
    return Report("cycle", f"Sales cycle (created to won) by {by}"
                  + (f", closed {period.label}" if period else ""), cols, rows, period,
                  tuple(args.filters), totals=[_cycle_row({}, everything)],
                  chart=Chart(by, (("median_days", "median days"), ("p90_days", "p90 days"))))  # fmt: skip


def _cycle_row(head: dict, g: dict[str, list[float]]) -> dict:
    return {**head, "won": len(g["won"]), "median_days": median(g["won"]),
            "p90_days": p90(g["won"]), "lost": len(g["lost"]),
            "lost_median_days": median(g["lost"])}  # fmt: skip


# ---------------------------------------------------------------- funnel


def funnel(db: Db, args: ReportArgs) -> Report:
    """The deals created in the period, stage by stage: how many reached each stage (or a
    later one), the conversion from the stage before, and the time spent in the stage
    (median and p90 days, over the stays that have ended); then won and lost."""
    if _no_pipeline_yet(db, args):
        return Report("funnel", "Funnel: no pipeline yet", [Col("stage", "stage")], [],
                      args.resolve_period(None), tuple(args.filters))  # fmt: skip
    pid = deals.resolve_pipeline(db, args.pipeline)
    p = deals.get_pipeline(db, pid)
    period = args.resolve_period(None)
    stages = store.stages_of(db, pid)
    position = {s["id"]: i for i, s in enumerate(stages)}
    where = deals.filter_sql(db, list(args.filters), everything=True)
    reached = [0] * len(stages)
    stays: list[list[float]] = [[] for _ in stages]
    won = lost = total = 0
    moves = store.moves_of_deals(db, pid, where, period_sql(period, "d.created_at"))
    for deal_moves in _by_deal(moves):
        total += 1
        top = -1
        here, since = None, None
        for _, to_stage, from_status, to_status, moved, _status in deal_moves:
            i = position.get(to_stage)
            if i is not None and i > top:
                top = i
            stage_changed = to_stage != here
            closing = to_status in ("won", "lost") and from_status == "open"
            if here is not None and since is not None and (stage_changed or closing):
                j = position.get(here)
                if j is not None:
                    stays[j].append(max(0.0, moved - since))
            if to_status == "open" and (stage_changed or from_status != "open"):
                here, since = to_stage, moved
            elif to_status != "open":
                here, since = None, None
        for i in range(top + 1):
            reached[i] += 1
        status = deal_moves[-1][5]
        won += status == "won"
        lost += status == "lost"
    rows = []
    for i, s in enumerate(stages):
        before = reached[i - 1] if i else total
        rows.append({"stage": s["name"], "reached": reached[i],
                     "conversion": pct(reached[i], before),
                     "median_days": median(stays[i]), "p90_days": p90(stays[i]),
                     "stays": len(stays[i])})  # fmt: skip
    rows.append({"stage": "won", "reached": won, "conversion": pct(won, total),
                 "median_days": None, "p90_days": None, "stays": None})  # fmt: skip
    rows.append({"stage": "lost", "reached": lost, "conversion": pct(lost, total),
                 "median_days": None, "p90_days": None, "stays": None})  # fmt: skip
    cols = [Col("stage", "stage"), Col("reached", "reached", "int"),
            Col("conversion", "conversion %", "pct"), Col("median_days", "median days in stage", "days"),
            Col("p90_days", "p90 days", "days")]  # fmt: skip
    return Report(
        "funnel", f"Funnel of {p.name}: {total} deal(s) created"
        + (f" {period.label}" if period else ""), cols, rows, period, tuple(args.filters),
        notes=["conversion: the share of the previous stage's deals that reached this stage or a "
               "later one (won and lost: of every deal)"],
        chart=Chart("stage", (("reached", "deals"),)),
    )  # fmt: skip


def _by_deal(moves: list[tuple]):
    """The moves grouped per deal (they come sorted by deal)."""
    current: list[tuple] = []
    for m in moves:
        if current and m[0] != current[0][0]:
            yield current
            current = []
        current.append(m)
    if current:
        yield current


# ---------------------------------------------------------------- lost


def lost(db: Db, args: ReportArgs) -> Report:
    """Why deals were lost: reasons ranked by how many deals they lost (same reason in any
    case or accents counts once), with the stages they were lost at and the amounts."""
    rows_in, period = _closed_status(db, args, "lost")
    groups: dict[str, dict] = {}
    for r in rows_in:
        reason = (r["lost_reason"] or "").strip()
        key = _reason_key(reason)
        g = groups.setdefault(key, {"spellings": defaultdict(int), "deals": 0,
                                    "stages": defaultdict(int), "amount": defaultdict(int)})  # fmt: skip
        g["spellings"][reason or "(no reason given)"] += 1
        g["deals"] += 1
        g["stages"][(r["stage_position"], r["stage"])] += 1
        if r["amount_minor"] is not None:
            g["amount"][r["currency"]] += r["amount_minor"]
    total = sum(g["deals"] for g in groups.values())
    rows = []
    for key in sorted(groups, key=lambda k: (-groups[k]["deals"], k)):
        g = groups[key]
        # The most used spelling; on a tie, the first seen (deals in closing order).
        reason = max(g["spellings"].items(), key=lambda kv: kv[1])[0]
        stages = sorted(g["stages"].items(), key=lambda kv: (-kv[1], kv[0][0]))
        rows.append({"reason": reason, "deals": g["deals"], "share": pct(g["deals"], total),
                     "stages": {name: n for (_, name), n in stages},
                     "amount": {c: amount(v, c) for c, v in sorted(g["amount"].items())}})  # fmt: skip
    cols = [Col("reason", "reason"), Col("deals", "deals", "int"), Col("share", "share %", "pct"),
            Col("stages", "lost at stage"), Col("amount", "amount", "money")]  # fmt: skip
    return Report("lost", "Lost deals by reason" + (f", lost {period.label}" if period else ""),
                  cols, rows, period, tuple(args.filters), totals=[{"deals": total}],
                  chart=Chart("reason", (("deals", "deals"),)))  # fmt: skip


def _reason_key(reason: str) -> str:
    """'Price', 'price.' and 'PRICE ' are one reason; 'precio' is another."""
    s = unicodedata.normalize("NFKD", reason)
    s = "".join(c for c in s if not unicodedata.combining(c)).casefold()
    return " ".join(_PUNCT.sub(" ", s).split())


_PUNCT = re.compile(r"[^\w]+")


def _closed_status(db: Db, args: ReportArgs, status: str):
    period = args.resolve_period(None)
    where = deals.filter_sql(db, list(args.filters), everything=True)
    return store.closed_deals(db, where, period_sql(period, "d.closed_at"), status), period


__all__ = ["pipeline", "forecast", "winrate", "cycle", "funnel", "lost", "days"]
