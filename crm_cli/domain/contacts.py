"""Contacts (people): the rules for adding, editing, tagging, deleting and listing them."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from crm_cli.domain import settings, users, validate
from crm_cli.errors import Conflict, CrmError, InvalidInput, NotFound
from crm_cli.storage import contacts as store
from crm_cli.storage import graph
from crm_cli.storage import orgs as org_store
from crm_cli.storage.db import Db, Transaction, transaction

ADDRESS = ("street", "city", "region", "postal_code", "country")
TEXT_FIELDS = ("title", "source", *ADDRESS)


@dataclass(frozen=True, slots=True)
class Email:
    value: str
    label: str | None = None
    primary: bool = False
    status: str = "ok"
    status_at: str | None = None


@dataclass(frozen=True, slots=True)
class Phone:
    value: str
    label: str | None = None
    primary: bool = False
    raw: str | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    name: str
    first_name: str | None
    last_name: str | None
    title: str | None
    org_id: int | None
    org: str | None
    emails: tuple[Email, ...]
    phones: tuple[Phone, ...]
    tags: tuple[str, ...]
    stage: str | None
    source: str | None
    owner_id: int | None
    owner: str | None
    consent: str
    consent_at: str | None
    birthday: str | None
    street: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None
    custom: dict = field(default_factory=dict)
    social: dict = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""
    cadence_days: int | None = None
    # Derived summaries (kept current by storage): they never make two versions differ.
    last_activity_at: str | None = field(default=None, compare=False)
    activity_count: int = field(default=0, compare=False)
    order_count: int = field(default=0, compare=False)
    last_order_date: str | None = field(default=None, compare=False)
    spend_minor: int | None = field(default=None, compare=False)
    spend_currency: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape (documented in README.md)."""
        return {
            "id": self.id,
            "name": self.name,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "title": self.title,
            "org_id": self.org_id,
            "org": self.org,
            "emails": [
                {"value": e.value, "label": e.label, "primary": e.primary, "status": e.status}
                for e in self.emails
            ],
            "phones": [
                {"value": p.value, "label": p.label, "primary": p.primary, "raw": p.raw}
                for p in self.phones
            ],
            "tags": list(self.tags),
            "stage": self.stage,
            "source": self.source,
            "owner_id": self.owner_id,
            "owner": self.owner,
            "consent": self.consent,
            "consent_at": self.consent_at,
            "birthday": self.birthday,
            "street": self.street,
            "city": self.city,
            "region": self.region,
            "postal_code": self.postal_code,
            "country": self.country,
            "custom": dict(self.custom),
            "social": dict(self.social),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "cadence_days": self.cadence_days,
            "last_activity_at": self.last_activity_at,
            "activity_count": self.activity_count,
            "order_count": self.order_count,
            "last_order_date": self.last_order_date,
            "spend": _spend(self.spend_minor, self.spend_currency),
            "spend_minor": self.spend_minor,
            "spend_currency": self.spend_currency,
        }


def _spend(minor: int | None, currency: str | None) -> str | None:
    if minor is None or currency is None:
        return None
    from crm_cli.domain import money

    return money.format(minor, currency)


# The order to_dict() writes keys in.
JSON_KEYS = (*(k for k in Contact.__dataclass_fields__ if not k.startswith("spend")),
             "spend", "spend_minor", "spend_currency")  # fmt: skip

# ---------------------------------------------------------------- reading


def load(db: Db, rows: list[dict]) -> list[Contact]:
    """Build Contacts from stored rows, fetching emails, phones and tags in batches."""
    ids = [r["id"] for r in rows]
    emails = store.emails_of(db, ids)
    phones = store.phones_of(db, ids)
    tags = store.tags_of(db, ids)
    out = []
    for r in rows:
        out.append(
            Contact(
                id=r["id"],
                name=r["name"],
                first_name=r["first_name"],
                last_name=r["last_name"],
                title=r["title"],
                org_id=r["org_id"],
                org=r["org"],
                emails=tuple(
                    Email(
                        e["value"], e["label"], bool(e["is_primary"]), e["status"], e["status_at"]
                    )
                    for e in emails[r["id"]]
                ),
                phones=tuple(
                    Phone(p["value"], p["label"], bool(p["is_primary"]), p["raw"])
                    for p in phones[r["id"]]
                ),
                tags=tuple(tags[r["id"]]),
                stage=r["stage"],
                source=r["source"],
                owner_id=r["owner_id"],
                owner=r["owner"],
                consent=r["consent"],
                consent_at=r["consent_at"],
                birthday=r["birthday"],
                street=r["street"],
                city=r["city"],
                region=r["region"],
                postal_code=r["postal_code"],
                country=r["country"],
                custom=json.loads(r["custom"] or "{}"),
                social=json.loads(r["social"] or "{}"),
                created_at=r["created_at"],
                updated_at=r["updated_at"],
                cadence_days=r["cadence_days"],
                last_activity_at=r["last_activity_at"],
                activity_count=r["activity_count"],
                order_count=r["order_count"],
                last_order_date=r["last_order_date"],
                spend_minor=r["spend_minor"],
                spend_currency=r["spend_currency"],
            )
        )
    return out


