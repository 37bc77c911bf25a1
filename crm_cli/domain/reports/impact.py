"""Campaign impact (``crm report impact CAMPAIGN``): did the campaign change what people
do, compared with people it did not reach?

- **The date**: the campaign starts on the local day it first reached someone (crm's own
  sends and imported deliveries), or on ``--from DAY``. The *before* window is the
  ``--window`` (default 8 weeks) of days up to it; the *after* window the same length
  from it. While the after window is still running, its figures are scaled to the full
  length -- by the counted days (``--weekday``) seen so far -- and the report says so.
- **The metric** per customer: paid orders (``orders``), their totals in one currency
  (``revenue``; ``--currency``, default the most used), or web visits (``visits``);
  ``--weekday sat,sun`` counts only those days of the week.
- **With a hold-out** (the default when the campaign has one) the two groups are compared
  as the draw assigned them, reached or not (intent to treat): the *target group* against
  the *hold-out*. Comparing only the people reached would compare a selection -- a
  receipt is printed only when someone buys -- with everyone held out.
- **Without one** (or ``--control matched``): the *recipients* (everyone reached) against
  the non-recipients in their RFM cells at the start day (recency, frequency and money,
  each 1-5 by quintile of the customers with paid orders before it; ``0-0-0``: none yet),
  compared cell by cell and weighted to the recipients' mix (``_matched``: coarser cells
  when the non-recipients are too few for fine ones). Not randomised: the report says so.
- **The estimate**: difference in differences -- the first group's mean change (after
  minus before) less the control's, cell by cell when matched -- with a 95% interval: a
  percentile bootstrap resampling customers of both groups (within each cell), seeded so
  the same data gives the same interval, or for very large groups the normal
  approximation; no interval below MIN_GROUP customers in a group. The **lift** is the
  estimate as a share of what the group would have done without the campaign (its
  before plus the control's change).
- **Response rate**: the share of each group who did more of it in the after window than
  in the before window (for lapsed customers: who came back at all).
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from crm_cli.domain import campaigns, dates, holdout, money
from crm_cli.domain.reports import Chart, Col, Report, ReportArgs, parse_days
from crm_cli.errors import InvalidInput
from crm_cli.storage import campaign_reports as cstore
from crm_cli.storage import impact as store
from crm_cli.storage.db import Db

METRICS = ("orders", "revenue", "visits")
CONTROLS = ("holdout", "matched")
DEFAULT_WINDOW = "8w"
RESAMPLES = 2000
BOOTSTRAP_DRAWS = 4_000_000  # resamples x customers: past this, fewer resamples
NORMAL_ABOVE = 50_000  # customers: past this, the normal approximation
MIN_GROUP = 5  # customers a group needs for an interval


@dataclass
class _Arm:
    """A group's customers with their metric before and after (and a weight each: a
    matched control's customers stand in for the recipients of their stratum)."""

    ids: list[int]
    before: list[float]
    after: list[float]
    weights: list[float] | None = None

    def diffs(self) -> list[float]:
        return [a - b for a, b in zip(self.after, self.before, strict=True)]

    def summary(self) -> dict:
        n = len(self.ids)
        w = self.weights or [1 / n] * n if n else []
        before = sum(x * y for x, y in zip(w, self.before))
        after = sum(x * y for x, y in zip(w, self.after))
        responded = sum(x for x, a, b in zip(w, self.after, self.before) if a > b)
        return {"customers": n, "before": before, "after": after, "change": after - before,
                "responded": round(responded * 100, 1) if n else None}  # fmt: skip


@dataclass
class _Stratum:
    """Recipients and control customers compared within one stratum (the hold-out design
    is one stratum; the matched design one per RFM cell the recipients fall in)."""

    t: list[float]  # the recipients' changes (after - before)
    c: list[float]  # the control customers' changes


