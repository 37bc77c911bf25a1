"""Organizations (companies): add, edit, tag, delete and list them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from crm_cli.domain import users, validate
from crm_cli.domain.contacts import _kv, _phones, delete_row, stored_value, sync_rows
from crm_cli.errors import InvalidInput, NotFound
from crm_cli.storage import orgs as store
from crm_cli.storage.db import Db, Transaction, transaction

TEXT_FIELDS = ("domain", "industry", "size", "street", "city", "region", "postal_code", "country")


@dataclass(frozen=True, slots=True)
class Org:
    id: int
    name: str
    domain: str | None
    industry: str | None
    size: str | None
    phones: tuple[dict, ...]
    tags: tuple[str, ...]
    street: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None
    owner_id: int | None
    owner: str | None
    people_count: int
    custom: dict = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "domain": self.domain,
            "industry": self.industry,
            "size": self.size,
            "phones": [dict(p) for p in self.phones],
            "tags": list(self.tags),
            "street": self.street,
            "city": self.city,
            "region": self.region,
            "postal_code": self.postal_code,
            "country": self.country,
            "owner_id": self.owner_id,
            "owner": self.owner,
            "people_count": self.people_count,
            "custom": dict(self.custom),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


JSON_KEYS = tuple(Org.__dataclass_fields__)  # the order to_dict() writes them in


def load(db: Db, rows: list[dict]) -> list[Org]:
    ids = [r["id"] for r in rows]
    phones = store.phones_of(db, ids)
    tags = store.tags_of(db, ids)
    return [
        Org(
            id=r["id"],
            name=r["name"],
            domain=r["domain"],
            industry=r["industry"],
            size=r["size"],
            phones=tuple(
                {
                    "value": p["value"],
                    "label": p["label"],
                    "primary": bool(p["is_primary"]),
                    "raw": p["raw"],
                }
                for p in phones[r["id"]]
            ),
            tags=tuple(tags[r["id"]]),
            street=r["street"],
            city=r["city"],
            region=r["region"],
            postal_code=r["postal_code"],
            country=r["country"],
            owner_id=r["owner_id"],
            owner=r["owner"],
            people_count=r["people"],
            custom=json.loads(r["custom"] or "{}"),
            created_at=r["created_at"],
            updated_at=r["updated_at"],
        )  # fmt: skip
        for r in rows
    ]


def get(db: Db, org_id: int) -> Org:
    row = store.get(db, org_id)
    if row is None:
        raise NotFound(f"no organization with id {org_id}")
    return load(db, [row])[0]


def get_many(db: Db, ids: list[int]) -> list[Org]:
    return load(db, store.get_many(db, ids))


def people(db: Db, org_id: int) -> list[dict]:
    """The organization's people: id, name, title, primary email."""
    return store.people(db, org_id)


def list_orgs(
    db: Db, filter_args: list[str] | None = None, *, sort=None, limit=None, now=None
) -> list[Org]:
    from crm_cli.domain.selectors import where_for

    where, params = where_for(filter_args, "orgs", now=now)
    return load(db, store.select(db, where, params, sort=sort, limit=limit))


def _domain(value: str | None) -> str | None:
    v = validate.text(value)
    if v is None:
        return None
    v = v.lower().removeprefix("https://").removeprefix("http://").removeprefix("www.").rstrip("/")
    if " " in v or "." not in v:
        raise InvalidInput(f"invalid domain '{value}' (like example.com)")
    return v


def add(
    db: Db,
    name: str,
    *,
    domain: str | None = None,
    phones: Iterable[str] = (),
    tags: Iterable[str] = (),
    owner: str | None = None,
    fields: Iterable[str] = (),
    **text: str | None,
) -> Org:
    """Add an organization."""
    name = validate.text(name) or ""
    if not name:
        raise InvalidInput("an organization needs a name")
    bad = set(text) - set(TEXT_FIELDS)
    if bad:
        raise TypeError(f"unknown organization fields {bad}")
    row = {k: validate.text(text.get(k)) for k in TEXT_FIELDS}
    row["domain"] = _domain(domain)
    row["name"] = name
    row["custom"] = json.dumps(_kv(fields, "field"), ensure_ascii=False, sort_keys=True)
    ph = _phones(phones)
    tg = validate.tags(tags)
    with transaction(db, f"org add {name}") as tx:
        if store.ids_by_name(db, name):
            raise InvalidInput(
                f"organization '{name}' already exists (id {store.ids_by_name(db, name)[0]})"
            )
        row["owner_id"] = users.resolve_id(db, owner) if owner else tx.actor_id
        row["created_at"] = row["updated_at"] = tx.at
        oid = tx.insert("orgs", row)
        _sync(db, tx, oid, ph, tg)
    return get(db, oid)


