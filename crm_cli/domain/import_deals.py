"""Import deals: Salesforce Opportunities (CSV or sObject-tree JSON) and our own deal export.

Each row becomes one deal in the default pipeline (or the row's ``pipeline``). Its
stage maps by ``--stage-map`` first, then by our stage's name, then by the usual
Salesforce stage names (Qualification -> qualified, Negotiation/Review -> negotiation…)
where the pipeline has those stages; anything else goes to the pipeline's first
stage. Whenever the file's stage is not one of ours word for word, its text is kept
in the custom field ``stage``. Closed/Won and Closed Lost close the deal (won/lost)
at the pipeline's last stage.

Organizations resolve through external ids of the same system family (an
``AccountId`` of an account imported with ``crm import orgs``), then Salesforce's
sObject-tree references (``@AccountRef10`` is the 10th account of the newest
``salesforce-accounts`` import's file), then by name; what does not resolve is kept
as a custom field (``org_ref``, ``org``, ``contact``, ``owner``), never rejected.

Deals are matched for re-imports by the file's ``Id`` (external id) or, when the
file has none (Opportunities.csv), by title plus account reference, recorded as an
external id of the source system: importing a file twice creates nothing, and a
corrected file updates the deals it names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_cli.domain import dates, deals, validate
from crm_cli.domain.imports import ROW_ERRORS, Item, _link_external
from crm_cli.errors import InvalidInput, NotFound
from crm_cli.storage import deals as deal_store
from crm_cli.storage import import_lookup as lookup
from crm_cli.storage import imports as store
from crm_cli.storage.db import transaction

# Salesforce's standard opportunity stages onto our default pipeline's stage names
# (used only when the pipeline has a stage of that name).
SALESFORCE_STAGES = {
    "prospecting": "lead",
    "qualification": "qualified",
    "needs analysis": "qualified",
    "value proposition": "proposal",
    "id. decision makers": "proposal",
    "perception analysis": "proposal",
    "proposal/price quote": "proposal",
    "negotiation/review": "negotiation",
}
_ACCOUNT_REF = re.compile(r"^@?(AccountRef\d+)$")
_OWN = frozenset({"title", "expected_close_date", "amount_minor", "pipeline", "custom"})
# Custom fields this importer fills with what did not resolve; cleared once it does.
_KEPT = ("stage", "org_ref", "org", "contact", "owner", "owner_ref")


@dataclass
class _Pipeline:
    id: int
    name: str
    stages: list[dict]
    by_name: dict[str, int]  # casefolded stage name -> stage id


@dataclass
class _Deal:
    item: Item
    system: str
    key: str
    title: str
    pipeline: _Pipeline
    stage_id: int | None  # None: the file gave no stage
    status: str | None  # None: the file gave no status
    values: dict[str, Any]  # deals columns the file gave
    custom: dict[str, str]
    drop: set[str] = field(default_factory=set)  # custom fields that resolved now
    tags: list[str] = field(default_factory=list)
    closed_at: str | None = None
    created_at: str | None = None
    pipeline_given: bool = False


def write_batch(db, tx, items, opts, res, reject, source) -> None:
    """Create or update the deals of one batch; bad rows are rejected with the reason."""
    state = opts.state.setdefault("deals", {"keys": {}, "pipelines": {}, "refs": None})
    prepared: list[_Deal] = []
    for item in _expand(items):
        try:
            prepared.append(_prepare(db, item, opts, state, source))
        except ROW_ERRORS as e:
            reject(item, str(e))
    by_system: dict[str, list[str]] = {}
    for p in prepared:
        by_system.setdefault(p.system, []).append(p.key)
    found: dict[tuple[str, str], int] = {}
    for system, keys in by_system.items():
        for k, did in store.by_external_ids(db, system, "deals", keys).items():
            found[(system, k)] = did
    for p in prepared:
        try:
            with transaction(db, "import row"):
                did = state["keys"].get((p.system, p.key)) or found.get((p.system, p.key))
                if did is None:
                    did = _create(tx, p)
                    res.created += 1
                elif _update(db, tx, did, p):
                    res.updated += 1
                else:
                    res.unchanged += 1
                _link_external(db, tx, p.system, p.key, did, entity="deals")
            state["keys"][(p.system, p.key)] = did
        except ROW_ERRORS as e:
            reject(p.item, str(e))


# ---------------------------------------------------------------- reading records


def _expand(items: list[Item]):
    """Items as records; a whole sObject-tree document ({"records": [...]}) becomes its records."""
    for item in items:
        rec = item.record or {}
        inner = rec.get("records") if isinstance(rec, dict) else None
        if isinstance(inner, list) and len(rec) <= 2:
            for n, sub in enumerate(inner, 1):
                raw = json.dumps(sub, ensure_ascii=False)
                if isinstance(sub, dict):
                    yield Item(n, raw, record=sub, cells=[raw])
                else:
                    yield Item(n, raw, problem="not a JSON object", cells=[raw])
        else:
            yield item


def _normalise(rec: dict, map_record) -> tuple[dict, bool]:
    """Our record shape from a mapped CSV row, our own export, or a Salesforce JSON record
    (``map_record`` maps its keys like CSV columns: the reader's, from the Source)."""
    if _OWN & set(rec) or "fields" in rec:
        out = dict(rec)
        if "expected_close_date" in out and "close" not in out:
            out["close"] = out.pop("expected_close_date")
        custom = out.pop("custom", None)
        if isinstance(custom, dict):
            out["fields"] = {**custom, **(out.get("fields") or {})}
        if "id" in out and "external_id" not in out:
            out["external_id"] = out.pop("id")
        return out, False
    # A Salesforce (sObject-tree) record or another tool's JSON: map its keys like CSV columns.
    sobject = isinstance(rec.get("attributes"), dict)
    values = {}
    for k, v in rec.items():
        if k == "attributes" or v is None or isinstance(v, dict | list):
            continue
        values[str(k)] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return map_record(values, "deals"), sobject


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(f"expected text, not {type(value).__name__}")
    return str(value).strip() or None


def _one_line(value: str) -> str:
    return value.replace("\r\n", " ").replace("\r", " ").replace("\n", " ").replace("\t", " ")


def _prepare(db, item: Item, opts, state: dict, source) -> _Deal:
    if item.problem:
        raise InvalidInput(item.problem)
    rec, sobject = _normalise(dict(item.record or {}), source.map_record)
    system = opts.system or "deals"
    if sobject and system.startswith("file:"):
        system = "salesforce-opportunities"  # the same deals as Opportunities.csv
    title = _text(rec.get("title"))
    title = validate.text(_one_line(title)) if title else None
    if not title:
        raise InvalidInput("a deal needs a title (Name column)")
    custom: dict[str, str] = {}
    fields = rec.get("fields") or {}
    if not isinstance(fields, dict):
        raise InvalidInput("'fields' must be an object")
    for k, v in fields.items():
        if v is not None and v != "":
            custom[str(k)] = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    drop: set[str] = set()
    values: dict[str, Any] = {}
    pipeline_name = _text(rec.get("pipeline"))
    pipe = _pipeline(db, state, pipeline_name)
    # stage and status
    status = _text(rec.get("status"))
    status = status.lower() if status else None
    if status is not None and status not in deals.STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(deals.STATUSES)}, not '{status}'")
    stage_text = _text(rec.get("stage"))
    stage_id = None
    if stage_text:
        stage_id, as_status = _stage(pipe, stage_text, opts.stage_map)
        if as_status and status is None:
            status = as_status
        if stage_id is None:  # a closed stage of theirs: the last stage; open: the first
            stage_id = pipe.stages[-1 if status in ("won", "lost") else 0]["id"]
        if stage_text.casefold() in pipe.by_name:
            drop.add("stage")
        else:
            custom["stage"] = stage_text
    elif status is not None:
        stage_id = None  # a status alone keeps the stage (new deals: the first)
    # amount
    amount = _text(rec.get("amount"))
    currency = _text(rec.get("currency"))
    if amount is None and rec.get("amount_minor") is not None and currency:
        from crm_cli.domain import money

        amount = money.format(int(rec["amount_minor"]), currency)
    if amount is not None:
        values["amount_minor"], values["currency"] = deals._amount(amount, currency)
    close = _text(rec.get("close"))
    closed_at = None
    if close:
        values["expected_close_date"] = dates.parse_date(close)
        if status in ("won", "lost"):
            closed_at = dates.to_db(dates.parse_when(close))
    created = _text(rec.get("created_at"))
    created_at = dates.to_db(dates.parse_when(created)) if created else None
    for col in ("source", "lost_reason"):
        v = _text(rec.get(col))
        if v:
            values[col] = validate.text(_one_line(v))
    # links to other records
    org_ref = _text(rec.get("org_ref"))
    org_name = _text(rec.get("org"))
    org_id = None
    if org_ref:
        org_id = _org_by_ref(db, state, system, org_ref, source.account_names)
        if org_id is None:
            custom["org_ref"] = org_ref
        else:
            drop.add("org_ref")
    if org_id is None and org_name:
        ids = store.orgs_by_names(db, [org_name])
        org_id = ids.get(org_name.casefold())
        if org_id is None:
            custom["org"] = org_name
        else:
            drop.add("org")
    contact = _text(rec.get("contact"))
    if contact:
        try:
            oid, cid = deals._links(db, None, contact)
        except (InvalidInput, NotFound):
            custom["contact"] = contact
        else:
            values["contact_id"] = cid
            org_id = org_id or oid
            drop.add("contact")
    if org_id is not None:
        values["org_id"] = org_id
    owner = _text(rec.get("owner"))
    if owner:
        from crm_cli.domain import users

        try:
            values["owner_id"] = users.resolve_id(db, owner)
            drop.add("owner")
        except (InvalidInput, NotFound):
            custom["owner"] = owner  # another tool's sales rep: kept, the row imported
    if _text(rec.get("owner_ref")):
        custom["owner_ref"] = _text(rec.get("owner_ref"))
    tags = rec.get("tags") or []
    tags = validate.tags([tags] if isinstance(tags, str) else tags)
    ext = _text(rec.get("external_id"))
    key = validate.clean(ext) if ext else _natural_key(title, org_ref or org_name)
    drop -= set(custom)
    return _Deal(item, system, key, title, pipe, stage_id, status, values, custom, drop, tags,
                 closed_at, created_at, pipeline_name is not None)  # fmt: skip


