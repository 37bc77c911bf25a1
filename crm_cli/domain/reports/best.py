"""The best-customer profile and the look-alikes ranked against it."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from itertools import groupby
from operator import itemgetter

from crm_cli.domain import money
from crm_cli.domain.reports import Col, Report, ReportArgs, pct
from crm_cli.domain.selectors import where_for
from crm_cli.errors import InvalidInput
from crm_cli.storage import customer_reports as store
from crm_cli.storage.db import Db

TOP_PERCENT = 20
ATTRIBUTES = ("industry", "size", "source", "tag", "channel", "cadence")
SCORED = ("industry", "size", "source", "tag")  # what look-alikes are ranked by
_CADENCES = ((10, "weekly"), (45, "monthly"), (120, "quarterly"))


def cadence(orders: int, first: str | None, last: str | None) -> str:
    """How often a customer orders, from their first and last order and the count."""
    if not orders:
        return "won deals only"
    if orders == 1 or not first or not last:
        return "one order"
    gap = (date.fromisoformat(last) - date.fromisoformat(first)).days / (orders - 1)
    return next((name for limit, name in _CADENCES if gap <= limit), "less than quarterly")


@dataclass(frozen=True, slots=True)
class Profile:
    currency: str | None
    customers: int
    best_ids: tuple[int, ...]
    best_value: int
    all_value: int
    rows: tuple[dict, ...]  # attribute, value, best, best_share, all_share, lift


def profile(db: Db, filters: list[str] | None = None, top: int = TOP_PERCENT,
            currency: str | None = None, attributes: tuple[str, ...] = ATTRIBUTES,
            period=None) -> Profile:  # fmt: skip
    """Customers (paid orders or won deals, in one currency) ranked by value; the top
    ``top`` percent are the best. For each attribute value: how common it is among the
    best and among all customers, and the lift (the ratio of the two). Rows only for the
    ``attributes`` given (the others are not worked out)."""
    if not 1 <= top <= 100:
        raise InvalidInput(f"--top is a percentage from 1 to 100, not {top}")
    if currency:
        currency = currency.strip().upper()
        money.exponent(currency)
    else:
        found = store.value_currencies(db)
        currency = found[0][0] if found else None
    if currency is None:
        return Profile(None, 0, (), 0, 0, ())
    where = where_for(filters, "contacts", db=db)
    # (id, value, source, industry, size[, cadence]), most valuable first
    span = None
    if period is not None:  # value: orders dated and deals won within the period
        span = (period.first.isoformat(), period.last.isoformat(), *period.db())
    people = store.customer_values(db, currency, where, cadence="cadence" in attributes,
                                   span=span)  # fmt: skip
    n_best = max(1, math.ceil(len(people) * top / 100)) if people else 0
    columns = list(zip(*people)) or [()] * 6
    ids, values = columns[0], columns[1]
    in_best: Counter = Counter()
    in_all: Counter = Counter()
    for key, i in (("source", 2), ("industry", 3), ("size", 4)):
        if key in attributes:
            _count(in_all, key, Counter(columns[i]), clean=True)
            _count(in_best, key, Counter(columns[i][:n_best]), clean=True)
    if "cadence" in attributes:
        labels = list(columns[5])
        if None in labels:  # dates SQL leaves to us
            own = store.order_dates(db, [cid for cid, x in zip(ids, labels) if x is None])
            labels = [cadence(*own[cid]) if x is None else x for cid, x in zip(ids, labels)]
        _count(in_all, "cadence", Counter(labels))
        _count(in_best, "cadence", Counter(labels[:n_best]))
    if "tag" in attributes and ids:
        _tags(db, list(ids[:n_best]), list(ids[n_best:]), in_all, in_best)
    if "channel" in attributes and ids:
        channel = _channels(store.order_channels(db))
        _count(in_all, "channel", Counter(map(channel.get, ids)))
        _count(in_best, "channel", Counter(map(channel.get, ids[:n_best])))
    support = 2 if n_best >= 5 else 1
    rows = []
    for (key, v), nb in in_best.items():
        if nb < support:
            continue
        best_share, all_share = nb / n_best, in_all[(key, v)] / len(people)
        lift = best_share / all_share
        if lift <= 1.0:
            continue
        rows.append({"attribute": key, "value": v, "best": nb,
                     "best_share": round(100 * best_share, 1),
                     "all_share": round(100 * all_share, 1), "lift": round(lift, 2)})  # fmt: skip
    rows.sort(key=lambda r: (-r["lift"], -r["best"], ATTRIBUTES.index(r["attribute"]), r["value"]))
    return Profile(currency, len(people), tuple(ids[:n_best]), sum(values[:n_best]), sum(values),
                   tuple(rows))  # fmt: skip


def _count(counts: Counter, key: str, found: Counter, clean: bool = False) -> None:
    """Add the customers per value; ``clean``: raw text, trimmed and case-folded, empty
    left out. None (no value) is always left out."""
    for v, n in found.items():
        if clean:
            if v:
                counts[(key, v.strip().casefold())] += n
        elif v is not None:
            counts[(key, v)] += n


def _tags(db: Db, best: list[int], others: list[int], in_all: Counter,
          in_best: Counter) -> None:  # fmt: skip
    """Count the customers per tag, ignoring case (a customer with two spellings of a tag
    counts once)."""
    spellings: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for tag, n_all, n_best in store.tag_counts(db, best, others):
        spellings[tag.casefold()].append((tag, n_all, n_best))
    for v, found in spellings.items():
        if len(found) == 1:
            n_all, n_best = found[0][1:]
        else:
            n_all, n_best = store.tags_count_once(db, best, others, [t for t, _, _ in found])
        in_all[("tag", v)] += n_all
        if n_best:
            in_best[("tag", v)] += n_best


def _channels(rows: list[tuple[int, str, int]]) -> dict[int, str]:
    """Per contact, the channel they buy through: the order source (trimmed, case-folded)
    of most of their paid orders, any currency; on a tie, the first in source order.
    ``rows``: (contact, source, orders), per contact fewest orders first, source descending."""
    norm = {s: s.strip().casefold() for s in set(map(itemgetter(1), rows))}
    if all(k == s for s, k in norm.items()):  # one spelling per channel: the last row wins
        return dict(zip(map(itemgetter(0), rows), map(itemgetter(1), rows)))
    rows.sort(key=itemgetter(0, 1))  # spellings of a channel add up
    channel: dict[int, str] = {}
    for cid, found in groupby(rows, itemgetter(0)):
        counts: dict[str, int] = {}
        for _, source, n in found:
            counts[norm[source]] = counts.get(norm[source], 0) + n
        channel[cid] = max(counts, key=counts.__getitem__)  # the first of the most
    return channel


def best(db: Db, args: ReportArgs) -> Report:
    """What the top customers by value share: industry and size of their organization,
    source, tags, the channel they buy through (order source), how often they order --
    each value more common among them than among all customers, with the lift."""
    p = profile(db, list(args.filters), _top(args), args.currency,
                period=args.resolve_period(None))  # fmt: skip
    cols = [Col("attribute", "attribute"), Col("value", "value"), Col("best", "best", "int"),
            Col("best_share", "of best %", "pct"), Col("all_share", "of all %", "pct"),
            Col("lift", "lift ×", "pct")]  # fmt: skip
    n = len(p.best_ids)
    notes = []
    if p.customers:
        notes.append(f"best: the top {_top(args)}% by value = {n} of {p.customers} "
                     f"customers, {pct(p.best_value, p.all_value)}% of the value in {p.currency} "
                     "(paid orders and won deals)")  # fmt: skip
    return Report("best", f"Best customers' profile ({p.currency or 'no customers yet'})", cols,
                  list(p.rows), args.resolve_period(None), tuple(args.filters), notes=notes)  # fmt: skip


def lookalike(db: Db, args: ReportArgs) -> Report:
    """Contacts (or with ``--orgs`` organizations) that are not among the best customers,
    ranked by how much they resemble them: the sum of ln(lift) over the profile's values
    they share, with those values as the reasons. Filters pick the candidates."""
    period = args.resolve_period(None)
    p = profile(db, None, _top(args), args.currency, SCORED, period=period)
    known = bool(p.rows) or bool(profile(db, None, _top(args), args.currency,
                                         ("channel", "cadence"), period=period).rows)  # fmt: skip
    terms = [(r["attribute"], r["value"], round(math.log(r["lift"]), 4)) for r in p.rows]
    lifts = {(r["attribute"], r["value"]): r["lift"] for r in p.rows}
    limit = 50 if args.limit is None else args.limit
    if args.orgs:
        found = store.lookalike_orgs(db, terms, store.orgs_of(db, list(p.best_ids)),
                                     where_for(list(args.filters), "orgs", db=db), limit)  # fmt: skip
        rows = [{"id": r["id"], "name": r["name"], "score": round(r["score"], 2),
                 "people": r["people"],
                 "reasons": _reasons({"industry": {_f(r["industry"])}, "size": {_f(r["size"])}},
                                     lifts)} for r in found]  # fmt: skip
        cols = [Col("id", "id", "int"), Col("name", "organization"), Col("people", "people", "int"),
                Col("score", "score", "pct"), Col("reasons", "because")]  # fmt: skip
        what = "organizations"
    else:
        found = store.lookalike_contacts(db, terms, list(p.best_ids),
                                         where_for(list(args.filters), "contacts", db=db), limit)  # fmt: skip
        tags: dict[int, set[str]] = defaultdict(set)
        for cid, tag in store.tags_of(db, [r["id"] for r in found]) if found else ():
            tags[cid].add(tag.casefold())
        rows = [{"id": r["id"], "name": r["name"], "org": r["org"], "score": round(r["score"], 2),
                 "reasons": _reasons({"industry": {_f(r["industry"])}, "size": {_f(r["size"])},
                                      "source": {_f(r["source"])}, "tag": tags[r["id"]]}, lifts)}
                for r in found]  # fmt: skip
        cols = [Col("id", "id", "int"), Col("name", "name"), Col("org", "organization"),
                Col("score", "score", "pct"), Col("reasons", "because")]  # fmt: skip
        what = "contacts"
    notes = [] if known else ["no profile yet: it needs customers with paid orders or won deals"]
    return Report("lookalike", f"{what.capitalize()} most like the best customers", cols, rows,
                  None, tuple(args.filters), notes=notes)  # fmt: skip


def _top(args: ReportArgs) -> int:
    return TOP_PERCENT if args.top is None else args.top


def _f(value: str | None) -> str:
    return value.strip().casefold() if value else ""


def _reasons(attrs: dict[str, set[str]], lifts: dict[tuple[str, str], float]) -> str:
    found = [(lifts[(k, v)], k, v) for k, values in attrs.items() for v in values
             if (k, v) in lifts]  # fmt: skip
    found.sort(key=lambda x: (-x[0], x[1], x[2]))
    return " · ".join(f"{k} {v} ({lift:g}×)" for lift, k, v in found)
