"""Campaign impact (``crm report impact CAMPAIGN``): did the people reached change what
they do, compared with people who were not reached?

- **The date**: the campaign starts on the local day it first reached someone (crm's own
  sends and imported deliveries), or on ``--from DAY``. The *before* window is the
  ``--window`` (default 8 weeks) of days up to it; the *after* window the same length
  from it. While the after window is still running, its figures are scaled to the full
  length (the report says so).
- **The metric** per customer: paid orders (``orders``), their totals in one currency
  (``revenue``; ``--currency``, default the most used), or web visits (``visits``);
  ``--weekday sat,sun`` counts only those days of the week.
- **Recipients**: everyone the campaign reached, less its hold-out.
- **The control group**: the campaign's hold-out (``--holdout`` on the campaign, less any
  member an imported delivery reached anyway) when it has one; otherwise, or with
  ``--control matched``, the non-recipients in the recipients' RFM cells at the start day
  (recency, frequency and money, each 1-5 by quintile of the customers with paid orders
  before it; ``0-0-0``: none yet), compared cell by cell and weighted to the recipients'
  mix (``_matched``: coarser cells when the non-recipients are too few for fine ones).
- **The estimate**: difference in differences -- the recipients' mean change (after
  minus before) less the control group's, cell by cell when matched -- with a 95%
  interval: a percentile bootstrap resampling recipients and control customers (within
  each cell), seeded so the same data gives the same interval, or for very large groups
  the normal approximation. The **lift** is the estimate as a share of what recipients
  would have done without the campaign (their before plus the control group's change).
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
from crm_cli.domain.reports import Chart, Col, Report, ReportArgs
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
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_WORDS = {
    **{d: i for i, d in enumerate(_DAYS)},
    **{n: i for i, n in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday",
                                   "saturday", "sunday"))},  # fmt: skip
    "tues": 1, "wednes": 2, "thur": 3, "thurs": 3,
}  # fmt: skip


def parse_weekdays(text: str | None) -> frozenset[int] | None:
    """``sat,sun``, ``saturday``, ``weekend``, ``weekdays``, ``mon-fri`` -> weekday numbers."""
    if text is None or not text.strip():
        return None
    out: set[int] = set()
    for part in text.lower().replace(" ", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if part in ("weekend", "weekends"):
            out |= {5, 6}
        elif part in ("weekday", "weekdays", "workdays"):
            out |= {0, 1, 2, 3, 4}
        elif "-" in part:
            a, _, b = part.partition("-")
            if a not in _DAY_WORDS or b not in _DAY_WORDS:
                raise InvalidInput(f"--weekday {text!r}: {part!r} is not a range like mon-fri")
            i, j = _DAY_WORDS[a], _DAY_WORDS[b]
            out |= set(range(i, j + 1)) if i <= j else set(range(i, 7)) | set(range(0, j + 1))
        elif part in _DAY_WORDS:
            out.add(_DAY_WORDS[part])
        else:
            raise InvalidInput(f"--weekday {text!r}: {part!r} is not a day (mon … sun, weekend)")
    if not out:
        raise InvalidInput(f"--weekday {text!r}: name at least one day")
    return frozenset(out)


def _window_days(text: str | None) -> int:
    t = (text or DEFAULT_WINDOW).strip().lower()
    units = {"d": 1, "w": 7}
    n, unit = (t[:-1], t[-1]) if t[-1:] in units else (t, "d")
    if not (n.isascii() and n.isdigit()) or not 1 <= int(n) * units[unit] <= 3660:
        raise InvalidInput(f"--window {text!r}: give days or weeks, e.g. 56, 56d or 8w")
    return int(n) * units[unit]


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
    window = _window_days(args.window)
    weekdays = parse_weekdays(args.weekdays)
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
    first, end = start - timedelta(days=window), start + timedelta(days=window)
    end_seen = min(end, today + timedelta(days=1))  # today counts as far as it has gone
    scale = window / (end_seen - start).days

    held = holdout.held_out(db, c) if c.holdout_at else set()
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

    treated = arm(sorted(i for i in reach if i not in held))
    if not treated.ids:
        raise InvalidInput(f"everyone campaign {c.name!r} reached is in its hold-out")
    notes: list[str] = []
    if control == "holdout":
        contaminated = held & reach.keys()
        ctrl = arm(sorted(held - reach.keys()))
        strata = [_Stratum(treated.diffs(), ctrl.diffs())]
        label = f"control: hold-out ({c.holdout_pct:g}%)"
        notes.append(f"control: the campaign's hold-out, {len(held)} drawn at random from the "
                     f"segment (seed {c.holdout_seed}) and never reached by crm")  # fmt: skip
        if contaminated:
            notes.append(f"{len(contaminated)} hold-out member(s) an imported delivery reached "
                         "anyway are left out of both groups")  # fmt: skip
        if not ctrl.ids:
            raise InvalidInput(f"every hold-out member of {c.name!r} was reached: no control group")
    else:
        ctrl, strata, on, own = _matched(db, treated, reach.keys(), start, currency, arm)
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
    did, low, high, method = _estimate(strata, random.Random(f"boot:{c.id}:{metric}:{start}"))
    t, k = treated.summary(), ctrl.summary()
    counterfactual = t["before"] + k["change"]
    lift = round(did / counterfactual * 100, 1) if counterfactual > 0 else None
    rows = [
        {"group": "recipients", **t, "low": None, "high": None},
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
        days_text = " on " + ",".join(_DAYS[d] for d in sorted(weekdays))
    notes.insert(0, f"{what}{days_text} per customer in {window} days: before "
                    f"{first}..{start - timedelta(days=1)}, after {start}..{end - timedelta(days=1)}")  # fmt: skip
    if end_seen < end:
        notes.append(f"the after window has run {(end_seen - start).days} of {window} days: "
                     "its figures are scaled to the full window")  # fmt: skip
    verdict = ("the interval excludes 0: a change this size is unlikely to be chance"
               if low > 0 or high < 0 else "the interval includes 0: no clear effect")  # fmt: skip
    notes.append(f"difference in differences {did:+.2f} (95% interval {low:+.2f} to {high:+.2f}, "
                 f"{method}); {verdict}"
                 + (f"; lift {lift:+.1f}% over what recipients would have done without it"
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


def _matched(db, treated: _Arm, reached, start: date, currency, arm):
    """Non-recipients in the recipients' RFM cells at the start day, as strata.

    Cells are the recency, frequency and money scores (1-5 by quintile of the customers
    with paid orders before the start; 0-0-0 for none). The finest level of cells (RFM,
    then RF, then R, then none: all non-recipients) at which at least 90% of the recipients have a cell of
    their own with MIN_CONTROLS non-recipients is used; the other recipients join the
    nearest such cell. Each control customer is weighted by its stratum's share of the
    recipients over the stratum's control count. Returns (control arm, strata, the level
    -- "RFM", "RF", "R" or "" --, recipients in a cell of their own)."""
    from crm_cli.domain.reports.customers import _scorer

    history = store.order_history(db, start.isoformat(), currency)
    day = start.toordinal()
    recency = [day - date.fromisoformat(h[2]).toordinal() for h in history]
    r_of = _scorer(recency, low_is_good=True)
    f_of = _scorer([h[1] for h in history])
    m_of = _scorer([h[3] for h in history])
    cell = {h[0]: (r_of(rec), f_of(h[1]), m_of(h[3])) for h, rec in zip(history, recency)}
    candidates = [cid for cid in store.contact_ids(db) if cid not in reached]
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
    recipients, and its 95% interval: (estimate, low, high, how it was computed). The
    bootstrap resamples recipients and control customers within each stratum."""
    n_t = sum(len(s.t) for s in strata)
    w = [len(s.t) / n_t for s in strata]
    est = sum(wi * (statistics.fmean(s.t) - statistics.fmean(s.c)) for wi, s in zip(w, strata))
    n = n_t + sum(len(s.c) for s in strata)
    if n > NORMAL_ABOVE or n_t < 2 or n - n_t < 2:
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