def get(db: Db, contact_id: int) -> Contact:
    """Return one contact by id."""
    row = store.get(db, contact_id)
    if row is None:
        raise NotFound(f"no contact with id {contact_id}")
    return load(db, [row])[0]


def get_many(db: Db, ids: list[int]) -> list[Contact]:
    return load(db, store.get_many(db, ids))


def list_contacts(
    db: Db, filter_args: list[str] | None = None, *, sort=None, limit=None, now=None
) -> list[Contact]:
    """Return contacts matching the filter arguments (ANDed)."""
    from crm_cli.domain.selectors import where_for

    where, params = where_for(filter_args, "contacts", now=now, db=db)
    return load(db, store.select(db, where, params, sort=sort, limit=limit))


# ---------------------------------------------------------------- validation


@dataclass
class Draft:
    """A contact's complete desired state, validated and normalised."""

    row: dict
    emails: list[tuple[str, str | None]]  # (value, label), primary first
    phones: list[tuple[str, str, str | None]]  # (value, raw, label), primary first
    tags: list[str]
    org: str | None  # organization name to link (created if missing); None = no org
    owner: str | None = None  # owner name/email; None = keep / default


def split_name(name: str) -> tuple[str | None, str | None]:
    """Split 'Ana García López' into ('Ana', 'García López')."""
    parts = name.split()
    if not parts:
        return None, None
    if len(parts) == 1:
        return parts[0], None
    return parts[0], " ".join(parts[1:])


def _emails(values: Iterable[str]) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    seen = set()
    for v in values or ():
        label, addr = validate.split_label(v)
        addr = validate.email(addr)
        if addr not in seen:
            seen.add(addr)
            out.append((addr, label))
    return out


def _phones(values: Iterable[str]) -> list[tuple[str, str, str | None]]:
    out: list[tuple[str, str, str | None]] = []
    seen = set()
    for v in values or ():
        label, num = validate.split_label(v)
        value, raw = validate.phone(num)
        if value not in seen:
            seen.add(value)
            out.append((value, raw, label))
    return out


def _kv(items: Iterable[str] | dict | None, what: str, base: dict | None = None) -> dict:
    out = dict(base or {})
    if isinstance(items, dict):
        pairs = [(str(k), "" if v is None else str(v)) for k, v in items.items()]
        for k, _ in pairs:
            validate.key_value(f"{k}=x", what)
    else:
        pairs = [validate.key_value(i, what) for i in items or ()]
    for k, v in pairs:
        if v == "":
            out.pop(k, None)
        else:
            out[k] = v
    return out


def draft(
    db: Db | None,
    name: str | None = None,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    emails: Iterable[str] = (),
    phones: Iterable[str] = (),
    title: str | None = None,
    org: str | None = None,
    tags: Iterable[str] = (),
    source: str | None = None,
    owner: str | None = None,
    stage: str | None = None,
    consent: str | None = None,
    birthday: str | None = None,
    street: str | None = None,
    city: str | None = None,
    region: str | None = None,
    postal_code: str | None = None,
    country: str | None = None,
    fields: Iterable[str] | dict = (),
    social: Iterable[str] | dict = (),
    stages: list[str] | None = None,
) -> Draft:
    """Validate a new contact's values (no writes)."""
    from crm_cli.domain import dates

    em = _emails(emails)
    name = validate.text(name)
    first_name, last_name = validate.text(first_name), validate.text(last_name)
    if name is None:
        joined = " ".join(p for p in (first_name, last_name) if p)
        name = joined or (em[0][0] if em else None)
        if name is None:
            raise InvalidInput("a contact needs a name, --first/--last, or an --email")
    elif first_name is None and last_name is None:
        first_name, last_name = split_name(name)
    stages = stages if stages is not None else settings.stages(db)
    row = {
        "name": name,
        "first_name": first_name,
        "last_name": last_name,
        "title": validate.text(title),
        "source": validate.text(source),
        "street": validate.text(street),
        "city": validate.text(city),
        "region": validate.text(region),
        "postal_code": validate.text(postal_code),
        "country": validate.text(country),
        "stage": validate.stage(stage, stages) if stage else (stages[0] if stages else None),
        "consent": validate.consent(consent) if consent else "unknown",
        "birthday": dates.parse_birthday(birthday) if birthday else None,
        "custom": json.dumps(_kv(fields, "field"), ensure_ascii=False, sort_keys=True),
        "social": json.dumps(_kv(social, "social"), ensure_ascii=False, sort_keys=True),
    }
    return Draft(
        row=row,
        emails=em,
        phones=_phones(phones),
        tags=validate.tags(tags),
        org=validate.text(org),
        owner=validate.text(owner),
    )