def impact(db: Db, args: ReportArgs) -> Report:
    if len(args.filters) != 1:
        raise InvalidInput("name one campaign: crm report impact NAME")
    c = campaigns.get(db, args.filters[0])
    metric = (args.metric or "orders").strip().lower()
    if metric not in METRICS:
        raise InvalidInput(f"--metric must be one of {', '.join(METRICS)}, not {args.metric!r}")
    window = parse_days(args.window or DEFAULT_WINDOW)
    weekdays = dates.parse_weekdays(args.weekdays)
    tz = dates.local_tz()
    reach = cstore.first_reach(db, c.id)
    if not reach:
        raise InvalidInput(f"campaign {c.name!r} has reached nobody yet: nothing to compare")
    today = dates.to_local(dates.now(), tz).date()
    if args.start:
        start = date.fromisoformat(dates.parse_date(args.start, tz=tz))
    else:
        start = dates.to_local(dates.from_db(min(reach.values())), tz).date()
    if start > today:
        raise InvalidInput(f"the campaign starts {start}, after today: nothing to compare yet")
    if start.year < 1900:
        raise InvalidInput(f"--from {args.start!r}: give a day from 1900 on")
    first, end = start - timedelta(days=window), start + timedelta(days=window)
    end_seen = min(end, today + timedelta(days=1))  # today counts as far as it has gone

    def counted(a: date, b: date) -> int:  # days in [a, b) the metric counts
        return sum(1 for i in range((b - a).days)
                   if weekdays is None or (a + timedelta(days=i)).weekday() in weekdays)  # fmt: skip

    seen, full = counted(start, end_seen), counted(start, end)
    if seen == 0:
        raise InvalidInput(f"no {'/'.join(dates.WEEKDAY_NAMES[d] for d in sorted(weekdays or ()))}"
                           f" since the start ({start}) yet: nothing to compare")  # fmt: skip
    scale = full / seen

    control = (args.control or ("holdout" if c.holdout_pct else "matched")).strip().lower()
    if control not in CONTROLS:
        raise InvalidInput(f"--control must be holdout or matched, not {args.control!r}")
    if control == "holdout" and not c.holdout_at:
        raise InvalidInput(
            f"campaign {c.name!r} has no hold-out"
            + (" drawn yet" if c.holdout_pct else "")
            + ": compare with matched non-recipients (--control matched)"
        )
    currency = None
    if metric == "revenue":
        currency = (args.currency or store.main_currency(db, first.isoformat(), end.isoformat())
                    or "EUR").strip().upper()  # fmt: skip
        money.exponent(currency)
    before, after = _events(db, metric, currency, first, start, end_seen, weekdays, tz)
    unit = 10 ** money.exponent(currency) if currency else 1

    def arm(ids: list[int]) -> _Arm:
        return _Arm(ids, [before.get(i, 0) / unit for i in ids],
                    [after.get(i, 0) * scale / unit for i in ids])  # fmt: skip

    notes: list[str] = []
    if control == "holdout":
        # Intent to treat: the groups as the draw assigned them, reached or not. Comparing
        # only the people reached would compare a selection (a receipt is printed only
        # when someone buys) with everyone held out.
        held, target = holdout.held_out(db, c), holdout.targets(db, c)
        treated, ctrl = arm(sorted(target)), arm(sorted(held))
        t_label, label = "target group", f"control: hold-out ({c.holdout_pct:g}%)"
        strata = [_Stratum(treated.diffs(), ctrl.diffs())]
        notes.append(
            f"the groups as the hold-out draw assigned them (seed {c.holdout_seed}), reached or "
            f"not: {len(target & reach.keys())} of the {len(target)} in the target group were "
            "reached"
        )  # fmt: skip
        crossed = held & reach.keys()
        if crossed:
            notes.append(f"{len(crossed)} hold-out member(s) were reached anyway by an imported "
                         "delivery: counted as held out, which shrinks the estimate")  # fmt: skip
    else:
        treated = arm(sorted(reach))
        t_label = "recipients"
        ctrl, strata, on, own = _matched(db, treated, reach.keys(), start, currency, arm, first)
        if on:
            label = f"control: matched on {on}"
            notes.append(
                f"control: {len(ctrl.ids)} non-recipients in the recipients' {on} cells at "
                f"{start} ({own} of {len(treated.ids)} recipients in a cell of their own, the "
                f"rest in the nearest with {MIN_CONTROLS}+ non-recipients), weighted to the "
                "recipients' mix; not a randomised hold-out, so other differences between the "
                "groups may remain"
            )  # fmt: skip
        else:
            label = "control: all non-recipients"
            notes.append(
                f"control: all {len(ctrl.ids)} non-recipients, not matched: too few for "
                f"{MIN_CONTROLS}+ in the recency cells of 90% of the recipients; not a "
                "randomised hold-out, so other differences between the groups may remain"
            )  # fmt: skip
    if not treated.ids or not ctrl.ids:
        raise InvalidInput(f"campaign {c.name!r}: one of the groups is empty, nothing to compare")
    did, low, high, method = _estimate(strata, random.Random(f"boot:{c.id}:{metric}:{start}"))
    t, k = treated.summary(), ctrl.summary()
    counterfactual = t["before"] + k["change"]
    lift = round(did / counterfactual * 100, 1) if counterfactual > 0 else None
    rows = [
        {"group": t_label, **t, "low": None, "high": None},
        {"group": label, **k, "low": None, "high": None},
        {"group": "difference in differences", "customers": None, "before": None,
         "after": None, "change": did, "low": low, "high": high,
         "responded": (None if t["responded"] is None or k["responded"] is None
                       else round(t["responded"] - k["responded"], 1)),
         "lift_pct": lift, "interval": method},
    ]  # fmt: skip
    for r in rows:
        for key in ("before", "after", "change", "low", "high"):
            if r[key] is not None:
                r[key] = round(r[key], 4)
    what = {"orders": "paid orders", "revenue": f"revenue in {currency}",
            "visits": "web visits"}[metric]  # fmt: skip
    days_text = ""
    if weekdays is not None:
        days_text = " on " + ",".join(dates.WEEKDAY_NAMES[d] for d in sorted(weekdays))
    notes.insert(0, f"{what}{days_text} per customer in {window} days: before "
                    f"{first}..{start - timedelta(days=1)}, after {start}..{end - timedelta(days=1)}")  # fmt: skip
    if seen < full:
        notes.append(f"the after window has run {seen} of its {full} counted days: its figures "
                     "are scaled to the full window")  # fmt: skip
    if low is None:
        verdict = (f"no interval: fewer than {MIN_GROUP} customers in a group, too few to "
                   "tell an effect from chance")  # fmt: skip
        notes.append(f"difference in differences {did:+.2f}; {verdict}")
    else:
        verdict = ("the interval excludes 0: a change this size is unlikely to be chance"
                   if low > 0 or high < 0 else "the interval includes 0: no clear effect")  # fmt: skip
        notes.append(f"difference in differences {did:+.2f} (95% interval {low:+.2f} to "
                     f"{high:+.2f}, {method}); {verdict}"
                     + (f"; lift {lift:+.1f}% over what they would have done without it"
                        if lift is not None else ""))  # fmt: skip
    notes.append("responded: customers with more of these in the after window than before")
    cols = [Col("group", "group"), Col("customers", "customers", "int"),
            Col("before", "before", "num"), Col("after", "after", "num"),
            Col("change", "change", "signed"), Col("low", "95% low", "signed"),
            Col("high", "95% high", "signed"), Col("responded", "responded %", "pct")]  # fmt: skip
    title = (
        f"Impact of {c.name}: {what}{days_text} per customer, {window} days each side of {start}"
    )
    return Report("impact", title, cols, rows, filters=args.filters, notes=notes,
                  chart=Chart("group", (("before", "before"), ("after", "after"))))  # fmt: skip


