"""What the dashboard shows, assembled from the domain functions the CLI calls.

No SQL here and no rules of its own: every figure comes from the domain layer, so the
board, the agenda and the contact pane agree with `crm deal list`, `crm pipeline show`,
`crm followup list` and `crm timeline`. These functions run in the dashboard's
database thread (see ``tui.backend``); they return plain dataclasses the widgets render.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from crm_cli.domain import activities, contacts, dates, deals, followups, money, tickets
from crm_cli.errors import InvalidInput
from crm_cli.storage.db import Db

PER_STAGE = 50  # cards drawn per stage column; the totals count every open deal
RESULTS = 100  # contacts listed per search


@dataclass(frozen=True, slots=True)
class Card:
    id: int
    title: str
    org: str | None
    contact: str | None
    amount: str | None
    days_in_stage: int


@dataclass(frozen=True, slots=True)
class Column:
    stage_id: int
    name: str
    probability: int
    count: int
    amounts: dict[str, str]
    weighted: dict[str, str]
    cards: tuple[Card, ...]

    @property
    def more(self) -> int:
        """Open deals in this stage that are not drawn as cards."""
        return max(0, self.count - len(self.cards))


@dataclass(frozen=True, slots=True)
class Board:
    pipeline_id: int
    pipeline: str
    pipelines: tuple[tuple[int, str], ...]
    columns: tuple[Column, ...]


def _days_since(at: str | None) -> int:
    if not at:
        return 0
    return max(0, (dates.now() - dates.from_db(at)).days)


def _amount(minor: int | None, currency: str | None, with_currency: bool) -> str | None:
    if minor is None or not currency:
        return None
    shown = money.grouped(money.format(minor, currency))
    return f"{shown} {currency}" if with_currency else shown


def board(db: Db, pipeline_id: int | None = None, *, limits: dict[int, int] | None = None) -> Board:
    """The pipeline board: per stage its totals (every open deal) and its biggest deals,
    ``PER_STAGE`` of them or ``limits[stage_id]`` where the user asked for more."""
    if not pipeline_id and not deals.has_pipelines(db):
        # A fresh database, before its first write creates the default pipeline.
        return Board(0, "none yet (the first change creates 'sales')", (), ())
    pid = pipeline_id if pipeline_id else deals.resolve_pipeline(db, None)
    p = deals.get_pipeline(db, pid)
    summary = {s["id"]: s for s in deals.pipeline_summary(db, pid)}
    columns = []
    for st in p.stages:
        found = deals.list_deals(
            db,
            [f"stage_id:{st.id}"],
            sort=[("amount", True), ("id", False)],
            limit=(limits or {}).get(st.id, PER_STAGE),
        )
        s = summary.get(st.id, {})
        mixed = len(s.get("amounts", {})) > 1  # one currency: the totals above name it
        cards = tuple(
            Card(d.id, d.title, d.org, d.contact, _amount(d.amount_minor, d.currency, mixed),
                 _days_since(d.stage_entered_at))
            for d in found
        )  # fmt: skip
        columns.append(
            Column(
                st.id,
                st.name,
                st.probability,
                s.get("open_deals", len(cards)),
                {c: money.grouped(v) for c, v in s.get("amounts", {}).items()},
                {c: money.grouped(v) for c, v in s.get("weighted", {}).items()},
                cards,
            )  # fmt: skip
        )
    pipelines = tuple((r["id"], r["name"]) for r in deals.list_pipelines(db))
    return Board(p.id, p.name, pipelines, tuple(columns))


def move(db: Db, deal_id: int, step: int) -> deals.Deal | None:
    """Move an open deal one stage forward (step 1) or back (-1); None at either end."""
    d = deals.get(db, deal_id)
    stages = deals.get_pipeline(db, d.pipeline_id).stages
    here = next(i for i, s in enumerate(stages) if s.id == d.stage_id)
    there = here + step
    if not 0 <= there < len(stages):
        return None
    return deals.move(db, deal_id, str(there + 1))  # a stage by its 1-based position


@dataclass(frozen=True, slots=True)
class DealDetail:
    deal: deals.Deal
    moves: tuple[dict, ...]
    timeline: tuple[activities.Activity, ...]


def deal_detail(db: Db, deal_id: int) -> DealDetail:
    return DealDetail(
        deals.get(db, deal_id),
        tuple(deals.moves(db, deal_id)),
        tuple(activities.timeline(db, ("deals", deal_id), limit=50)),
    )


# ---------------------------------------------------------------- agenda


@dataclass(frozen=True, slots=True)
class Agenda:
    items: tuple[followups.Followup, ...]
    later: int  # open follow-ups beyond the horizon


def agenda(db: Db, *, days: int = 14, limit: int = 500) -> Agenda:
    items = tuple(followups.agenda(db, days=days, limit=limit))
    return Agenda(items, followups.later_count(db, days=days))


def snooze_preview(text: str) -> str:
    """What a snooze to ``text`` means, in local time (raises InvalidInput when unclear)."""
    target = followups.parse_snooze(text)
    if target <= dates.now():
        raise InvalidInput(f"{text.strip()!r} is not in the future")
    return followups.local_text(dates.to_db(target))


# ---------------------------------------------------------------- contacts


@dataclass(frozen=True, slots=True)
class Hit:
    id: int
    name: str
    org: str | None
    email: str | None


def looks_like_filter(text: str) -> bool:
    """Whether the search box holds the filter language (``org~acme``, ``tag:vip``, ``created>-30d``)."""
    return any(ch in text for ch in ":<>=~") or text.lstrip().startswith(("-", "+"))


def find_contacts(db: Db, text: str, *, limit: int = RESULTS) -> tuple[Hit, ...]:
    """Search as the user types: words go to the full-text index (as `crm search` does),
    filter expressions to the filter language (as `crm contact list` does)."""
    from crm_cli.domain.search import search

    text = text.strip()
    if not text:
        found = contacts.list_contacts(db, sort=[("updated", True)], limit=limit)
        return tuple(Hit(c.id, c.name, c.org, c.emails[0].value if c.emails else None)
                     for c in found)  # fmt: skip
    if looks_like_filter(text):
        try:
            args = shlex.split(text)
        except ValueError as e:
            raise InvalidInput(f"cannot read the filter: {e}") from None
        # Recently changed first, as with an empty box: walking the updated_at index stops at
        # `limit` matches, where sorting by folded name would fold every match first.
        found = contacts.list_contacts(db, args, sort=[("updated", True)], limit=limit)
        return tuple(Hit(c.id, c.name, c.org, c.emails[0].value if c.emails else None)
                     for c in found)  # fmt: skip
    return tuple(
        Hit(h["id"], h["name"], h["org"], h["email"])
        for h in search(db, text, limit=limit)
        if h["kind"] == "contact"
    )


@dataclass(frozen=True, slots=True)
class ContactDetail:
    contact: contacts.Contact
    deals: tuple[deals.Deal, ...]
    tickets: tuple[tickets.Ticket, ...]
    timeline: tuple[activities.Activity, ...]
    followups: tuple[followups.Followup, ...] = field(default=())


def contact_detail(db: Db, contact_id: int) -> ContactDetail:
    c = contacts.get(db, contact_id)
    return ContactDetail(
        c,
        tuple(deals.list_deals(db, [f"contact_id:{c.id}"], everything=True, limit=20)),
        tuple(tickets.list_tickets(db, [f"contact_id:{c.id}"], limit=20)),
        tuple(activities.timeline(db, ("contacts", c.id), limit=50)),
        tuple(followups.agenda(db, contact=str(c.id), cadence=False, limit=20)),
    )
