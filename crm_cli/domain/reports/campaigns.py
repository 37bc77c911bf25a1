"""Campaign results: reach, deliverability, responses, conversions and what it cost.

- **sent / skipped / rejected**: from the send ledger (rejected: the SMTP server refused
  the recipient permanently while sending).
- **bounced, deferred, complained, replied, auto-replied**: recipients with imported mail
  matched to their message (``crm import mail``: DSNs, ARF reports, replies threaded to
  the campaign's Message-IDs; auto-replies are not replies).
- **opted out**: recipients whose consent became ``opted_out`` after their message
  (an unsubscribe, a complaint, or by hand).
- **converted**: recipients who placed a paid order (from the day of their message) or
  had a deal won within ``campaign.conversion_days`` (or ``--window``) after it;
  **revenue** is those orders' totals plus those deals' amounts, per currency.
- **coupons** (``crm coupon issue``): issued codes; redeemed = distinct codes used on paid
  orders; redemption rate = redeemed / issued; orders with a coupon, their revenue (order
  totals) and the discount given, per currency, count paid orders only; "used by someone
  else" counts orders of any status whose contact is not the code's recipient, each
  listed on a row of its own.
- **ad and social campaigns**: cost, impressions, clicks and conversions imported with
  ``crm import campaign-stats``; CTR = clicks / impressions, conversion rate =
  conversions / clicks, cost per conversion = cost / conversions.

Rates of mail outcomes are per message sent; skips are per person planned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crm_cli.domain import campaigns, settings
from crm_cli.domain.reports import Chart, Col, Report, ReportArgs, amounts, parse_days, pct
from crm_cli.errors import InvalidInput
from crm_cli.storage import campaign_reports as store
from crm_cli.storage.db import Db


@dataclass
class Results:
    campaign: campaigns.Campaign
    ledger: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    mail: dict = field(default_factory=dict)
    opted_out: int = 0
    converted: int = 0
    orders: int = 0
    deals: int = 0
    revenue: dict = field(default_factory=dict)  # currency -> minor
    ads: dict = field(default_factory=dict)

    @property
    def sent(self) -> int:
        return self.ledger.get("sent", 0)

    def bounced(self) -> int:
        return self.mail.get("bounce", 0)

    def complained(self) -> int:
        return self.mail.get("complaint", 0)


def window_days(db: Db, args: ReportArgs) -> int:
    """The conversion window: --window DAYS (or 30d, 4w), else campaign.conversion_days."""
    if args.window:
        return parse_days(args.window)
    return int(settings.get(db, "campaign.conversion_days"))


def results(db: Db, cs: list[campaigns.Campaign], days: int) -> list[Results]:
    ids = [c.id for c in cs]
    ledger, skipped = store.ledger(db, ids), store.skip_reasons(db, ids)
    mail, opted, ads = (
        store.mail_outcomes(db, ids),
        store.opted_out_after(db, ids),
        store.ad_stats(db, ids),
    )
    out = {c.id: Results(c, ledger.get(c.id, {}), skipped.get(c.id, {}), mail.get(c.id, {}),
                         opted.get(c.id, 0), ads=ads.get(c.id, {})) for c in cs}  # fmt: skip
    converted: dict[int, set[int]] = {}
    for rows, kind in ((store.order_conversions(db, ids, days), "orders"),
                       (store.deal_conversions(db, ids, days), "deals")):  # fmt: skip
        for cid, rid, currency, minor in rows:
            r = out[cid]
            converted.setdefault(cid, set()).add(rid)
            setattr(r, kind, getattr(r, kind) + 1)
            if currency and minor is not None:
                r.revenue[currency] = r.revenue.get(currency, 0) + minor
    for cid, rids in converted.items():
        out[cid].converted = len(rids)
    return [out[c.id] for c in cs]


def _ad_figures(r: Results) -> dict:
    a = r.ads
    if not a:
        return {}
    conv = a.get("conversions")
    per = None
    if conv:
        per = {
            cur: minor // conv if minor % conv == 0 else round(minor / conv)
            for cur, minor in a["cost"].items()
        }
    return {
        "impressions": a.get("impressions"), "clicks": a.get("clicks"),
        "ctr": pct(a.get("clicks") or 0, a.get("impressions") or 0),
        "ad_conversions": conv, "conversion_rate": pct(conv or 0, a.get("clicks") or 0),
        "cost": amounts(a["cost"]) or None, "cost_per_conversion": amounts(per) if per else None,
    }  # fmt: skip


def campaign(db: Db, args: ReportArgs) -> Report:
    """One campaign's results, one metric per row (``crm report campaign NAME``)."""
    if len(args.filters) != 1:
        raise InvalidInput("name one campaign: crm report campaign NAME")
    c = campaigns.get(db, args.filters[0])
    days = window_days(db, args)
    r = results(db, [c], days)[0]
    rows: list[dict] = []

    def row(metric: str, count=None, of: int | None = None, amount=None, note: str = ""):
        rows.append({"metric": metric, "count": count,
                     "pct": pct(count, of) if count is not None and of is not None else None,
                     "amount": amount, "note": note})  # fmt: skip
        return rows[-1]

    sent_here = c.channel in campaigns.SENT_CHANNELS
    if sent_here:
        _reach_rows(row, c, r, days)
    ad = _ad_figures(r)
    if ad:
        row("cost", amount=ad["cost"])
        row("impressions", ad["impressions"])
        row("clicks", ad["clicks"], ad["impressions"], note="the % is the CTR")
        row("conversions (reported)", ad["ad_conversions"], ad["clicks"],
            note="the % is the conversion rate")  # fmt: skip
        row("cost per conversion", amount=ad["cost_per_conversion"])
    elif not sent_here:
        row("cost", note="no figures yet: crm import campaign-stats FILE --campaign NAME")
    reach = store.first_reach(db, c.id)
    _holdout_rows(db, row, c, reach)
    _channel_rows(db, row, c, reach)
    _coupon_rows(db, row, c)
    _service_rows(db, row, reach, days)
    cols = [Col("metric", "metric"), Col("count", "count", "int"), Col("pct", "%", "pct"),
            Col("amount", "amount", "money"), Col("note", "note")]  # fmt: skip
    notes = []
    if c.channel == "email" and not r.mail and r.sent:
        notes.append("no imported mail matches this campaign yet: bounces and replies come "
                     "from crm import mail")  # fmt: skip
    return Report("campaign", f"Campaign {c.name} ({c.channel}, {c.status})", cols, rows,
                  filters=args.filters, notes=notes)  # fmt: skip