def _events(db: Db, metric: str, currency: str | None, first: date, start: date, end: date,
            weekdays: frozenset[int] | None, tz) -> tuple[dict[int, int], dict[int, int]]:  # fmt: skip
    """Per contact, the metric before ``start`` and from it (days in [first, end))."""
    before: dict[int, int] = {}
    after: dict[int, int] = {}
    if metric == "visits":
        lo = dates.to_db(datetime.combine(first, time(), tz))
        hi = dates.to_db(datetime.combine(end, time(), tz))
        rows = ((cid, dates.to_local(dates.from_db(at), tz).date(), 1)
                for cid, at in store.visits(db, lo, hi))  # fmt: skip
    else:
        rows = ((cid, date.fromisoformat(day), 1 if metric == "orders" else total)
                for cid, day, total, cur in store.paid_orders(db, first.isoformat(), end.isoformat())
                if metric == "orders" or cur == currency)  # fmt: skip
    for cid, day, value in rows:
        if weekdays is not None and day.weekday() not in weekdays:
            continue
        if not first <= day < end:
            continue  # a visit near midnight UTC may fall outside in local days
        into = before if day < start else after
        into[cid] = into.get(cid, 0) + value
    return before, after


MIN_CONTROLS = 5  # a stratum needs this many control customers to be compared on its own
_LEVELS = (("RFM", 3), ("RF", 2), ("R", 1), ("", 0))  # cells: scores compared at each level


