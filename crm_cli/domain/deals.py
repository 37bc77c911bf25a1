"""Pipelines with ordered stages, and deals moving through them.

Stages are rows with ids, so a rename keeps every deal's history. Each stage change
and each close or reopen is recorded in ``deal_moves`` with its time and the acting
user, so time in stage, cycle length and stage conversion can be computed later.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from crm_cli.domain import validate
from crm_cli.errors import InvalidInput, NotFound
from crm_cli.storage import deals as store
from crm_cli.storage.db import (
    DEFAULT_PIPELINE,
    Db,
    Transaction,
    first_use,
    needs_default_pipeline,
    transaction,
)

STATUSES = ("open", "won", "lost")
# Amounts stay far below 2**63 minor units, so sums over every deal never overflow in SQL.
MAX_AMOUNT_MINOR = 10**13

# Words other tools use for a deal's outcome (compared case-, space- and punctuation-blind).
_WON = frozenset({"won", "closedwon", "win"})
_LOST = frozenset({"lost", "closedlost", "lose"})
_OPEN = frozenset({"open", "active", "inprogress", "pending"})
_TRUE = frozenset({"true", "yes", "1", "y", "t"})
_FALSE = frozenset({"false", "no", "0", "n", "f"})


def _word(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


def status_from(status: str | None, stage: str | None, flags: dict[str, str]) -> str | None:
    """open / won / lost from a status cell, IsWon/IsClosed flags or a closed stage name."""
    if status:
        key = _word(status)
        if key in _WON:
            return "won"
        if key in _LOST:
            return "lost"
        if key in _OPEN:
            return "open"
        return status  # left for validation to reject with its own message
    if "is_closed" in flags or "is_won" in flags:
        if flags.get("is_closed") in _FALSE:
            return "open"
        if flags.get("is_won") in _TRUE:
            return "won"
        if flags.get("is_closed") in _TRUE:
            return "lost"
    if stage:
        key = _word(stage)
        if key in _WON:
            return "won"
        if key in _LOST:
            return "lost"
    return None


# ---------------------------------------------------------------- pipelines


@dataclass(frozen=True, slots=True)
class Stage:
    id: int
    name: str
    position: int
    probability: int


@dataclass(frozen=True, slots=True)
class Pipeline:
    id: int
    name: str
    stages: tuple[Stage, ...]
    is_default: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "default": self.is_default,
            "stages": [
                {"id": s.id, "name": s.name, "position": s.position, "probability": s.probability}
                for s in self.stages
            ],
        }


def _stage(row: dict) -> Stage:
    return Stage(row["id"], row["name"], row["position"], row["probability"])


def get_pipeline(db: Db, pipeline_id: int) -> Pipeline:
    row = store.pipeline(db, pipeline_id)
    if row is None:
        raise NotFound(f"no pipeline with id {pipeline_id}")
    return Pipeline(
        row["id"],
        row["name"],
        tuple(_stage(s) for s in store.stages(db, pipeline_id)),
        row["id"] == store.default_pipeline_id(db),
    )


def list_pipelines(db: Db) -> list[dict]:
    default = store.default_pipeline_id(db)
    out = []
    for r in store.pipelines(db):
        stages = [
            {"id": s["id"], "name": s["name"], "position": s["position"],
             "probability": s["probability"]}
            for s in store.stages(db, r["id"])
        ]  # fmt: skip
        out.append({"id": r["id"], "name": r["name"], "default": r["id"] == default,
                    "stages": stages, "open_deals": r["open_deals"]})  # fmt: skip
    return out


def has_pipelines(db: Db) -> bool:
    """False on a fresh database read before its first write created the default pipeline."""
    return store.default_pipeline_id(db) is not None


def resolve_pipeline(db: Db, selector: str | None, *, writing: bool = False) -> int:
    """A pipeline by id or name; None means the default (the first created).

    ``writing``: the caller is about to write, so on a fresh database the default
    pipeline is created first (as the first write does); a read never creates it.
    """
    from crm_cli.domain.selectors import MAX_ID, as_id, unquote

    if writing:
        first_use(db)
    if selector is None:
        pid = store.default_pipeline_id(db)
        if pid is None:
            if needs_default_pipeline(db):
                raise NotFound(
                    "no pipeline yet: the first change to the database creates the default"
                    f" '{DEFAULT_PIPELINE[0]}' (or add one with crm pipeline add)"
                )
            raise NotFound("there is no pipeline; add one with crm pipeline add")
        return pid
    sel = selector.strip()
    if not sel:
        raise InvalidInput("empty pipeline name")
    pid = as_id(sel.removeprefix("#"))
    if pid is not None:
        if pid > MAX_ID or store.pipeline(db, pid) is None:
            raise NotFound(f"no pipeline with id {pid}")
        return pid
    ids = store.pipeline_ids_named(db, unquote(sel) or sel)
    if not ids:
        names = ", ".join(p["name"] for p in store.pipelines(db))
        raise NotFound(f"no pipeline named '{sel}' (pipelines: {names})")
    return ids[0]


_STAGE_SPEC = re.compile(r"^(.+?)(?::\s*([0-9]{1,3})\s*%?)?$")


def _probability(value: int | str, stage: str) -> int:
    try:
        p = int(str(value).strip().rstrip("%"))
    except ValueError:
        raise InvalidInput(
            f"stage '{stage}': probability must be a whole percent, not '{value}'"
        ) from None
    if not 0 <= p <= 100:
        raise InvalidInput(f"stage '{stage}': probability must be between 0 and 100, not {p}")
    return p


def _stage_name(name: str) -> str:
    clean = validate.text(name)
    if clean is None:
        raise InvalidInput("a stage needs a name")
    if clean.isdigit():
        raise InvalidInput(
            f"a stage name cannot be a number ('{clean}'): numbers pick stages by position"
        )
    if clean.casefold() in ("won", "lost", "open"):
        raise InvalidInput(
            f"'{clean}' is a deal status, not a stage: deals close with crm deal won / lost"
        )
    return clean


def parse_stage_spec(spec: str) -> tuple[str, int]:
    """Read 'proposal:50' (or 'proposal:50%') into (name, probability); the percent is required."""
    m = _STAGE_SPEC.match(spec.strip())
    if not m or m.group(2) is None:
        raise InvalidInput(
            f"stage '{spec}' needs a win probability: NAME:PERCENT, e.g. proposal:50"
        )
    return _stage_name(m.group(1)), _probability(m.group(2), m.group(1))


def add_pipeline(db: Db, name: str, stages: list[str]) -> Pipeline:
    """Add a pipeline with its stages ('name:probability', in order)."""
    clean = validate.text(name)
    if clean is None:
        raise InvalidInput("a pipeline needs a name")
    if clean.isdigit():
        raise InvalidInput(f"a pipeline name cannot be a number ('{clean}'): numbers are ids")
    if not stages:
        raise InvalidInput("a pipeline needs at least one --stage NAME:PERCENT")
    specs = [parse_stage_spec(s) for s in stages]
    seen: set[str] = set()
    for n, _ in specs:
        if n.casefold() in seen:
            raise InvalidInput(f"stage '{n}' is given twice")
        seen.add(n.casefold())
    if store.pipeline_ids_named(db, clean):
        raise InvalidInput(f"a pipeline named '{clean}' already exists")
    with transaction(db, f"pipeline add {clean}") as tx:
        pid = tx.insert("pipelines", {"name": clean, "created_at": tx.at, "updated_at": tx.at})
        for pos, (n, p) in enumerate(specs, 1):
            tx.insert("stages", {"pipeline_id": pid, "name": n, "position": pos, "probability": p})
    return get_pipeline(db, pid)


def resolve_stage(db: Db, pipeline_id: int, text: str) -> Stage:
    """A stage of this pipeline by name or 1-based position; clear errors otherwise."""
    from crm_cli.domain.selectors import unquote

    sel = text.strip()
    stages = [_stage(s) for s in store.stages(db, pipeline_id)]
    pname = store.pipeline(db, pipeline_id)["name"]
    listing = ", ".join(f"{i} {s.name}" for i, s in enumerate(stages, 1))
    if sel.isascii() and sel.isdigit():
        n = int(sel)
        if not 1 <= n <= len(stages):
            raise InvalidInput(
                f"pipeline '{pname}' has no stage at position {n} (stages: {listing})"
            )
        return stages[n - 1]
    name = unquote(sel) or sel
    for s in stages:
        if s.name.casefold() == name.casefold():
            return s
    if name.casefold() in ("won", "lost"):
        raise InvalidInput(
            f"'{name}' is a status, not a stage: close a deal with crm deal {name.casefold()} DEAL"
        )
    elsewhere = store.stages_named(db, name)
    if elsewhere:
        where = ", ".join(f"'{r['pipeline']}'" for r in elsewhere)
        raise InvalidInput(
            f"stage '{name}' belongs to pipeline {where}, not '{pname}' (stages: {listing})"
        )
    raise InvalidInput(f"pipeline '{pname}' has no stage '{name}' (stages: {listing})")


def _renumber(tx: Transaction, stages: list[Stage]) -> None:
    for pos, s in enumerate(stages, 1):
        if s.position != pos:
            tx.update("stages", s.id, {"position": pos})


def add_stage(db: Db, pipeline: str | None, name: str, probability: int | str,
              position: int | None = None) -> Pipeline:  # fmt: skip
    """Add a stage to a pipeline, at the end or at a 1-based position."""
    pid = resolve_pipeline(db, pipeline, writing=True)
    clean = _stage_name(name)
    prob = _probability(probability, clean)
    p = get_pipeline(db, pid)
    if any(s.name.casefold() == clean.casefold() for s in p.stages):
        raise InvalidInput(f"pipeline '{p.name}' already has a stage '{clean}'")
    if position is not None and not 1 <= position <= len(p.stages) + 1:
        raise InvalidInput(f"position must be between 1 and {len(p.stages) + 1}, not {position}")
    with transaction(db, f"pipeline stage add {p.name} {clean}") as tx:
        sid = tx.insert(
            "stages",
            {"pipeline_id": pid, "name": clean, "position": len(p.stages) + 1, "probability": prob},
        )
        order = list(p.stages)
        new = Stage(sid, clean, len(p.stages) + 1, prob)
        order.insert((position or len(order) + 1) - 1, new)
        _renumber(tx, order)
        tx.update("pipelines", pid, {"updated_at": tx.at})
    return get_pipeline(db, pid)


def move_stage(db: Db, pipeline: str | None, stage: str, position: int) -> Pipeline:
    """Move a stage to another 1-based position in its pipeline."""
    pid = resolve_pipeline(db, pipeline, writing=True)
    p = get_pipeline(db, pid)
    s = resolve_stage(db, pid, stage)
    if not 1 <= position <= len(p.stages):
        raise InvalidInput(f"position must be between 1 and {len(p.stages)}, not {position}")
    order = [x for x in p.stages if x.id != s.id]
    order.insert(position - 1, s)
    with transaction(db, f"pipeline stage move {p.name} {s.name} {position}") as tx:
        _renumber(tx, order)
    return get_pipeline(db, pid)


def rename_stage(db: Db, pipeline: str | None, stage: str, new_name: str) -> Pipeline:
    """Rename a stage; deals and their recorded moves keep pointing at it by id."""
    pid = resolve_pipeline(db, pipeline, writing=True)
    p = get_pipeline(db, pid)
    s = resolve_stage(db, pid, stage)
    clean = _stage_name(new_name)
    if any(x.id != s.id and x.name.casefold() == clean.casefold() for x in p.stages):
        raise InvalidInput(f"pipeline '{p.name}' already has a stage '{clean}'")
    with transaction(db, f"pipeline stage rename {p.name} {s.name} {clean}") as tx:
        tx.update("stages", s.id, {"name": clean})
    return get_pipeline(db, pid)


def set_probability(db: Db, pipeline: str | None, stage: str, probability: int | str) -> Pipeline:
    """Change a stage's win probability."""
    pid = resolve_pipeline(db, pipeline, writing=True)
    s = resolve_stage(db, pid, stage)
    prob = _probability(probability, s.name)
    with transaction(db, f"pipeline stage probability {s.name} {prob}") as tx:
        tx.update("stages", s.id, {"probability": prob})
    return get_pipeline(db, pid)