def _holdout_rows(db: Db, row, c: campaigns.Campaign, reach: dict[int, str]) -> None:
    from crm_cli.domain import holdout

    if not c.holdout_pct:
        return
    if not c.holdout_at:
        row("hold-out", note=f"{c.holdout_pct:g}% of the segment, drawn when it is first used")
        return
    held = holdout.held_out(db, c)
    row("hold-out", len(held), note=f"{c.holdout_pct:g}% drawn {c.holdout_at[:10]} (seed "
        f"{c.holdout_seed}); never sent anything by crm")  # fmt: skip
    reached = held & reach.keys()
    if reached:
        row("hold-out reached anyway", len(reached), len(held),
            note="by an imported delivery; crm report impact still counts them as held out")  # fmt: skip


_CHANNEL_ORDER = ("email", "receipt", "letter", "sms", "call", "web")


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _days_text(days: dict[str, int]) -> str:
    """'1 day (Tue 2026-03-31)' or '56 days, 2026-03-30..2026-05-24; by weekday: Mon 120 ·
    … · Sun 650' (the JSON row has every day)."""
    from datetime import date

    first, last = min(days), max(days)
    if len(days) == 1:
        return f"on 1 day ({_WEEKDAYS[date.fromisoformat(first).weekday()]} {first})"
    per = [0] * 7
    for d, n in days.items():
        per[date.fromisoformat(d).weekday()] += n
    by = " · ".join(f"{_WEEKDAYS[i]} {n}" for i, n in enumerate(per) if n)
    return f"on {len(days)} days, {first}..{last}; by weekday: {by}"