def _sync(db: Db, tx: Transaction, oid: int, phones, tags) -> bool:
    """Make the stored phones and tags equal these lists; return whether any changed."""
    parent = {"org_id": oid}
    want_phones = [
        {"value": v, "raw": raw, "label": label, "is_primary": int(i == 0)}
        for i, (v, raw, label) in enumerate(phones)
    ]
    tag_rows = [{"id": rid, "tag": t} for t, rid in store.tag_rows(db, oid).items()]
    changed = sync_rows(tx, "phones", parent, store.phones_of(db, [oid])[oid], want_phones, "value")
    changed |= sync_rows(tx, "org_tags", parent, tag_rows, [{"tag": t} for t in tags], "tag")
    return changed


def edit(
    db: Db,
    ids: list[int],
    *,
    name: str | None = None,
    owner: str | None = None,
    add_phones: Iterable[str] = (),
    remove_phones: Iterable[str] = (),
    add_tags: Iterable[str] = (),
    remove_tags: Iterable[str] = (),
    fields: Iterable[str] = (),
    label: str | None = None,
    **text: str | None,
) -> list[Org]:
    """Apply the same changes to these organizations as one change set; return the changed ones."""
    current = get_many(db, ids)
    if len(current) != len(set(ids)):
        raise NotFound(
            f"no organization with id {', '.join(str(i) for i in ids if i not in {o.id for o in current})}"
        )
    values: dict = {}
    if name is not None:
        if not name.strip():
            raise InvalidInput("an organization's name cannot be empty")
        if len(ids) > 1:
            raise InvalidInput("cannot give several organizations the same name")
        values["name"] = name.strip()
    for k, v in text.items():
        if k not in TEXT_FIELDS:
            raise TypeError(f"unknown organization field {k}")
        if v is not None:
            values[k] = _domain(v) if k == "domain" else validate.text(v)
    add_ph = _phones(add_phones)
    remove_phones = list(remove_phones)
    add_tg, rm_tg = validate.tags(add_tags), set(validate.tags(remove_tags))
    changed = []
    what = label or (
        "org edit " + (current[0].name if len(current) == 1 else f"{len(current)} organizations")
    )
    with transaction(db, what) as tx:
        current = get_many(
            db, ids
        )  # re-read under the write lock: never overwrite a concurrent change
        if "name" in values:
            clash = [i for i in store.ids_by_name(db, values["name"]) if i != ids[0]]
            if clash:
                raise InvalidInput(
                    f"organization '{values['name']}' already exists (id {clash[0]})"
                )
        owner_id = users.resolve_id(db, owner) if owner else None
        for o in current:
            v = dict(values)
            if owner is not None:
                v["owner_id"] = owner_id
            if fields:
                v["custom"] = json.dumps(
                    _kv(fields, "field", o.custom), ensure_ascii=False, sort_keys=True
                )
            have = [(p["value"], p["raw"] or p["value"], p["label"]) for p in o.phones]
            stored = {p[0] for p in have}
            rm_ph = {stored_value(p, stored, lambda v: validate.phone(v)[0]) for p in remove_phones}
            missing = rm_ph - stored
            if missing:
                raise InvalidInput(f"organization {o.id} has no phone {', '.join(sorted(missing))}")
            phones = [p for p in have if p[0] not in rm_ph]
            for p in add_ph:
                phones = [x for x in phones if x[0] != p[0]] + [p]
            tags = [t for t in o.tags if t not in rm_tg] + [t for t in add_tg if t not in o.tags]
            did = tx.update("orgs", o.id, v)
            did |= _sync(db, tx, o.id, phones, tags)
            if did:
                tx.update("orgs", o.id, {"updated_at": tx.at})
                changed.append(o.id)
    return get_many(db, changed)


def delete(db: Db, ids: list[int], *, cascade: bool = False) -> list[int]:
    """Delete organizations; refuse while people or other records refer to them, unless cascade."""
    with transaction(db, f"org delete {' '.join(map(str, ids))}") as tx:
        for oid in ids:
            if store.get(db, oid) is None:
                raise NotFound(f"no organization with id {oid}")
            delete_row(db, tx, "orgs", oid, cascade=cascade)
    return ids