# ---------------------------------------------------------------- writing


def _resolve_org(db: Db, tx: Transaction, name: str) -> int:
    """Find the organization by name (case-insensitive), creating it when there is none."""
    ids = org_store.ids_by_name(db, name)
    if len(ids) > 1:
        listing = ", ".join(f"{i} {n}" for i, n in org_store.names(db, ids))
        raise InvalidInput(
            f"organization name '{name}' matches {len(ids)} organizations ({listing}); use its id"
        )
    if ids:
        return ids[0]
    row = {
        "name": name,
        "owner_id": tx.actor_id,
        "custom": "{}",
        "created_at": tx.at,
        "updated_at": tx.at,
    }
    return tx.insert("orgs", row)


def _org_id_ref(org: str) -> int | None:
    """The id in '#12', or in '12' (all ASCII digits); None for a name."""
    digits = org[1:] if org.startswith("#") else org
    if digits.isascii() and digits.isdigit() and len(digits) < 19:
        return int(digits)
    return None


def _org_ref(db: Db, tx: Transaction, org: str | None) -> int | None:
    """An org given as '12' or '#12' (an id), a name, or a quoted name ('"3M"', '"1"')."""
    if org is None:
        return None
    from crm_cli.domain.selectors import unquote

    quoted = unquote(org)
    if quoted is not None:
        return _resolve_org(db, tx, quoted)
    oid = _org_id_ref(org)
    if oid is not None:
        if org_store.get(db, oid) is None:
            raise NotFound(f"no organization with id {oid}")
        return oid
    return _resolve_org(db, tx, org)


def _insert_children(tx: Transaction, cid: int, d: Draft) -> None:
    for i, (value, label) in enumerate(d.emails):
        tx.insert(
            "emails", {"contact_id": cid, "value": value, "label": label, "is_primary": int(i == 0)}
        )
    for i, (value, raw, label) in enumerate(d.phones):
        tx.insert(
            "phones",
            {
                "contact_id": cid,
                "value": value,
                "raw": raw,
                "label": label,
                "is_primary": int(i == 0),
            },
        )
    for t in d.tags:
        tx.insert("contact_tags", {"contact_id": cid, "tag": t})


def add(db: Db, name: str | None = None, **values) -> Contact:
    """Add a contact (and its organization when --org names a new one) as one change set."""
    d = draft(db, name, **values)
    with transaction(db, f"contact add {d.row['name']}") as tx:
        cid = _write_new(db, tx, d)
    return get(db, cid)


def _write_new(db: Db, tx: Transaction, d: Draft) -> int:
    row = dict(d.row)
    row["org_id"] = _org_ref(db, tx, d.org)
    row["owner_id"] = users.resolve_id(db, d.owner) if d.owner else tx.actor_id
    if row["consent"] != "unknown":
        row["consent_at"] = tx.at
    row["created_at"] = row["updated_at"] = tx.at
    cid = tx.insert("contacts", row)
    _insert_children(tx, cid, d)
    return cid


def _bulk_orgs(db: Db, tx: Transaction, drafts: list[Draft]) -> dict[str, int]:
    """Resolve every organization name the drafts name, creating the missing ones at once."""
    wanted: dict[str, str] = {}
    by_id: set[str] = set()
    from crm_cli.domain.selectors import unquote

    for d in drafts:
        if d.org is not None:
            if unquote(d.org) is not None:
                d.org = unquote(d.org)
                wanted.setdefault(d.org.casefold(), d.org)
            elif _org_id_ref(d.org) is None:
                wanted.setdefault(d.org.casefold(), d.org)
            else:
                by_id.add(d.org)
    for ref in sorted(by_id):
        _org_ref(db, tx, ref)  # NotFound for an unknown id, before anything is written
    found: dict[str, list[int]] = {}
    for oid, name in org_store.ids_by_names(db, list(wanted.values())):
        found.setdefault(name.casefold(), []).append(oid)
    out: dict[str, int] = {}
    for key, ids in found.items():
        if len(ids) > 1:
            listing = ", ".join(f"{i} {n}" for i, n in org_store.names(db, ids))
            raise InvalidInput(
                f"organization name '{wanted[key]}' matches {len(ids)} organizations ({listing})"
            )
        out[key] = ids[0]
    missing = [name for key, name in wanted.items() if key not in out]
    rows = [{"name": n, "owner_id": tx.actor_id, "custom": "{}", "created_at": tx.at, "updated_at": tx.at}
            for n in missing]  # fmt: skip
    for name, oid in zip(missing, tx.insert_many("orgs", rows)):
        out[name.casefold()] = oid
    return out