def _channel_rows(db: Db, row, c: campaigns.Campaign, reach: dict[int, str]) -> None:
    """Per channel: who was reached, how many times on which days, returned letters,
    opens and visits to the web area (imported deliveries, plus crm's own sends)."""
    from crm_cli.domain import dates

    found = store.delivery_rows(db, c.id)
    if not found and not reach:
        return
    tz = dates.local_tz()
    day_of: dict[str, str] = {}
    by: dict[str, dict] = {}
    for cid, ch, status, at, n in found:
        g = by.setdefault(ch, {"reached": set(), "times": 0, "days": {}, "status": {}})
        g["status"].setdefault(status, set()).add(cid)
        if status in store.REACHED:
            g["reached"].add(cid)
            day = day_of.get(at)
            if day is None:
                day = day_of[at] = dates.to_local(dates.from_db(at), tz).date().isoformat()
            g["times"] += n
            g["days"][day] = g["days"].get(day, 0) + n
    sent = store.sent_ids(db, c.id) if c.channel in campaigns.SENT_CHANNELS else set()
    row("reached, any channel", len(reach), note="sent by crm or by an imported delivery")
    visited = by.get("web", {}).get("status", {}).get("visited", set())
    for ch in _CHANNEL_ORDER:
        g = by.get(ch)
        own = sent if c.channel == ch else set()
        if g is None and not own:
            continue
        g = g or {"reached": set(), "times": 0, "days": {}, "status": {}}
        reached = g["reached"] | own
        note = f"{g['times']} times {_days_text(g['days'])}" if (
            g["days"]) else ("sent by crm" if own else "")  # fmt: skip
        line = row(f"{ch}: reached", len(reached), note=note)
        if g["days"]:  # JSON: how many times on each day
            line.update(times=g["times"], days=dict(sorted(g["days"].items())))
        _channel_extra(row, ch, g, own, reached)
        if ch == "email":
            opened = (g["status"].get("opened", set()) | store.replied_ids(db, c.id)
                      | visited | store.campaign_visitors(db, c.name))  # fmt: skip
            row("email: opened", len(opened & reached), len(reached),
                note="where known: the provider's open data, a reply or a visit")  # fmt: skip
    if "web" in by or visited:
        row("web: visited the private area", len(visited), len(reach) or None,
            note="% of everyone reached")  # fmt: skip


def _channel_extra(row, ch: str, g: dict, own: set[int], reached: set[int]) -> None:
    st = g["status"]
    if ch == "letter":
        mailed = reached | st.get("returned", set()) | st.get("failed", set())
        row("letter: returned", len(st.get("returned", set())), len(mailed),
            note=f"of {len(mailed)} mailed; crm campaign deliveries NAME --status returned"
            " lists them")  # fmt: skip
    if st.get("failed"):
        row(f"{ch}: failed", len(st["failed"]), note="not delivered")
    if ch != "email" and st.get("opened"):
        row(f"{ch}: opened", len(st["opened"]), len(reached))