def _natural_key(title: str, ref: str | None) -> str:
    """A file without ids: the deal is its title at its account (titles repeat across accounts)."""
    return f"~{title.casefold()}|{(ref or '').casefold()}"


def _pipeline(db, state: dict, name: str | None) -> _Pipeline:
    pid = deals.resolve_pipeline(db, name)
    p = state["pipelines"].get(pid)
    if p is None:
        stages = deal_store.stages(db, pid)
        if not stages:
            raise InvalidInput("the pipeline has no stages; add one with crm pipeline stage add")
        p = _Pipeline(pid, deal_store.pipeline(db, pid)["name"], stages,
                      {s["name"].casefold(): s["id"] for s in stages})  # fmt: skip
        state["pipelines"][pid] = p
    return p


def _stage(pipe: _Pipeline, text: str, stage_map: dict[str, str]) -> tuple[int | None, str | None]:
    """(our stage id or None, a status the stage implies or None)."""
    key = text.casefold()
    if key in stage_map:
        target = stage_map[key].strip()
        if target.casefold() in ("won", "lost", "open"):
            return None, target.casefold()
        sid = pipe.by_name.get(target.casefold())
        if sid is None:
            names = ", ".join(s["name"] for s in pipe.stages)
            raise InvalidInput(
                f"--stage-map sends '{text}' to '{target}', which pipeline '{pipe.name}'"
                f" does not have (stages: {names})"
            )
        return sid, None
    if key in pipe.by_name:
        return pipe.by_name[key], None
    implied = deals.status_from(None, text, {})
    if implied in ("won", "lost"):
        return None, implied
    ours = SALESFORCE_STAGES.get(key)
    if ours and ours in pipe.by_name:
        return pipe.by_name[ours], None
    return None, None