def _drafts(
    records: list, stages: list[str], first: int, positions: list[str] | None = None
) -> list[Draft]:
    """Validate records into drafts; errors name ``positions[i]`` or 'record N' (from ``first``)."""
    from crm_cli.domain import dates

    tz, now = dates.local_tz(), dates.now()
    out = []
    for i, rec in enumerate(records):
        try:
            kwargs, created = record_kwargs(rec)
            d = draft(None, kwargs.pop("name", None), stages=stages, **kwargs)
            if created:
                d.row["created_at"] = dates.to_db(dates.parse_when(created, now=now, tz=tz))
        except InvalidInput as e:
            where = positions[i] if positions else f"record {first + i}"
            raise InvalidInput(f"{where}: {e}") from None
        out.append(d)
    return out


def _drafts_chunk(args: tuple) -> list[Draft]:
    return _drafts(*args)


def _drafts_parallel(
    records: list, stages: list[str], chunk: int = 2000, positions: list[str] | None = None
) -> list[Draft]:
    """Validate on every core: email and phone checks cost more than writing the rows.

    Chunks keep their order; the first bad record (lowest number) is the one reported.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    parts = [
        (records[i : i + chunk], stages, i + 1, positions[i : i + chunk] if positions else None)
        for i in range(0, len(records), chunk)
    ]
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=os.cpu_count(), mp_context=ctx) as pool:
        out: list[Draft] = []
        for drafts in pool.map(_drafts_chunk, parts):  # re-raises the first chunk's error in order
            out += drafts
    return out


def add_many(
    db: Db,
    records: Iterable[dict],
    *,
    label: str = "contact add (bulk)",
    batch: int = 5000,
    parallel_from: int = 20000,
    positions: list[str] | None = None,
) -> list[int]:
    """Add many contacts in one change set, validating every record before writing any.

    Records use the keyword names of ``draft`` (name, emails, phones, tags, org, ...),
    plus ``created_at`` to keep the creation time a record had in another system.
    A bad record raises InvalidInput naming its position; nothing is written then.
    Writing commits in batches (other writers get turns) under one change set.
    From ``parallel_from`` records on, validation runs in worker processes.
    """
    stages = settings.stages(db)
    records = list(records)
    if len(records) >= parallel_from and (os.cpu_count() or 1) > 1:
        drafts = _drafts_parallel(records, stages, positions=positions)
    else:
        drafts = _drafts(records, stages, 1, positions)
    ids: list[int] = []
    set_id = None
    try:
        with transaction(db, label) as tx:
            set_id = tx.set_id
            # Resolve every owner and organization before the first batch commits: an
            # unknown one fails the whole add with nothing written.
            owners = _bulk_owners(db, drafts)
            orgs = _bulk_orgs(db, tx, drafts)
            for start in range(0, len(drafts), batch):
                ids += write_drafts(db, tx, drafts[start : start + batch], owners, orgs)
                tx.checkpoint()
    except CrmError as e:
        if ids:
            raise type(e)(
                f"{e}; stopped after {len(ids)} contacts, which change set {set_id} keeps"
                f" ('crm undo {set_id}' removes them)"
            ) from None
        raise
    return ids


def _bulk_owners(db: Db, drafts: list[Draft]) -> dict[str, int]:
    return {o: users.resolve_id(db, o) for o in {d.owner for d in drafts if d.owner}}


def write_drafts(
    db: Db,
    tx: Transaction,
    drafts: list[Draft],
    owners: dict[str, int] | None = None,
    orgs: dict[str, int] | None = None,
) -> list[int]:
    """Insert validated drafts with their emails, phones and tags; return the new ids.

    ``owners`` and ``orgs`` are what ``_bulk_owners`` / ``_bulk_orgs`` resolved for these
    drafts (resolved here when not given).
    """
    owners = _bulk_owners(db, drafts) if owners is None else owners
    orgs = _bulk_orgs(db, tx, drafts) if orgs is None else orgs
    rows = []
    for d in drafts:
        row = dict(d.row)
        if d.org is None:
            row["org_id"] = None
        elif _org_id_ref(d.org) is not None:
            row["org_id"] = _org_ref(db, tx, d.org)
        else:
            row["org_id"] = orgs[d.org.casefold()]
        row["owner_id"] = owners[d.owner] if d.owner else tx.actor_id
        row["consent_at"] = tx.at if row["consent"] != "unknown" else None
        row.setdefault("created_at", tx.at)
        row["updated_at"] = tx.at
        rows.append(row)
    new_ids = tx.insert_many("contacts", rows)
    emails, phones, tags = [], [], []
    for cid, d in zip(new_ids, drafts):
        emails += [
            {"contact_id": cid, "value": v, "label": lab, "is_primary": int(i == 0),
             "status": "ok", "status_at": None}
            for i, (v, lab) in enumerate(d.emails)
        ]  # fmt: skip
        phones += [
            {"contact_id": cid, "org_id": None, "value": v, "raw": raw, "label": lab,
             "is_primary": int(i == 0)}
            for i, (v, raw, lab) in enumerate(d.phones)
        ]  # fmt: skip
        tags += [{"contact_id": cid, "tag": t} for t in d.tags]
    tx.insert_many("emails", emails)
    tx.insert_many("phones", phones)
    tx.insert_many("contact_tags", tags)
    return new_ids


_SCALARS = ("name", "first_name", "last_name", "title", "org", "source", "owner", "stage",
            "consent", "birthday", "street", "city", "region", "postal_code", "country")  # fmt: skip
# Keys of our own JSON output that a re-import ignores (they are assigned here).
_IGNORED = ("id", "org_id", "owner_id", "consent_at", "updated_at", "cadence_days",
            "last_activity_at", "activity_count", "order_count", "last_order_date", "spend",
            "spend_minor", "spend_currency")  # fmt: skip


def _scalar(key: str, v) -> str | None:
    if v is None or isinstance(v, str):
        return v
    if key == "postal_code" and isinstance(v, int) and not isinstance(v, bool):
        return str(v)  # spreadsheets export postal codes as numbers
    raise InvalidInput(f"'{key}' must be a string, not {type(v).__name__}")


def _items(key: str, v) -> list[str]:
    """A list of strings or of {value, label} objects (the shape --json prints)."""
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if not isinstance(v, list):
        raise InvalidInput(f"'{key}' must be a list")
    out = []
    for x in v:
        if isinstance(x, dict) and isinstance(x.get("value"), str):
            label = x.get("label")
            if label is not None and not isinstance(label, str):
                raise InvalidInput(f"'{key}' labels must be strings")
            # A phone keeps how it was written ("raw"), so a round trip loses nothing.
            value = x["raw"] if isinstance(x.get("raw"), str) and x["raw"].strip() else x["value"]
            out.append(f"{label}={value}" if label else value)
        elif isinstance(x, str | int) and not isinstance(x, bool):
            out.append(str(x))
        else:
            raise InvalidInput(f"'{key}' must hold strings or {{value, label}} objects")
    return out


def _mapping(key: str, v) -> dict[str, str]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise InvalidInput(f"'{key}' must be an object")
    out = {}
    for k, x in v.items():
        if isinstance(x, bool):
            out[k] = "true" if x else "false"
        elif x is None or isinstance(x, str | int | float):
            out[k] = "" if x is None else str(x)
        else:
            raise InvalidInput(f"'{key}.{k}' must be a string or a number")
    return out


def record_kwargs(rec) -> tuple[dict, str | None]:
    """Check one input record's shape and turn it into ``draft`` keywords and created_at.

    Accepts what ``crm contact list --ndjson`` prints, so output can be fed back in.
    """
    if not isinstance(rec, dict):
        raise InvalidInput(f"expected a JSON object, not {type(rec).__name__}")
    unknown = set(rec) - {*_SCALARS, *_IGNORED, "emails", "phones", "tags", "fields", "custom",
                          "social", "created_at"}  # fmt: skip
    if unknown:
        raise InvalidInput(f"unknown key {', '.join(sorted(map(repr, unknown)))}")
    kw: dict = {k: _scalar(k, rec[k]) for k in _SCALARS if k in rec}
    kw["emails"] = _items("emails", rec.get("emails"))
    kw["phones"] = _items("phones", rec.get("phones"))
    tags = rec.get("tags")
    kw["tags"] = [tags] if isinstance(tags, str) else _items("tags", tags)
    kw["fields"] = {
        **_mapping("custom", rec.get("custom")),
        **_mapping("fields", rec.get("fields")),
    }
    kw["social"] = _mapping("social", rec.get("social"))
    created = _scalar("created_at", rec.get("created_at"))
    return kw, created


def _current_draft(c: Contact) -> Draft:
    row = {
        "name": c.name,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "title": c.title,
        "source": c.source,
        "street": c.street,
        "city": c.city,
        "region": c.region,
        "postal_code": c.postal_code,
        "country": c.country,
        "stage": c.stage,
        "consent": c.consent,
        "birthday": c.birthday,
        "custom": json.dumps(c.custom, ensure_ascii=False, sort_keys=True),
        "social": json.dumps(c.social, ensure_ascii=False, sort_keys=True),
    }
    return Draft(
        row=row,
        emails=[(e.value, e.label) for e in c.emails],
        phones=[(p.value, p.raw or p.value, p.label) for p in c.phones],
        tags=list(c.tags),
        org=c.org,
        owner=c.owner,
    )


def sync_rows(
    tx: Transaction, table: str, parent: dict, have: list[dict], want: list[dict], match: str
) -> bool:
    """Make a record's child rows (emails, phones, tags) equal ``want``; return whether any changed.

    Rows are matched on the ``match`` column: missing ones are deleted, new ones inserted with
    the ``parent`` key (e.g. {"contact_id": 7}), kept ones updated to the wanted values.
    """
    changed = False
    by_value = {r[match]: r for r in have}
    wanted = {w[match] for w in want}
    for value, row in by_value.items():
        if value not in wanted:
            tx.delete(table, row["id"])
            changed = True
    for w in want:
        row = by_value.get(w[match])
        if row is None:
            tx.insert(table, {**parent, **w})
            changed = True
        else:
            changed |= tx.update(table, row["id"], {k: v for k, v in w.items() if k != match})
    return changed


def _sync_children(db: Db, tx: Transaction, c: Contact, d: Draft) -> bool:
    """Make the stored emails, phones and tags equal the draft's; return whether any changed."""
    parent = {"contact_id": c.id}
    emails = [
        {"value": v, "label": label, "is_primary": int(i == 0)}
        for i, (v, label) in enumerate(d.emails)
    ]
    phones = [
        {"value": v, "raw": raw, "label": label, "is_primary": int(i == 0)}
        for i, (v, raw, label) in enumerate(d.phones)
    ]
    tag_rows = [{"id": rid, "tag": t} for t, rid in store.tag_rows(db, c.id).items()]
    changed = sync_rows(tx, "emails", parent, store.emails_of(db, [c.id])[c.id], emails, "value")
    changed |= sync_rows(tx, "phones", parent, store.phones_of(db, [c.id])[c.id], phones, "value")
    changed |= sync_rows(tx, "contact_tags", parent, tag_rows, [{"tag": t} for t in d.tags], "tag")
    return changed