def pipeline_summary(db: Db, pipeline_id: int) -> list[dict]:
    """Per stage: open deals and amounts per currency, plus the weighted amounts."""
    from crm_cli.domain import money

    out = []
    for r in store.stage_summary(db, pipeline_id):
        amounts = json.loads(r["amounts"] or "{}")
        out.append({
            "id": r["id"], "name": r["name"], "position": r["position"],
            "probability": r["probability"], "open_deals": r["open_deals"],
            "amounts": {c: money.format(v, c) for c, v in sorted(amounts.items())},
            "weighted": {c: money.format(_weighted(v, r["probability"]), c)
                         for c, v in sorted(amounts.items())},
        })  # fmt: skip
    return out


def _weighted(minor: int, probability: int) -> int:
    """minor * probability / 100, rounded half to even in integer arithmetic."""
    q, r = divmod(minor * probability, 100)
    if r * 2 > 100 or (r * 2 == 100 and q % 2):
        q += 1
    return q


# ---------------------------------------------------------------- deals


@dataclass(frozen=True, slots=True)
class Deal:
    id: int
    title: str
    pipeline_id: int
    pipeline: str
    stage_id: int
    stage: str
    stage_position: int
    probability: int
    status: str
    lost_reason: str | None
    org_id: int | None
    org: str | None
    contact_id: int | None
    contact: str | None
    amount_minor: int | None
    currency: str | None
    expected_close_date: str | None
    owner_id: int | None
    owner: str | None
    source: str | None
    tags: tuple[str, ...]
    custom: dict = field(default_factory=dict)
    stage_entered_at: str = ""
    closed_at: str | None = None
    created_at: str = ""
    updated_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        from crm_cli.domain import money

        has = self.amount_minor is not None and self.currency is not None
        return {
            "id": self.id,
            "title": self.title,
            "amount": money.format(self.amount_minor, self.currency) if has else None,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "weighted_amount": (
                money.format(_weighted(self.amount_minor, self.probability), self.currency)
                if has and self.status == "open"
                else None
            ),  # fmt: skip
            "pipeline_id": self.pipeline_id,
            "pipeline": self.pipeline,
            "stage_id": self.stage_id,
            "stage": self.stage,
            "stage_position": self.stage_position,
            "probability": self.probability,
            "status": self.status,
            "lost_reason": self.lost_reason,
            "org_id": self.org_id,
            "org": self.org,
            "contact_id": self.contact_id,
            "contact": self.contact,
            "owner_id": self.owner_id,
            "owner": self.owner,
            "expected_close_date": self.expected_close_date,
            "source": self.source,
            "tags": list(self.tags),
            "custom": dict(self.custom),
            "stage_entered_at": self.stage_entered_at,
            "closed_at": self.closed_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


JSON_KEYS = ("id", "title", "amount", "amount_minor", "currency", "weighted_amount",
             "pipeline_id", "pipeline", "stage_id", "stage", "stage_position", "probability",
             "status", "lost_reason", "org_id", "org", "contact_id", "contact", "owner_id",
             "owner", "expected_close_date", "source", "tags", "custom", "stage_entered_at",
             "closed_at", "created_at", "updated_at")  # fmt: skip


def load(db: Db, rows: list[dict]) -> list[Deal]:
    tags = store.tags_of(db, [r["id"] for r in rows])
    return [
        Deal(
            id=r["id"],
            title=r["title"],
            pipeline_id=r["pipeline_id"],
            pipeline=r["pipeline"],
            stage_id=r["stage_id"],
            stage=r["stage"],
            stage_position=r["stage_position"],
            probability=r["probability"],
            status=r["status"],
            lost_reason=r["lost_reason"],
            org_id=r["org_id"],
            org=r["org"],
            contact_id=r["contact_id"],
            contact=r["contact"],
            amount_minor=r["amount_minor"],
            currency=r["currency"],
            expected_close_date=r["expected_close_date"],
            owner_id=r["owner_id"],
            owner=r["owner"],
            source=r["source"],
            tags=tuple(tags[r["id"]]),
            custom=json.loads(r["custom"] or "{}"),
            stage_entered_at=r["stage_entered_at"],
            closed_at=r["closed_at"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
        )  # fmt: skip
        for r in rows
    ]


def get(db: Db, deal_id: int) -> Deal:
    row = store.get(db, deal_id)
    if row is None:
        raise NotFound(f"no deal with id {deal_id}")
    return load(db, [row])[0]


def moves(db: Db, deal_id: int) -> list[dict]:
    """The deal's recorded stage moves and closes, oldest first."""
    get(db, deal_id)
    return store.moves(db, deal_id)


def _resolve_names(db: Db, node):
    """Turn stage:NAME / pipeline:NAME into id comparisons (indexed), checking the names."""
    from crm_cli import query

    def fix(n: query.Cond):
        if n.op in ("=", "!=") and isinstance(n.value, str):
            if n.field == "stage":
                rows = store.stages_named(db, n.value)
                if not rows:
                    known = sorted({r["name"] for p in store.pipelines(db)
                                    for r in store.stages(db, p["id"])})  # fmt: skip
                    raise InvalidInput(f"no stage named '{n.value}' (stages: {', '.join(known)})")
                items = tuple(query.Cond("stage_id", "=", r["id"]) for r in rows)
                same = items[0] if len(items) == 1 else query.Or(items)
                return same if n.op == "=" else query.Not(same)
            if n.field == "pipeline":
                ids = store.pipeline_ids_named(db, n.value)
                if not ids:
                    raise NotFound(f"no pipeline named '{n.value}'")
                return query.Cond("pipeline_id", n.op, ids[0])
            if n.field == "status":
                v = n.value.strip().lower()
                if v not in STATUSES:
                    raise InvalidInput(
                        f"status must be one of {', '.join(STATUSES)}, not '{n.value}'"
                    )
                return query.Cond("status", n.op, v)
        return n

    return query.map_conds(node, fix)


def list_deals(
    db: Db, filter_args: list[str] | None = None, *, everything: bool = False, sort=None, limit=None
) -> list[Deal]:
    """Deals matching the filters; open ones only unless the filter names a status or ``everything``."""
    where, params = filter_sql(db, filter_args, everything=everything)
    return load(db, store.select(db, where, params, sort=sort, limit=limit))


def filter_sql(
    db: Db, filter_args: list[str] | None, *, everything: bool = False
) -> tuple[str, list]:
    """The filter language as SQL over ``deals d``: (where, params); open deals only
    unless the filter names a status or ``everything`` (reports use it too)."""
    from crm_cli import query
    from crm_cli.domain import filters
    from crm_cli.storage import filters as compiled

    node = None
    if filter_args:
        node = filters.parse(list(filter_args), compiled.filter_types(store.FIELDS))
    if not everything and not query.mentions(node, "status"):
        open_only = query.Cond("status", "=", "open")
        node = open_only if node is None else query.And((node, open_only))
    if node is not None:
        node = _resolve_names(db, node)
        from crm_cli import config

        node = filters.scope_money(node, "amount", config.get("money.currency"))
    return compiled.compile_filter(node, store.FIELDS)


def _amount(amount: str | None, currency: str | None) -> tuple[int | None, str | None]:
    from crm_cli import config
    from crm_cli.domain import money

    if amount is None:
        if currency is not None:
            raise InvalidInput("--currency needs an --amount")
        return None, None
    code = None
    if currency is not None:
        code = currency.strip().upper()
        money.exponent(code)  # an unknown code is an error
    minor, found = money.parse_with_currency(amount, code or config.get("money.currency"))
    if code is not None and found != code:
        raise InvalidInput(f"amount '{amount}' is in {found} but --currency says {code}")
    if minor < 0:
        raise InvalidInput(f"a deal's amount cannot be negative ({amount})")
    if minor > MAX_AMOUNT_MINOR:
        raise InvalidInput(
            f"amount {amount} is too large (at most {money.format(MAX_AMOUNT_MINOR, found)} {found})"
        )
    return minor, found


def _close_date(text: str | None) -> str | None:
    from crm_cli.domain import dates

    if text is None or not text.strip():
        return None
    return dates.parse_date(text)


def _custom(items, base: dict | None = None) -> str:
    out = dict(base or {})
    for item in items or ():
        k, v = validate.key_value(item, "field")
        if v == "":
            out.pop(k, None)
        else:
            out[k] = v
    return json.dumps(out, ensure_ascii=False, sort_keys=True)


def _links(db: Db, org: str | None, contact: str | None) -> tuple[int | None, int | None]:
    from crm_cli.domain import selectors
    from crm_cli.storage import contacts as contact_store

    cid = selectors.contacts(db, contact)[0] if contact else None
    oid = selectors.orgs(db, org)[0] if org else None
    if oid is None and cid is not None:
        oid = contact_store.get(db, cid)["org_id"]  # the contact's organization
    return oid, cid


def _record_move(
    tx: Transaction, deal_id: int, from_stage, to_stage, from_status, to_status
) -> None:
    tx.insert("deal_moves", {
        "deal_id": deal_id, "from_stage_id": from_stage, "to_stage_id": to_stage,
        "from_status": from_status, "to_status": to_status, "moved_at": tx.at,
        "actor_id": tx.actor_id,
    })  # fmt: skip


def add(
    db: Db,
    title: str,
    *,
    org: str | None = None,
    contact: str | None = None,
    amount: str | None = None,
    currency: str | None = None,
    close: str | None = None,
    owner: str | None = None,
    stage: str | None = None,
    pipeline: str | None = None,
    source: str | None = None,
    tags: list[str] = (),
    fields: list[str] = (),
) -> Deal:
    """Add an open deal at a stage (default: the pipeline's first) and record its entry."""
    from crm_cli.domain import users

    clean = validate.text(title)
    if clean is None:
        raise InvalidInput("a deal needs a title")
    minor, code = _amount(amount, currency)
    close_date = _close_date(close)
    pid = resolve_pipeline(db, pipeline, writing=True)
    if stage is not None:
        st = resolve_stage(db, pid, stage)
    else:
        stages = store.stages(db, pid)
        if not stages:
            raise InvalidInput("the pipeline has no stages; add one with crm pipeline stage add")
        st = _stage(stages[0])
    oid, cid = _links(db, org, contact)
    tag_list = validate.tags(tags)
    custom = _custom(fields)
    with transaction(db, f"deal add {clean}"[:120]) as tx:
        owner_id = users.resolve_id(db, owner) if owner else tx.actor_id
        did = tx.insert("deals", {
            "title": clean, "pipeline_id": pid, "stage_id": st.id, "status": "open",
            "org_id": oid, "contact_id": cid, "amount_minor": minor, "currency": code,
            "expected_close_date": close_date, "owner_id": owner_id,
            "source": validate.text(source), "custom": custom, "stage_entered_at": tx.at,
            "created_at": tx.at, "updated_at": tx.at,
        })  # fmt: skip
        for t in tag_list:
            tx.insert("deal_tags", {"deal_id": did, "tag": t})
        _record_move(tx, did, None, st.id, None, "open")
    return get(db, did)


def move(db: Db, deal_id: int, stage: str) -> Deal | None:
    """Move an open deal to a stage of its pipeline (by name or position); None if already there."""
    with transaction(db, f"deal move {deal_id} {stage}"[:120]) as tx:
        d = get(db, deal_id)  # read under the write lock
        if d.status != "open":
            raise InvalidInput(
                f"deal {deal_id} is {d.status}, so it cannot move; reopen it first: crm deal reopen {deal_id}"
            )
        target = resolve_stage(db, d.pipeline_id, stage)
        if target.id == d.stage_id:
            return None
        tx.update("deals", deal_id, {"stage_id": target.id, "stage_entered_at": tx.at,
                                     "updated_at": tx.at})  # fmt: skip
        _record_move(tx, deal_id, d.stage_id, target.id, "open", "open")
    return get(db, deal_id)


def close(db: Db, deal_id: int, status: str, *, reason: str | None = None) -> Deal:
    """Mark an open deal won or lost (with a reason), recording when and by whom."""
    assert status in ("won", "lost")
    why = validate.text(reason)
    if status == "won" and why is not None:
        raise InvalidInput("--reason is for lost deals")
    with transaction(db, f"deal {status} {deal_id}") as tx:
        d = get(db, deal_id)
        if d.status != "open":
            raise InvalidInput(
                f"deal {deal_id} is already {d.status}; reopen it first to change that"
            )
        tx.update("deals", deal_id, {"status": status, "lost_reason": why, "closed_at": tx.at,
                                     "updated_at": tx.at})  # fmt: skip
        _record_move(tx, deal_id, d.stage_id, d.stage_id, "open", status)
    return get(db, deal_id)


def reopen(db: Db, deal_id: int) -> Deal:
    """Reopen a won or lost deal at the stage it was closed in."""
    with transaction(db, f"deal reopen {deal_id}") as tx:
        d = get(db, deal_id)
        if d.status == "open":
            raise InvalidInput(f"deal {deal_id} is already open")
        tx.update("deals", deal_id, {"status": "open", "lost_reason": None, "closed_at": None,
                                     "stage_entered_at": tx.at, "updated_at": tx.at})  # fmt: skip
        _record_move(tx, deal_id, d.stage_id, d.stage_id, d.status, "open")
    return get(db, deal_id)


@dataclass
class DealEdit:
    """Changes from the command line: None leaves a value, '' clears it."""

    title: str | None = None
    org: str | None = None
    contact: str | None = None
    amount: str | None = None
    currency: str | None = None
    close: str | None = None
    owner: str | None = None
    source: str | None = None
    add_tags: list[str] = field(default_factory=list)
    remove_tags: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return all(v is None or v == [] for v in self.__dict__.values())


def edit(db: Db, deal_id: int, e: DealEdit) -> Deal | None:
    """Change a deal's fields (stage and status change through move/won/lost/reopen)."""
    from crm_cli.domain import selectors, users

    if e.is_empty():
        raise InvalidInput("nothing to change: give at least one option, e.g. --amount 5000")
    with transaction(db, f"deal edit {deal_id}") as tx:
        d = get(db, deal_id)
        values: dict[str, Any] = {}
        if e.title is not None:
            t = validate.text(e.title)
            if t is None:
                raise InvalidInput("a deal's title cannot be empty")
            values["title"] = t
        if e.org is not None:
            values["org_id"] = selectors.orgs(db, e.org)[0] if e.org.strip() else None
        if e.contact is not None:
            values["contact_id"] = (
                selectors.contacts(db, e.contact)[0] if e.contact.strip() else None
            )
        if e.amount is not None or e.currency is not None:
            if e.amount is not None and not e.amount.strip():
                if e.currency:
                    raise InvalidInput("--currency needs an --amount")
                values["amount_minor"], values["currency"] = None, None
            else:
                if e.amount is None:
                    if d.amount_minor is None:
                        raise InvalidInput("--currency needs an --amount")
                    from crm_cli.domain import money

                    amount = money.format(d.amount_minor, d.currency)
                    raise InvalidInput(
                        f"changing the currency needs the amount in it too: --amount {amount} --currency {e.currency}"
                    )
                values["amount_minor"], values["currency"] = _amount(e.amount, e.currency)
        if e.close is not None:
            values["expected_close_date"] = _close_date(e.close)
        if e.owner is not None:
            values["owner_id"] = users.resolve_id(db, e.owner) if e.owner.strip() else None
        if e.source is not None:
            values["source"] = validate.text(e.source)
        if e.fields:
            values["custom"] = _custom(e.fields, d.custom)
        changed = tx.update("deals", deal_id, values) if values else False
        drop = set(validate.tags(e.remove_tags))
        missing = drop - set(d.tags)
        if missing:
            raise InvalidInput(f"deal {deal_id} has no tag {', '.join(sorted(missing))}")
        rows = {r["tag"]: r["id"] for r in store.tag_rows(db, deal_id)}
        for t in sorted(drop):
            tx.delete("deal_tags", rows[t])
            changed = True
        for t in validate.tags(e.add_tags):
            if t not in rows or t in drop:
                tx.insert("deal_tags", {"deal_id": deal_id, "tag": t})
                changed = True
        if changed:
            tx.update("deals", deal_id, {"updated_at": tx.at})
    return get(db, deal_id) if changed else None


def delete(db: Db, deal_id: int, *, cascade: bool = False) -> None:
    """Delete a deal with its tags and recorded moves; refuse if activities or follow-ups refer to it."""
    from crm_cli.domain.contacts import delete_row

    with transaction(db, f"deal delete {deal_id}") as tx:
        if not store.exists(db, deal_id):
            raise NotFound(f"no deal with id {deal_id}")
        delete_row(db, tx, "deals", deal_id, cascade=cascade)
