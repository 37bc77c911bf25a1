"""Segments: named, saved contact filters, evaluated afresh each time they are used.

A segment stores its filter as one text in the filter language, exactly as typed (the
arguments joined by ``filters.join``): ``last_activity<-90d`` keeps meaning "in the last
90 days from now", whenever the segment is read. Campaigns build on ``member_ids``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_cli.domain import validate
from crm_cli.errors import Conflict, CrmError, InvalidInput, NotFound
from crm_cli.storage import segments as store
from crm_cli.storage.db import Db, transaction


@dataclass(frozen=True, slots=True)
class Segment:
    id: int
    name: str
    filter: str
    description: str | None
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape (documented in README.md)."""
        return {
            "id": self.id,
            "name": self.name,
            "filter": self.filter,
            "description": self.description,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def _segment(row: dict) -> Segment:
    return Segment(**{f: row[f] for f in Segment.__dataclass_fields__})


def _id(text: str) -> int | None:
    t = text[1:] if text.startswith("#") else text
    return int(t) if t.isascii() and t.isdigit() else None


def get(db: Db, name_or_id: str) -> Segment:
    """One segment by name (ignoring case) or id (``12`` or ``#12``)."""
    text = str(name_or_id).strip()
    sid = _id(text)
    if sid is not None:
        row = store.get(db, sid) if sid < 2**63 else None
        if row is None:
            raise NotFound(f"no segment with id {sid}")
        return _segment(row)
    rows = store.find(db, text)
    if not rows:
        raise NotFound(f"no segment '{text}'")
    return _segment(rows[0])


def list_segments(db: Db) -> list[Segment]:
    """Every segment, by name."""
    return [_segment(r) for r in store.list_segments(db)]


def _name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("a segment needs a name")
    n = validate.clean(name).strip()  # one line: control characters are refused
    if _id(n) is not None:
        raise InvalidInput(f"a segment name cannot be a number ('{n}' would read as an id)")
    return n


def _filter(db: Db, filter_args: list[str] | tuple[str, ...], now: datetime | None) -> str:
    """Check the arguments parse and compile, and return them as one stored text."""
    from crm_cli.domain import filters
    from crm_cli.domain.selectors import where_for

    if isinstance(filter_args, str):
        filter_args = [filter_args]
    if any(not isinstance(a, str) for a in filter_args):
        raise InvalidInput("a filter must be text")
    args = [a for a in filter_args if a.strip()]
    if not args:
        raise InvalidInput("a segment needs a filter, e.g. tag:vip 'last_activity<-90d'")
    where_for(args, "contacts", now=now, db=db)  # InvalidInput with the parser's message
    return filters.join(args)


def _check_unique(db: Db, name: str, own_id: int | None = None) -> None:
    other = [r for r in store.find(db, name) if r["id"] != own_id]
    if other:
        raise Conflict(f"segment '{other[0]['name']}' already exists (id {other[0]['id']})")


def add(
    db: Db,
    name: str,
    filter_args: list[str],
    *,
    description: str | None = None,
    now: datetime | None = None,
) -> Segment:
    """Save a filter over contacts under a name."""
    name = _name(name)
    text = _filter(db, filter_args, now)
    desc = validate.body(description)
    with transaction(db, f"segment add {name}") as tx:
        _check_unique(db, name)
        sid = tx.insert(
            "segments",
            {"name": name, "filter": text, "description": desc,
             "created_at": tx.at, "updated_at": tx.at},
        )  # fmt: skip
    return _segment(store.get(db, sid))


def edit(
    db: Db,
    name: str,
    *,
    filter_args: list[str] | None = None,
    description: str | None = None,
    new_name: str | None = None,
    now: datetime | None = None,
) -> Segment:
    """Change a segment's filter, description ('' clears) or name."""
    seg = get(db, name)
    values: dict[str, Any] = {}
    if new_name is not None:
        values["name"] = _name(new_name)
    if filter_args is not None:
        values["filter"] = _filter(db, filter_args, now)
    if description is not None:
        values["description"] = validate.body(description)
    if not values:
        raise InvalidInput("nothing to change: give a filter, --name or --description")
    with transaction(db, f"segment edit {seg.name}") as tx:
        if "name" in values:
            _check_unique(db, values["name"], seg.id)
        if tx.update("segments", seg.id, values):
            tx.update("segments", seg.id, {"updated_at": tx.at})
    return _segment(store.get(db, seg.id))


def delete(db: Db, name: str) -> int:
    """Delete a segment no campaign uses; return its id (``crm undo`` brings it back)."""
    seg = get(db, name)
    with transaction(db, f"segment delete {seg.name}") as tx:
        used = store.campaigns_using(db, seg.id)
        if used:
            more = f" and {len(used) - 1} more" if len(used) > 1 else ""
            raise Conflict(f"segment '{seg.name}' is used by campaign '{used[0]}'{more}")
        tx.delete("segments", seg.id)
    return seg.id


def _where(db: Db, segment: Segment | str, now: datetime | None) -> tuple[str, list]:
    from crm_cli.domain.selectors import where_for

    seg = segment if isinstance(segment, Segment) else get(db, segment)
    try:
        return where_for([seg.filter], "contacts", now=now, db=db)
    except CrmError as e:
        # A filter valid when saved can stop being so (a stage removed from the config).
        raise type(e)(f"segment '{seg.name}': {e.message}") from None


def member_ids(db: Db, segment: Segment | str, *, now: datetime | None = None) -> list[int]:
    """The ids of the contacts the segment's filter matches now, in id order."""
    where, params = _where(db, segment, now)
    from crm_cli.storage import contacts as contact_store

    return contact_store.ids_where(db, where, params)


def members(
    db: Db,
    segment: Segment | str,
    *,
    sort: list[tuple[str, bool]] | None = None,
    limit: int | None = None,
    now: datetime | None = None,
):
    """The contacts the segment's filter matches now (``contacts.Contact``), like a contact list."""
    from crm_cli.domain import contacts
    from crm_cli.storage import contacts as contact_store

    where, params = _where(db, segment, now)
    return contacts.load(db, contact_store.select(db, where, params, sort=sort, limit=limit))


def count(db: Db, segment: Segment | str, *, now: datetime | None = None) -> int:
    """How many contacts the segment's filter matches now."""
    where, params = _where(db, segment, now)
    return store.count_contacts(db, where, params)