def _write_draft(db: Db, tx: Transaction, c: Contact, d: Draft) -> bool:
    values = dict(d.row)
    values["org_id"] = _org_ref(db, tx, d.org) if d.org != c.org else c.org_id
    if d.owner != c.owner:
        values["owner_id"] = users.resolve_id(db, d.owner) if d.owner else None
    if values.get("consent") != c.consent:
        values["consent_at"] = tx.at
    changed = tx.update("contacts", c.id, values)
    changed |= _sync_children(db, tx, c, d)
    if changed:
        tx.update("contacts", c.id, {"updated_at": tx.at})
    return changed


@dataclass
class Edit:
    """Changes given on the command line; None means leave as is, '' clears."""

    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    org: str | None = None
    add_emails: list[str] = field(default_factory=list)
    remove_emails: list[str] = field(default_factory=list)
    add_phones: list[str] = field(default_factory=list)
    remove_phones: list[str] = field(default_factory=list)
    add_tags: list[str] = field(default_factory=list)
    remove_tags: list[str] = field(default_factory=list)
    source: str | None = None
    owner: str | None = None
    stage: str | None = None
    consent: str | None = None
    birthday: str | None = None
    street: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    fields: list[str] = field(default_factory=list)
    social: list[str] = field(default_factory=list)
    email_status: list[str] = field(default_factory=list)  # ADDRESS=ok|deferred|bounced|complained

    def is_empty(self) -> bool:
        return all(v is None or v == [] for v in self.__dict__.values())


