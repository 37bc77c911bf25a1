"""Merge duplicate contacts or organizations into one kept record, as one undoable change set.

The rules:

- KEEP's own values are never overwritten. Its empty fields are filled from the others,
  in the order they were given. The postal address (street, city, region, postal code,
  country) moves as a block: only when KEEP has none of it, from the first other that has
  one, so two half addresses never make a wrong one.
- A different value of an other that KEEP does not take is kept in KEEP's custom fields
  as ``merged.<field>`` (``merged.org`` and ``merged.owner`` by name; several values joined
  with ``; ``), so nothing the others knew is lost. Custom fields and social handles are
  merged with KEEP winning; an other's different value goes to ``merged.<key>`` or
  ``merged.social.<network>``.
- Consent: an opt-out on any of them wins (a withdrawal must survive a merge); otherwise
  KEEP's unless it is unknown. The shorter cadence wins; the earliest creation time is kept.
- Every row that refers to an other (found from the schema's foreign keys, plus
  ``external_ids``) is re-pointed to KEEP. A row that would then repeat one KEEP already has
  (the same email or phone, tag, meeting participant — anything a UNIQUE index covers) is
  deleted instead. KEEP's primary email and phone stay primary.
- The others are then deleted. Summaries (activity count, last activity, orders, spend)
  are recomputed by storage on commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from crm_cli.errors import InvalidInput, NotFound
from crm_cli.storage import merge as store
from crm_cli.storage.db import Db, Transaction, transaction

ADDRESS = ("street", "city", "region", "postal_code", "country")
# Fields filled one by one when KEEP's is empty; a different value is noted.
_CONTACT_FIELDS = ("name", "first_name", "last_name", "title", "org_id", "source", "owner_id",
                   "stage", "birthday")  # fmt: skip
_ORG_FIELDS = ("name", "domain", "industry", "size", "owner_id")
# Fields whose differences are not noted (they follow from the name).
_QUIET = {"first_name", "last_name"}
_NAMED = {"org_id": ("org", "orgs"), "owner_id": ("owner", "users")}
_WHAT = {"contacts": "contact", "orgs": "organization"}


@dataclass(frozen=True, slots=True)
class Moved:
    """How many rows of one referring column move to KEEP and how many are dropped as repeats."""

    table: str
    column: str
    moved: int
    dropped: int

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "column": self.column, "moved": self.moved,
                "dropped": self.dropped}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Plan:
    """What a merge changes: KEEP's new values, the rows it re-points, the records it deletes."""

    entity: str  # contacts or orgs
    keep: int
    others: tuple[int, ...]
    fields: dict[str, Any]  # column -> new value on KEEP (custom and social as objects)
    moves: tuple[Moved, ...]
    dry_run: bool = False
    steps: tuple = field(default=(), repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        fields = {
            k: json.loads(v) if k in ("custom", "social") else v for k, v in self.fields.items()
        }
        return {
            "entity": self.entity,
            "keep": self.keep,
            "others": list(self.others),
            "dry_run": self.dry_run,
            "fields": fields,
            "moves": [m.to_dict() for m in self.moves],
            "deleted": list(self.others),
        }


def _empty(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


class _Notes:
    """Values KEEP did not take, gathered into its custom fields as merged.<key>."""

    def __init__(self, custom: dict):
        self.custom = custom

    def add(self, key: str, value: Any, kept: Any = None) -> None:
        if _empty(value) or value == kept:
            return
        k = key if key.startswith("merged.") else f"merged.{key}"
        have = [v for v in str(self.custom.get(k, "")).split("; ") if v]
        for v in str(value).split("; "):
            if v and v not in have and v != kept:
                have.append(v)
        if have:
            self.custom[k] = "; ".join(have)


def _dump(d: dict) -> str:
    return json.dumps(d, ensure_ascii=False, sort_keys=True)


def _fields(db: Db, entity: str, keep: dict, others: list[dict]) -> dict[str, Any]:
    """KEEP's changed columns: filled fields, merged custom/social, consent, cadence, created."""
    custom = json.loads(keep.get("custom") or "{}")
    notes = _Notes(custom)
    out: dict[str, Any] = {}
    cur = dict(keep)

    def shown(col: str, v: Any) -> Any:
        if col in _NAMED:
            return store.name_of(db, _NAMED[col][1], v)
        return v

    for col in _CONTACT_FIELDS if entity == "contacts" else _ORG_FIELDS:
        for o in others:
            v = o.get(col)
            if _empty(v):
                continue
            if _empty(cur.get(col)):
                cur[col] = out[col] = v
            elif v != cur[col] and col not in _QUIET:
                name = _NAMED.get(col, (col,))[0]
                notes.add(name, shown(col, v), shown(col, cur[col]))
    if all(_empty(keep.get(c)) for c in ADDRESS):
        donor = next((o for o in others if any(not _empty(o.get(c)) for c in ADDRESS)), None)
        if donor is not None:
            out.update({c: donor.get(c) for c in ADDRESS if not _empty(donor.get(c))})
    for o in others:
        for c in ADDRESS:
            notes.add(c, o.get(c), out.get(c, keep.get(c)))
    for o in others:
        for k, v in json.loads(o.get("custom") or "{}").items():
            if k.startswith("merged."):
                notes.add(k, v)
            elif k not in custom:
                custom[k] = v
            else:
                notes.add(k, v, custom[k])
    if entity == "contacts":
        social = json.loads(keep.get("social") or "{}")
        for o in others:
            for k, v in json.loads(o.get("social") or "{}").items():
                if k not in social:
                    social[k] = v
                else:
                    notes.add(f"social.{k}", v, social[k])
        out["social"] = _dump(social)
        out.update(_consent(keep, others))
        out.update(_cadence(keep, others))
    out["custom"] = _dump(custom)
    created = min([keep["created_at"], *(o["created_at"] for o in others)])
    out["created_at"] = created
    return {k: v for k, v in out.items() if keep.get(k) != v}


def _consent(keep: dict, others: list[dict]) -> dict:
    rows = [keep, *others]
    opted = next((r for r in rows if r["consent"] == "opted_out"), None)
    if opted is not None:
        chosen = opted
    elif keep["consent"] != "unknown":
        chosen = keep
    else:
        chosen = next((r for r in others if r["consent"] != "unknown"), keep)
    return {"consent": chosen["consent"], "consent_at": chosen["consent_at"]}


def _cadence(keep: dict, others: list[dict]) -> dict:
    rows = [r for r in (keep, *others) if r.get("cadence_days") is not None]
    if not rows:
        return {}
    best = min(rows, key=lambda r: r["cadence_days"])  # KEEP first: it wins a tie
    return {"cadence_days": best["cadence_days"], "cadence_set_at": best["cadence_set_at"]}


def _steps(db: Db, entity: str, keep: int, others: list[int]) -> tuple[list, list[Moved]]:
    """Each referring row's fate: ('move', table, id, values) or ('drop', table, id, None)."""
    steps: list = []
    moves: list[Moved] = []
    order = {o: i for i, o in enumerate(others)}
    for ref in store.references(db, entity):
        kept = store.referring_rows(db, entity, ref, [keep])
        rows = store.referring_rows(db, entity, ref, others)
        if not rows:
            continue
        taken = [
            {tuple(r[c] for c in key) for r in kept if all(r[c] is not None for c in key)}
            for key in ref.keys
        ]
        primary = any(r.get("is_primary") for r in kept)
        rows.sort(key=lambda r: (order[r[ref.column]], -(r.get("is_primary") or 0), r["id"]))
        moved = dropped = 0
        for r in rows:
            if ref.table == entity and r["id"] == keep:
                steps.append(("move", ref.table, r["id"], {ref.column: None}))
                moved += 1
                continue
            vals = [tuple(r[c] for c in key) for key in ref.keys]
            if any(v in t for v, t in zip(vals, taken)):
                steps.append(("drop", ref.table, r["id"], None))
                dropped += 1
                continue
            for v, t in zip(vals, taken):
                if None not in v:
                    t.add(v)
            values: dict[str, Any] = {ref.column: keep}
            if r.get("is_primary"):
                if primary:
                    values["is_primary"] = 0
                primary = True
            steps.append(("move", ref.table, r["id"], values))
            moved += 1
        moves.append(Moved(ref.table, ref.column, moved, dropped))
    return steps, moves


def check(entity: str, keep: int, others: list[int]) -> None:
    """Refuse a merge with no others, KEEP among them, or one given twice."""
    what = _WHAT[entity]
    if not others:
        raise InvalidInput(f"give at least one {what} to merge into {keep}")
    if keep in others:
        raise InvalidInput(f"{what} {keep} is the one kept: it cannot also be merged into itself")
    seen: set[int] = set()
    for o in others:
        if o in seen:
            raise InvalidInput(f"{what} {o} is given twice")
        seen.add(o)


def _rows(db: Db, entity: str, ids: list[int]) -> list[dict]:
    out = []
    for i in ids:
        row = store.record(db, entity, i)
        if row is None:
            raise NotFound(f"no {_WHAT[entity]} with id {i}")
        out.append(row)
    return out


def plan(db: Db, entity: str, keep: int, others: list[int]) -> Plan:
    """Work out a merge without writing anything (what --dry-run shows)."""
    check(entity, keep, others)
    keep_row, *other_rows = _rows(db, entity, [keep, *others])
    steps, moves = _steps(db, entity, keep, others)
    fields = _fields(db, entity, keep_row, other_rows)
    return Plan(entity, keep, tuple(others), fields, tuple(moves), True, tuple(steps))


def merge(db: Db, entity: str, keep: int, others: list[int], *, dry_run: bool = False) -> Plan:
    """Merge ``others`` into ``keep`` (contacts or orgs) as one change set; return the plan."""
    if entity not in _WHAT:
        raise ValueError(f"cannot merge {entity}")
    if dry_run:
        return plan(db, entity, keep, others)
    check(entity, keep, others)
    what = _WHAT[entity].replace("organization", "org")
    label = f"{what} merge {' '.join(map(str, others))} into {keep}"
    with transaction(db, label) as tx:
        p = plan(db, entity, keep, others)  # read again under the write lock
        _apply(db, tx, p)
    return Plan(p.entity, p.keep, p.others, p.fields, p.moves, False)


def _apply(db: Db, tx: Transaction, p: Plan) -> None:
    from crm_cli.domain.contacts import delete_row

    if p.fields:
        tx.update(p.entity, p.keep, p.fields)
    for op, table, row_id, values in p.steps:
        if op == "drop":
            tx.delete(table, row_id)
        else:
            tx.update(table, row_id, values)
    for o in p.others:
        delete_row(db, tx, p.entity, o, cascade=False)
    tx.update(p.entity, p.keep, {"updated_at": tx.at})


def merge_contacts(db: Db, keep: int, others: list[int], *, dry_run: bool = False) -> Plan:
    """Merge contacts into the kept one: fields, emails, phones, tags and every reference."""
    return merge(db, "contacts", keep, others, dry_run=dry_run)


def merge_orgs(db: Db, keep: int, others: list[int], *, dry_run: bool = False) -> Plan:
    """Merge organizations into the kept one: fields, phones, tags, people and every reference."""
    return merge(db, "orgs", keep, others, dry_run=dry_run)