def _service_rows(db: Db, row, reach: dict[int, str], days: int) -> None:
    """Tickets the people reached opened during the campaign window (the local day of the
    first reach and ``days`` days on), by type, and the satisfaction of their tickets
    resolved in it, at weekends against weekdays."""
    from datetime import datetime, time, timedelta

    from crm_cli.domain import dates

    if not reach:
        return
    tz = dates.local_tz()
    first = dates.to_local(dates.from_db(min(reach.values())), tz).date()
    last = first + timedelta(days=days - 1)
    start = dates.to_db(datetime.combine(first, time(), tz))
    end = dates.to_db(datetime.combine(last + timedelta(days=1), time(), tz))
    tickets = store.tickets_of(db, sorted(reach), start, end)
    window = f"{first} to {last}"
    opened: dict[str, set[int]] = {}
    count = 0
    for cid, t_type, created, _, _ in tickets:
        if start <= created < end:
            count += 1
            opened.setdefault((t_type or "no type").lower(), set()).add(cid)
    row("tickets opened", count, note=f"by the people reached, {window}")
    for t_type, who in sorted(opened.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        row(f"tickets: {t_type}", len(who), len(reach),
            note="people who opened one; % of the people reached")  # fmt: skip
    scores: dict[bool, list[int]] = {True: [], False: []}
    for _, _, _, resolved, score in tickets:
        if resolved and score is not None and start <= resolved < end:
            weekend = dates.to_local(dates.from_db(resolved), tz).weekday() >= 5
            scores[weekend].append(score)
    for weekend, label in ((True, "weekends"), (False, "weekdays")):
        got = scores[weekend]
        avg = f"average {sum(got) / len(got):.1f} of 5" if got else "none rated"
        row(f"satisfaction, resolved on {label}", len(got),
            note=f"{avg}; tickets resolved on {label}, {window}")  # fmt: skip


def _coupon_rows(db: Db, row, c: campaigns.Campaign) -> None:
    from crm_cli.storage import coupons as coupon_store

    issued = coupon_store.issued_counts(db, [c.id]).get(c.id, 0)
    if not issued:
        return
    used = coupon_store.campaign_orders(db, [c.id])
    paid = [o for o in used if o["status"] == "paid"]
    revenue: dict[str, int] = {}
    discount: dict[str, int] = {}
    for o in paid:
        revenue[o["currency"]] = revenue.get(o["currency"], 0) + o["total_minor"]
        discount[o["currency"]] = discount.get(o["currency"], 0) + o["discount_minor"]
    redeemed = len({o["code"].upper() for o in paid})
    row("coupons issued", issued)
    row("coupons redeemed", redeemed, issued, note="distinct codes on paid orders; % of issued")
    row("orders with a coupon", len(paid), note="paid")
    if len(used) > len(paid):
        row("orders with a coupon, not paid", len(used) - len(paid), note="refunded or cancelled")
    row("coupon revenue", amount=amounts(revenue) or None, note="totals of those paid orders")
    row("coupon discount", amount=amounts(discount) or None, note="given on those paid orders")
    others = [o for o in used if o["contact_id"] != o["coupon_contact_id"]]
    row("coupons used by someone else", len(others), len(used), note="orders of any status")
    for o in others:
        row(f"used by someone else: order {o['number']}",
            note=f"code {o['code']} used by {o['contact']} (contact {o['contact_id']}), "
                 f"issued to contact {o['coupon_contact_id']}; {o['status']}")  # fmt: skip


def _reach_rows(row, c: campaigns.Campaign, r: Results, days: int) -> None:
    led, sent = r.ledger, r.sent
    planned = led.get("planned", 0)
    row("planned", planned, note="people in the frozen list" if c.frozen_at else "not sent yet")
    for reason, n in r.skipped.items():
        row(f"skipped: {reason.replace('_', ' ')}", n, planned)
    row(
        "sent",
        sent,
        planned,
        note={"call": "calls listed", "letter": "letters exported"}.get(c.channel, ""),
    )
    for key, label in (("pending", "not yet sent"), ("sending", "in doubt or sending"),
                       ("retry", "failed temporarily (retried)"),
                       ("rejected", "rejected by the server")):  # fmt: skip
        if led.get(key):
            row(label, led[key], planned)
    if c.channel == "email":
        row("bounced", r.bounced(), sent, note="hard bounces (DSN)")
        if r.mail.get("deferral"):
            row("deferred", r.mail["deferral"], sent, note="soft bounces")
        row("complained", r.complained(), sent)
        row("replied", r.mail.get("reply", 0), sent)
        if r.mail.get("auto_reply"):
            row("auto-replied", r.mail["auto_reply"], sent, note="not counted as replies")
    row("opted out", r.opted_out, sent, note="after their message")
    row("converted", r.converted, sent, note=f"order or won deal within {days} days")
    row("orders", r.orders, note="paid, within the window")
    row("won deals", r.deals, note="within the window")
    row("revenue", amount=amounts(r.revenue) or None)


def campaigns_side_by_side(db: Db, args: ReportArgs) -> Report:
    """Every campaign side by side (``crm report campaigns``), newest first."""
    days = window_days(db, args)
    period = args.resolve_period(None)
    cs = [campaigns.get(db, str(o["id"])) for o in campaigns.overview(db)]
    if period is not None:
        start, end = period.db()
        cs = [c for c in cs if start <= (c.frozen_at or c.created_at) < end]
    rows = []
    for r in reversed(results(db, cs, days)):
        c, sent = r.campaign, r.sent
        ad = _ad_figures(r)
        rows.append({
            "campaign": c.name, "channel": c.channel, "status": c.status,
            "sent_at": r.ledger.get("first_sent_at"), "planned": r.ledger.get("planned", 0),
            "sent": sent, "bounced": r.bounced(), "bounce_rate": pct(r.bounced(), sent),
            "complained": r.complained(), "complaint_rate": pct(r.complained(), sent),
            "opted_out": r.opted_out, "replied": r.mail.get("reply", 0),
            "reply_rate": pct(r.mail.get("reply", 0), sent), "converted": r.converted,
            "conversion_rate": pct(r.converted, sent), "revenue": amounts(r.revenue) or None,
            "cost": ad.get("cost"), "ctr": ad.get("ctr"),
            "cost_per_conversion": ad.get("cost_per_conversion"),
        })  # fmt: skip
    cols = [Col("campaign", "campaign"), Col("channel", "channel"), Col("sent", "sent", "int"),
            Col("bounce_rate", "bounce %", "pct"), Col("complaint_rate", "complaint %", "pct"),
            Col("opted_out", "opted out", "int"), Col("reply_rate", "reply %", "pct"),
            Col("converted", "converted", "int"), Col("conversion_rate", "conv %", "pct"),
            Col("revenue", "revenue", "money"), Col("cost", "cost", "money"),
            Col("ctr", "CTR %", "pct")]  # fmt: skip
    return Report("campaigns", f"Campaigns (conversions within {days} days)", cols, rows,
                  period=period, filters=args.filters,
                  chart=Chart("campaign", (("sent", "sent"), ("replied", "replied"),
                                           ("converted", "converted"))))  # fmt: skip