def stored_value(text: str, stored: set[str], normalise) -> str:
    """The stored email or phone a --remove-… option names: the value exactly as stored
    when it is one (so a value that would not validate today -- an old import, a phone
    read with another phone.region -- can still be removed), else its normalised form."""
    value = validate.split_label(text)[1]
    if value in stored:
        return value
    whole = validate.clean(text).strip()
    if whole in stored:  # a stored value that looks like LABEL=…
        return whole
    return normalise(value)


def _apply_edit(db: Db, c: Contact, e: Edit, stages: list[str]) -> Draft:
    from crm_cli.domain import dates

    d = _current_draft(c)
    row = d.row
    if e.name is not None:
        name = validate.text(e.name)
        if name is None:
            raise InvalidInput("a contact's name cannot be empty")
        row["name"] = name
        # Split the new name, then let --first / --last override their half.
        row["first_name"], row["last_name"] = split_name(name)
    if e.first_name is not None:
        row["first_name"] = validate.text(e.first_name)
    if e.last_name is not None:
        row["last_name"] = validate.text(e.last_name)
    if e.name is None and (e.first_name is not None or e.last_name is not None):
        joined = " ".join(p for p in (row["first_name"], row["last_name"]) if p)
        if joined:
            row["name"] = joined
    for k in TEXT_FIELDS:
        v = getattr(e, k)
        if v is not None:
            row[k] = validate.text(v)
    if e.stage is not None:
        row["stage"] = validate.stage(e.stage, stages) if e.stage.strip() else None
    if e.consent is not None:
        row["consent"] = validate.consent(e.consent)
    if e.birthday is not None:
        row["birthday"] = dates.parse_birthday(e.birthday) if e.birthday.strip() else None
    if e.fields:
        row["custom"] = json.dumps(
            _kv(e.fields, "field", c.custom), ensure_ascii=False, sort_keys=True
        )
    if e.social:
        row["social"] = json.dumps(
            _kv(e.social, "social", c.social), ensure_ascii=False, sort_keys=True
        )
    if e.org is not None:
        d.org = validate.text(e.org)
    if e.owner is not None:
        d.owner = validate.text(e.owner)
    have = {v for v, _ in d.emails}
    remove = {stored_value(x, have, validate.email) for x in e.remove_emails}
    missing = remove - have
    if missing:
        raise InvalidInput(f"contact {c.id} has no email {', '.join(sorted(missing))}")
    d.emails = [x for x in d.emails if x[0] not in remove]
    for v, label in _emails(e.add_emails):
        # Re-adding an address keeps its place (and primary flag); a new label replaces the old.
        if any(x[0] == v for x in d.emails):
            d.emails = [(x[0], label or x[1]) if x[0] == v else x for x in d.emails]
        else:
            d.emails.append((v, label))
    if e.remove_phones:
        have_p = {v for v, _, _ in d.phones}
        remove_p = {
            stored_value(x, have_p, lambda v: validate.phone(v)[0]) for x in e.remove_phones
        }
        missing = remove_p - have_p
        if missing:
            raise InvalidInput(f"contact {c.id} has no phone {', '.join(sorted(missing))}")
        d.phones = [x for x in d.phones if x[0] not in remove_p]
    for v, raw, label in _phones(e.add_phones):
        if any(x[0] == v for x in d.phones):
            d.phones = [(x[0], x[1], label or x[2]) if x[0] == v else x for x in d.phones]
        else:
            d.phones.append((v, raw, label))
    drop = set(validate.tags(e.remove_tags))
    d.tags = [t for t in d.tags if t not in drop]
    d.tags += [t for t in validate.tags(e.add_tags) if t not in d.tags]
    return d