def _org_by_ref(db, state: dict, system: str, ref: str, account_names) -> int | None:
    family = system.split("-", 1)[0]
    bare = ref.removeprefix("@")
    found = lookup.by_external_ids_family(db, family, "orgs", {ref, bare})
    if found:
        return found.get(ref) or found.get(bare)
    m = _ACCOUNT_REF.match(ref)
    if not m:
        return None
    if state["refs"] is None:
        state["refs"] = _account_refs(db, account_names)
    name = state["refs"].get(m.group(1))
    if not name:
        return None
    return store.orgs_by_names(db, [name]).get(name.casefold())


def _account_refs(db, account_names) -> dict[str, str]:
    """referenceId -> account name from the newest Salesforce Accounts import's file (read
    by ``account_names``, the reader's, from the Source).

    Salesforce's sObject-tree plan names accounts AccountRef1, AccountRef2… in file order;
    the Data Loader CSV of the same accounts has them in the same order with no Id column.
    """
    source = lookup.latest_import_source(db, "salesforce-accounts", "orgs")
    if not source or not Path(source).is_file():
        return {}
    try:
        return {
            ref: validate.text(_one_line(name)) or "" for ref, name in account_names(source).items()
        }
    except (OSError, ValueError, InvalidInput):
        return {}


# ---------------------------------------------------------------- writing