def _matched(db, treated: _Arm, reached, start: date, currency, arm, first: date):
    """Non-recipients in the recipients' RFM cells at the start day, as strata.

    Cells are the recency, frequency and money scores (1-5 by quintile of the customers
    with paid orders before the start; 0-0-0 for none). The finest level of cells (RFM,
    then RF, then R, then none: all non-recipients) at which at least 90% of the recipients have a cell of
    their own with MIN_CONTROLS non-recipients is used; the other recipients join the
    nearest such cell. Each control customer is weighted by its stratum's share of the
    recipients over the stratum's control count. Returns (control arm, strata, the level
    -- "RFM", "RF", "R" or "" --, recipients in a cell of their own)."""
    from crm_cli.domain.reports.customers import scorer

    money_in = currency or store.main_currency(db, "0001-01-01", start.isoformat())
    history = store.order_history(db, start.isoformat(), money_in)
    day = start.toordinal()
    recency = [day - date.fromisoformat(h[2]).toordinal() for h in history]
    r_of = scorer(recency, low_is_good=True)
    f_of = scorer([h[1] for h in history])
    m_of = scorer([h[3] for h in history])
    cell = {h[0]: (r_of(rec), f_of(h[1]), m_of(h[3])) for h, rec in zip(history, recency)}
    # Non-recipients; one added after the before window began with no orders before the
    # start did not exist then, and would read as a customer who bought nothing.
    late = store.created_since(db, dates.to_db(datetime.combine(first, time(), dates.local_tz())))
    candidates = [cid for cid in store.contact_ids(db)
                  if cid not in reached and (cid in cell or cid not in late)]  # fmt: skip
    if len(candidates) < MIN_CONTROLS:
        raise InvalidInput(
            f"only {len(candidates)} contacts were not reached: too few to compare with"
        )
    n = len(treated.ids)
    for level, depth in _LEVELS:
        name = level
        pools: dict[tuple, list[int]] = {}
        for cid in candidates:
            pools.setdefault(cell.get(cid, (0, 0, 0))[:depth], []).append(cid)
        big = sorted(k for k, v in pools.items() if len(v) >= MIN_CONTROLS)
        keys = [cell.get(cid, (0, 0, 0))[:depth] for cid in treated.ids]
        own = sum(1 for k in keys if k in big)
        if big and own >= 0.9 * n:
            break
    nearest: dict[tuple, tuple] = {}
    members: dict[tuple, list[int]] = {}
    for i, k in enumerate(keys):
        if k not in big:
            if k not in nearest:
                nearest[k] = min(big, key=lambda o: (sum(abs(a - b) for a, b in zip(k, o)), o))
            k = nearest[k]
        members.setdefault(k, []).append(i)
    t_diffs = treated.diffs()
    strata, ids, weights = [], [], []
    for k in sorted(members):
        pool = pools[k]
        share = len(members[k]) / n
        c_arm = arm(pool)
        strata.append(_Stratum([t_diffs[i] for i in members[k]], c_arm.diffs()))
        ids += pool
        weights += [share / len(pool)] * len(pool)
    ctrl = arm(ids)
    ctrl.weights = weights
    return ctrl, strata, name, own


def _estimate(strata: list[_Stratum], rng: random.Random):
    """The difference in differences over the strata, each weighted by its share of the
    recipients, and its 95% interval: (estimate, low, high, how it was computed); no
    interval (None) when a group has fewer than MIN_GROUP customers. The bootstrap
    resamples recipients and control customers within each stratum."""
    n_t = sum(len(s.t) for s in strata)
    w = [len(s.t) / n_t for s in strata]
    est = sum(wi * (statistics.fmean(s.t) - statistics.fmean(s.c)) for wi, s in zip(w, strata))
    n = n_t + sum(len(s.c) for s in strata)
    if n_t < MIN_GROUP or n - n_t < MIN_GROUP:
        return est, None, None, None
    if n > NORMAL_ABOVE:
        se = math.sqrt(sum(wi * wi * (_var(s.t) / len(s.t) + _var(s.c) / len(s.c))
                           for wi, s in zip(w, strata)))  # fmt: skip
        return est, est - 1.96 * se, est + 1.96 * se, "normal approximation"
    resamples = max(200, min(RESAMPLES, BOOTSTRAP_DRAWS // n))
    stats = []
    for _ in range(resamples):
        stats.append(sum(
            wi * (statistics.fmean(rng.choices(s.t, k=len(s.t)))
                  - statistics.fmean(rng.choices(s.c, k=len(s.c))))
            for wi, s in zip(w, strata)
        ))  # fmt: skip
    stats.sort()
    lo = stats[int(0.025 * (resamples - 1))]
    hi = stats[math.ceil(0.975 * (resamples - 1))]
    return est, lo, hi, f"bootstrap, {resamples} resamples"


def _var(xs: list[float]) -> float:
    return statistics.variance(xs) if len(xs) > 1 else 0.0