def edit(db: Db, ids: list[int], e: Edit, *, label: str | None = None) -> list[Contact]:
    """Apply the same edit to these contacts as one change set; return the changed ones."""
    stages = settings.stages(db)
    names = store.names(db, ids)
    what = label or ("contact edit " + (names[0][1] if len(names) == 1 else f"{len(ids)} contacts"))
    changed = []
    with transaction(db, what) as tx:
        # Read under the write lock, so a concurrent command's change is never overwritten.
        current = get_many(db, ids)
        if len(current) != len(set(ids)):
            found = {c.id for c in current}
            raise NotFound(f"no contact with id {', '.join(str(i) for i in ids if i not in found)}")
        statuses = _email_statuses(e.email_status)
        for c in current:
            wrote = _write_draft(db, tx, c, _apply_edit(db, c, e, stages))
            if _set_email_statuses(db, tx, c, statuses) or wrote:
                changed.append(c.id)
    return get_many(db, changed)


EMAIL_STATUSES = ("ok", "deferred", "bounced", "complained")


def _email_statuses(items: list[str]) -> dict[str, str]:
    """--email-status ADDRESS=STATUS items as {address: status}."""
    out = {}
    for item in items:
        addr, sep, status = item.rpartition("=")
        status = status.strip().lower()
        if not sep or not addr.strip() or status not in EMAIL_STATUSES:
            raise InvalidInput(
                f"--email-status takes ADDRESS=STATUS with STATUS one of "
                f"{', '.join(EMAIL_STATUSES)}, not {item!r}"
            )
        out[addr.strip()] = status
    return out


def _set_email_statuses(db: Db, tx: Transaction, c: Contact, statuses: dict[str, str]) -> bool:
    """Set the delivery status of addresses by hand (a bounce that was not one, a complaint
    withdrawn); the change log keeps what it was."""
    if not statuses:
        return False
    rows = {r["value"].casefold(): r for r in store.emails_of(db, [c.id])[c.id]}
    changed = False
    for addr, status in statuses.items():
        row = rows.get(addr.casefold())
        if row is None:
            raise InvalidInput(f"contact {c.id} has no email {addr}")
        if row["status"] != status:
            changed |= tx.update("emails", row["id"], {
                "status": status, "status_at": tx.at, "status_reason": "set by hand",
            })  # fmt: skip
    return changed


def tag(db: Db, ids: list[int], tags: list[str], *, remove: bool = False) -> list[Contact]:
    """Add (or remove) tags on these contacts as one change set."""
    clean = validate.tags(tags)
    if not clean:
        raise InvalidInput("give at least one tag")
    e = Edit(remove_tags=clean) if remove else Edit(add_tags=clean)
    verb = "untag" if remove else "tag"
    return edit(db, ids, e, label=f"contact {verb} {' '.join(clean)}")


# ---------------------------------------------------------------- TOML editing

EDITABLE = ("name", "first_name", "last_name", "title", "org", "stage", "source", "owner", "consent",
            "birthday", *ADDRESS)  # fmt: skip


def to_editable(c: Contact) -> dict:
    """The contact as a plain document for $EDITOR (TOML); ids and timestamps are not editable."""
    doc: dict[str, Any] = {}
    for k in EDITABLE:
        doc[k] = getattr(c, k) or ""
    doc["tags"] = list(c.tags)
    doc["emails"] = [{"value": e.value, "label": e.label or ""} for e in c.emails]
    # The stored value (E.164 when it parsed), so saving never re-parses it differently.
    doc["phones"] = [{"value": p.value, "label": p.label or ""} for p in c.phones]
    doc["custom"] = dict(c.custom)
    doc["social"] = dict(c.social)
    return doc


