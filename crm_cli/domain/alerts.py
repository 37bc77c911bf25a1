"""``crm alerts``: conditions that need someone, reported once each, made for cron.

Four kinds, thresholds in team settings:

- ``stale-deal``: an open deal with no activity and no stage change for more days than
  its stage allows (``alerts.stale_days``, 30; per stage ``alerts.stale_days_by_stage``,
  e.g. ``negotiation=7,proposal=14``);
- ``overdue-followup``: an open follow-up more than ``alerts.overdue_days`` (3) days late;
- ``at-risk``: a customer quiet for longer than ``reports.churn_factor`` times their usual
  gap (the churn report's rule);
- ``ticket-past-due``: an active ticket past its response target with no answer yet;
- ``campaign-bounces`` / ``campaign-complaints``: an email campaign whose hard bounces or
  complaints (imported mail matched to its messages) exceed ``alerts.campaign_bounce_rate``
  (5 %) or ``alerts.campaign_complaint_rate`` (0.3 %) of the messages sent, once it has
  sent at least ``CAMPAIGN_MIN_SENT`` (a rate over a handful of messages is noise);
- ``behind-target``: a person or team whose attainment of a sales target for the current
  period (won / target) is more than ``alerts.target_tolerance`` (10) points below the
  share of the period elapsed. Keyed by the target and the start of the current month
  (the period's start for a monthly target): once per month and target while behind, so
  a quarterly or yearly target that recovers and falls behind again alerts again the
  next month.

Each alert is claimed per recipient under the instant that identifies its condition (the
deal's last touch, the follow-up's due time, the customer's last touch, the ticket's due
time, the campaign's first send), as ``crm remind`` claims reminders: it is reported once, and again only when the
condition changes and comes back (a new activity, then silence again). Claims are change
sets that are not undoable; a report that is not delivered releases them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from crm_cli.domain import dates, settings, users
from crm_cli.errors import InvalidInput
from crm_cli.storage import alerts as store
from crm_cli.storage import reports as report_store
from crm_cli.storage.db import Db, transaction

KINDS = ("stale-deal", "overdue-followup", "at-risk", "ticket-past-due", "campaign-bounces",
         "campaign-complaints", "behind-target")  # fmt: skip
CAMPAIGN_MIN_SENT = 10


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str
    id: int
    ref: str  # deal:12, followup:3, contact:7, ticket:4
    text: str  # the deal's title, the follow-up's text, the customer's name, the subject
    detail: str
    since: str  # the instant the condition is keyed by
    owner_id: int | None
    owner: str | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AlertRun:
    recipient_id: int
    recipient: str
    alerts: tuple[Alert, ...]
    claim_ids: tuple[int, ...] = ()
    more: tuple[str, ...] = ()  # kinds with more alerts than one run reports


def stage_limits(db: Db) -> tuple[int, dict[str, int]]:
    """The default stale limit in days and the per-stage ones (stage names folded)."""
    default = int(settings.get(db, "alerts.stale_days"))
    per: dict[str, int] = {}
    for item in settings.get(db, "alerts.stale_days_by_stage") or []:
        per.update(parse_stage_limit(item))
    return default, per


def parse_stage_limit(item: str) -> dict[str, int]:
    name, sep, days = str(item).partition("=")
    try:
        n = int(days.strip())
    except ValueError:
        n = 0
    if not sep or not name.strip() or n < 1:
        raise InvalidInput(
            f"alerts.stale_days_by_stage takes STAGE=DAYS items (negotiation=7), not {item!r}"
        )
    return {name.strip().casefold(): n}


def _days(since: str, now: datetime) -> int:
    """Whole local calendar days from a stored instant to now."""
    return (dates.to_local(now).date() - dates.to_local(dates.from_db(since)).date()).days


def _midnight_before(now: datetime, days: int) -> str:
    """The local midnight that starts the day ``days`` before today, as stored text:
    a last touch before it is more than ``days`` calendar days old."""
    day = dates.to_local(now).date() - timedelta(days=days)
    return dates.to_db(dates.unit_period(day, "day").start)


def collect(
    db: Db, recipient_id: int, *, mine: bool = False, now: datetime | None = None,
    limit: int | None = None,
) -> tuple[list[Alert], list[str]]:  # fmt: skip
    """The alerts that hold now and were not yet reported to the recipient, per kind the
    most important first (stale deals biggest first, customers at risk most valuable
    first, follow-ups and tickets oldest first), at most ``limit`` of each kind (default
    ``alerts.max_per_kind``); and the kinds that had more than that."""
    now = now or dates.now()
    at = dates.to_db(now)
    limit = int(settings.get(db, "alerts.max_per_kind")) if limit is None else limit
    owner = recipient_id if mine else None
    out: list[Alert] = []
    more: list[str] = []

    def cap(kind: str, rows: list[dict]) -> list[dict]:
        if len(rows) > limit:
            more.append(kind)
        return rows[:limit]

    default, per = stage_limits(db)
    before = {name: _midnight_before(now, days) for name, days in per.items()}
    rows = store.stale_deals(db, _midnight_before(now, default), before, recipient_id, owner,
                             limit + 1)  # fmt: skip
    for r in cap("stale-deal", rows):
        days = per.get(r["stage"].casefold(), default)
        out.append(Alert("stale-deal", r["id"], f"deal:{r['id']}", r["title"],
                         f"no activity or stage change for {_days(r['since'], now)} days in "
                         f"{r['stage']} (limit {days})", r["since"], r["owner_id"], r["owner"]))  # fmt: skip
    overdue = int(settings.get(db, "alerts.overdue_days"))
    rows = store.overdue_followups(db, _midnight_before(now, overdue), recipient_id, owner,
                                   limit + 1)  # fmt: skip
    for r in cap("overdue-followup", rows):
        out.append(Alert("overdue-followup", r["id"], f"followup:{r['id']}", r["text"],
                         f"{_days(r['due_at'], now)} days overdue (limit {overdue})", r["due_at"],
                         r["owner_id"], r["owner"]))  # fmt: skip
    from crm_cli.domain.reports import churn

    rows = report_store.quiet_customers(
        db, ("1", []), dates.julian_day(now), churn.factor(db), churn.MIN_TOUCHES,
        limit=limit + 1, unclaimed_by=recipient_id, mine=owner)  # fmt: skip
    for r in cap("at-risk", rows):
        out.append(Alert("at-risk", r["id"], f"contact:{r['id']}", r["name"],
                         f"quiet for {_days(r['touch_last_at'], now)} days; usually every "
                         f"{r['gap_days']:.0f} days", r["touch_last_at"], r["owner_id"],
                         r["owner"]))  # fmt: skip
    for r in cap("ticket-past-due", store.unanswered_tickets(db, at, recipient_id, owner,
                                                              limit + 1)):  # fmt: skip
        hours = (now - dates.from_db(r["due_at"])).total_seconds() / 3600
        out.append(Alert("ticket-past-due", r["id"], f"ticket:{r['id']}", r["subject"],
                         f"{r['priority']}: unanswered {hours:.0f} h past its response target",
                         r["due_at"], r["owner_id"], r["owner"]))  # fmt: skip
    for kind in ("campaign-bounces", "campaign-complaints"):
        out += cap(kind, _campaign_alerts(db, kind, recipient_id, owner))
    out += cap("behind-target", _target_alerts(db, recipient_id, owner, now))
    return out, more


def _target_alerts(db: Db, recipient_id: int, owner: int | None, now: datetime) -> list[Alert]:
    """People and teams behind a target of a period under way, furthest behind first."""
    from crm_cli.domain import targets
    from crm_cli.storage import targets as target_store

    tolerance = float(settings.get(db, "alerts.target_tolerance"))
    today = dates.to_local(now).date()
    month = dates.to_db(dates.unit_period(today, "month").start)
    my_team = users.get(db, owner).team_id if owner is not None else None
    found = []
    for label in target_store.active_periods(db, today.isoformat()):
        period = targets.parse_period(label, now=now)
        key = max(month, dates.to_db(period.start))
        for r in targets.figures(db, period, now):
            if r["target_id"] is None or r["attainment"] is None:
                continue
            behind = r["elapsed"] - r["attainment"]
            if behind <= tolerance:
                continue
            person = r["kind"] == "person"
            if owner is not None and (r["_id"] != owner if person else r["_id"] != my_team):
                continue
            if store.claimed(db, "behind-target", r["target_id"], recipient_id, key):
                continue
            name = r["name"] if person else f"team {r['name']}"
            found.append((behind, Alert(
                "behind-target", r["target_id"], f"target:{r['target_id']}",
                f"{name} {label} {r['currency']}",
                f"{r['attainment']:.1f}% of {r['target']} won with {r['elapsed']:.1f}% of the "
                f"period gone (tolerance {tolerance:g} points); gap {r['gap']}",
                key, r["_id"] if person else None, r["name"] if person else None)))  # fmt: skip
    return [a for _, a in sorted(found, key=lambda x: -x[0])]


def _campaign_alerts(db: Db, kind: str, recipient_id: int, owner: int | None) -> list[Alert]:
    """Email campaigns whose bounce or complaint rate is over its threshold, worst first."""
    from crm_cli.domain import campaigns
    from crm_cli.domain.reports import campaigns as results

    key = (
        "alerts.campaign_bounce_rate"
        if kind == "campaign-bounces"
        else "alerts.campaign_complaint_rate"
    )
    limit_pct = float(settings.get(db, key))
    sent = [
        campaigns.get(db, str(c["id"])) for c in campaigns.overview(db)
        if c["channel"] == "email" and c["sent"] >= CAMPAIGN_MIN_SENT and c["frozen_at"]
        and (owner is None or c["owner_id"] in (None, owner))
    ]  # fmt: skip
    found = []
    for r in results.results(db, sent, 0):
        c = r.campaign
        n = r.bounced() if kind == "campaign-bounces" else r.complained()
        rate = 100.0 * n / r.sent
        if rate <= limit_pct or store.claimed(db, kind, c.id, recipient_id, c.frozen_at):
            continue
        what = "hard bounces" if kind == "campaign-bounces" else "complaints"
        found.append((rate, Alert(kind, c.id, f"campaign:{c.id}", c.name,
                                  f"{what}: {n} of {r.sent} sent ({rate:.1f}%, limit {limit_pct:g}%)",
                                  c.frozen_at, c.owner_id, c.owner)))  # fmt: skip
    return [a for _, a in sorted(found, key=lambda x: -x[0])]


def run(db: Db, recipient: str | None = None, *, mine: bool = False, dry_run: bool = False,
        now: datetime | None = None) -> AlertRun:  # fmt: skip
    """Claim and return the alerts not yet reported to the recipient (default: the acting
    user); ``mine`` keeps those about the recipient's own deals, follow-ups, customers and
    tickets (and those nobody owns). ``dry_run`` claims nothing."""
    from crm_cli import config

    user = users.resolve(db, recipient if recipient is not None else (db.actor or ""))
    with config.frozen():
        if dry_run:
            found, more = collect(db, user.id, mine=mine, now=now)
            return AlertRun(user.id, user.name, tuple(found), more=tuple(more))
        ids = []
        with transaction(db, f"alerts {user.name}", undoable=False) as tx:
            found, more = collect(db, user.id, mine=mine, now=now)
            for a in found:
                ids.append(tx.insert("reminder_claims", {
                    "item_kind": f"alert:{a.kind}", "item_id": a.id, "recipient_id": user.id,
                    "due_at": a.since, "claimed_at": tx.at}))  # fmt: skip
    return AlertRun(user.id, user.name, tuple(found), tuple(ids), tuple(more))


def release(db: Db, run_: AlertRun) -> int:
    if not run_.claim_ids:
        return 0
    with transaction(db, f"alerts release {run_.recipient}", undoable=False) as tx:
        return sum(tx.delete("reminder_claims", cid) is not None for cid in run_.claim_ids)


def digest_lines(alerts: tuple[Alert, ...], more: tuple[str, ...] = ()) -> list[str]:
    lines = ["Alerts"]
    for a in alerts:
        who = f"  [{a.owner}]" if a.owner else ""
        lines.append(f"  {a.kind:<17} {a.ref:<14} {a.text}: {a.detail}{who}")
    lines.append("")
    if more:
        lines += [more_note(more), ""]
    return lines


def more_note(more: tuple[str, ...]) -> str:
    return (f"more {', '.join(more)} alerts than one run reports (alerts.max_per_kind): "
            "the next runs report the rest")  # fmt: skip


def subject(alerts: tuple[Alert, ...]) -> str:
    words = {"stale-deal": ("stale deal", "stale deals"),
             "overdue-followup": ("overdue follow-up", "overdue follow-ups"),
             "at-risk": ("customer at risk", "customers at risk"),
             "ticket-past-due": ("ticket past due", "tickets past due"),
             "campaign-bounces": ("campaign bouncing", "campaigns bouncing"),
             "campaign-complaints": ("campaign drawing complaints",
                                     "campaigns drawing complaints"),
             "behind-target": ("target behind", "targets behind")}  # fmt: skip
    parts = []
    for k in KINDS:
        n = sum(1 for a in alerts if a.kind == k)
        if n:
            parts.append(f"{n} {words[k][n != 1]}")
    return "crm alerts: " + (", ".join(parts) or "nothing new")