def _create(tx, p: _Deal) -> int:
    stage_id = p.stage_id or p.pipeline.stages[0]["id"]
    status = p.status or "open"
    closed = status != "open"
    row = {
        "title": p.title, "pipeline_id": p.pipeline.id, "stage_id": stage_id, "status": status,
        "lost_reason": p.values.get("lost_reason") if status == "lost" else None,
        "org_id": p.values.get("org_id"), "contact_id": p.values.get("contact_id"),
        "amount_minor": p.values.get("amount_minor"), "currency": p.values.get("currency"),
        "expected_close_date": p.values.get("expected_close_date"),
        "owner_id": p.values.get("owner_id") or tx.actor_id, "source": p.values.get("source"),
        "custom": json.dumps(p.custom, ensure_ascii=False, sort_keys=True),
        "stage_entered_at": tx.at, "closed_at": (p.closed_at or tx.at) if closed else None,
        "created_at": p.created_at or tx.at, "updated_at": tx.at,
    }  # fmt: skip
    did = tx.insert("deals", row)
    for t in p.tags:
        tx.insert("deal_tags", {"deal_id": did, "tag": t})
    deals._record_move(tx, did, None, stage_id, None, "open")
    if closed:
        deals._record_move(tx, did, stage_id, stage_id, "open", status)
    return did


def _update(db, tx, did: int, p: _Deal) -> bool:
    """Bring an existing deal in line with the row (only the fields the row gives)."""
    cur = lookup.deal_rows(db, [did]).get(did)
    if cur is None:
        raise NotFound(f"deal {did} is gone")
    values: dict[str, Any] = {"title": p.title}
    values.update({k: v for k, v in p.values.items() if k != "lost_reason"})
    custom = json.loads(cur["custom"] or "{}")
    for k in p.drop:
        custom.pop(k, None)
    custom.update(p.custom)
    values["custom"] = json.dumps(custom, ensure_ascii=False, sort_keys=True)
    status = p.status or cur["status"]
    if p.pipeline.id == cur["pipeline_id"]:
        stage_id = p.stage_id or cur["stage_id"]
    elif p.pipeline_given:  # the row names another pipeline: the deal moves there
        values["pipeline_id"] = p.pipeline.id
        stage_id = p.stage_id or p.pipeline.stages[0]["id"]
    else:  # the row's stage was read against the default pipeline: not this deal's
        stage_id = cur["stage_id"]
    if status == "lost" and "lost_reason" in p.values:
        values["lost_reason"] = p.values["lost_reason"]
    moved = stage_id != cur["stage_id"] or status != cur["status"]
    if moved:
        values["stage_id"], values["status"] = stage_id, status
        if stage_id != cur["stage_id"]:
            values["stage_entered_at"] = tx.at
        if status != cur["status"]:
            values["closed_at"] = (p.closed_at or tx.at) if status != "open" else None
            if status != "lost":
                values["lost_reason"] = None
    elif status != "open" and p.closed_at:
        values["closed_at"] = p.closed_at
    changed = tx.update("deals", did, values)
    if moved:
        deals._record_move(tx, did, cur["stage_id"], stage_id, cur["status"], status)
    have = set(deal_store.tags_of(db, [did])[did])
    for t in p.tags:
        if t not in have:
            tx.insert("deal_tags", {"deal_id": did, "tag": t})
            changed = True
    if changed:
        tx.update("deals", did, {"updated_at": tx.at})
    return changed