def replace_from_editable(
    db: Db, contact_id: int, doc: dict, base: Contact | None = None
) -> Contact | None:
    """Validate an edited document and make the contact equal it; None when nothing changed.

    ``base`` is the contact as it was when the document was made: if it has changed
    since (another command, another user), nothing is applied and Conflict is raised.
    """
    c = get(db, contact_id)
    unknown = set(doc) - {*EDITABLE, "tags", "emails", "phones", "custom", "social"}
    if unknown:
        raise InvalidInput(f"unknown key(s) {', '.join(sorted(unknown))}")

    def s(key):
        v = doc.get(key, "")
        if not isinstance(v, str):
            raise InvalidInput(f"'{key}' must be a string")
        return v

    def items(key):
        v = doc.get(key, [])
        if not isinstance(v, list) or not all(
            isinstance(x, dict) and isinstance(x.get("value"), str) for x in v
        ):
            raise InvalidInput(f"'{key}' must be a list of tables with a 'value'")
        return [(f"{x['label']}={x['value']}" if x.get("label") else x["value"]) for x in v]

    def mapping(key):
        v = doc.get(key, {})
        if not isinstance(v, dict):
            raise InvalidInput(f"'{key}' must be a table")
        return v

    tags = doc.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidInput("'tags' must be a list of strings")
    name = s("name")
    if not name.strip():
        raise InvalidInput("a contact's name cannot be empty")
    d = draft(
        db, name, first_name=s("first_name") or None, last_name=s("last_name") or None,
        emails=items("emails"), phones=items("phones"), title=s("title"), org=s("org") or None,
        tags=tags, source=s("source"), owner=s("owner") or None, stage=s("stage") or None,
        consent=s("consent") or None, birthday=s("birthday") or None, street=s("street"),
        city=s("city"), region=s("region"), postal_code=s("postal_code"), country=s("country"),
        fields=mapping("custom"), social=mapping("social"),
    )  # fmt: skip
    if not s("stage"):
        d.row["stage"] = None
    if not (s("first_name") or s("last_name")):
        d.row["first_name"] = d.row["last_name"] = None
    with transaction(db, f"contact edit {c.name}") as tx:
        c = get(db, contact_id)
        if base is not None and c != base:
            raise Conflict(
                f"contact {contact_id} was changed by another command while you edited it"
            )
        changed = _write_draft(db, tx, c, d)
    return get(db, contact_id) if changed else None


# ---------------------------------------------------------------- deleting


def delete(db: Db, ids: list[int], *, cascade: bool = False) -> list[int]:
    """Delete contacts with their emails, phones and tags; refuse if others refer to them."""
    with transaction(db, f"contact delete {' '.join(map(str, ids))}") as tx:
        for cid in ids:
            if not store.exists(db, cid):
                raise NotFound(f"no contact with id {cid}")
            delete_row(db, tx, "contacts", cid, cascade=cascade)
    return ids


def delete_row(
    db: Db, tx: Transaction, table: str, row_id: int, *, cascade: bool, _orphans: set | None = None
) -> None:
    """Delete a row, its owned rows and (with cascade) the rows referring to it, all logged.

    With cascade, references in ``graph.DETACH`` are cleared instead (a deal loses its
    contact but stays), and an activity left attached to nothing (no participant, no
    organization, deal or ticket) goes too.
    """
    top = _orphans is None
    orphans: set[int] = set() if _orphans is None else _orphans
    refs = graph.referrers(db, table, row_id)
    if refs and not cascade:
        what = "; ".join(f"{len(ids)} {t} ({col})" for t, col, ids in refs)
        unlink = [t for t, col, _ in refs if (t, col) in graph.DETACH]
        plan = "delete them too" if not unlink else (
            f"unlink the {' and '.join(sorted(set(unlink)))} and delete the rest")  # fmt: skip
        raise InvalidInput(
            f"{table[:-1]} {row_id} is referred to by {what}: use --cascade to {plan}"
        )
    for t, col, ids in refs:
        for rid in ids:
            if (t, col) in graph.DETACH:
                tx.update(t, rid, {col: None})
                if t == "activities":
                    orphans.add(rid)
            elif t == "activity_participants":
                gone = tx.delete(t, rid)
                if gone is not None:
                    orphans.add(gone["activity_id"])
            else:
                delete_row(db, tx, t, rid, cascade=True, _orphans=orphans)
    for t, rid in graph.owned_rows(db, table, row_id):
        tx.delete(t, rid)
    tx.delete(table, row_id)
    if top and orphans:
        from crm_cli.domain import activities

        activities.drop_orphans(db, tx, orphans)
