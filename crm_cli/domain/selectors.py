"""Turn what the user typed into records: filters, and selectors (id, email, name or filter)."""

from __future__ import annotations

import re

from crm_cli.errors import InvalidInput, NotFound
from crm_cli.storage import contacts as contact_store
from crm_cli.storage import orgs as org_store
from crm_cli.storage.db import Db

_EMAIL = re.compile(r"^[^\s@:~<>=!()\"']+@[^\s@:~<>=!()\"']+$")
# Anything with one of these is read as a filter, not a name.
_FILTER = re.compile(r"[:~<>=()]|^!|^(has|no|not)\b", re.IGNORECASE)


def _spec(entity: str):
    from crm_cli.storage import filters as compiled

    return {"contacts": compiled.CONTACT_FIELDS, "orgs": compiled.ORG_FIELDS,
            "users": compiled.USER_FIELDS, "visits": compiled.VISIT_FIELDS}[entity]  # fmt: skip


def where_for(
    args: list[str] | None, entity: str, *, now=None, db: Db | None = None
) -> tuple[str, list]:
    """Parse filter arguments (ANDed) for an entity and compile them to a WHERE fragment."""
    if not args:
        return "1", []
    from crm_cli.domain import filters
    from crm_cli.storage import filters as compiled

    spec = _spec(entity)
    node = filters.parse(list(args), compiled.filter_types(spec), now=now)
    if entity == "contacts":
        from crm_cli import config

        node = _enums(node, db)
        node = filters.scope_money(node, "spent", config.get("money.currency"))
    return compiled.compile_filter(node, spec)


def _enums(node, db: Db | None):
    """Check and normalise enum values (consent:opted-out -> opted_out, unknown stages)."""
    from crm_cli.domain import settings, validate
    from crm_cli.domain.filters import check_values

    return check_values(node, {
        "consent": validate.consent,
        "stage": lambda v: validate.stage(v, settings.stages(db)),
        # Compare like stored numbers: '600 123 456' with phone.region ES is +34600123456.
        "phone": lambda v: validate.phone(v)[0],
        "email_status": _email_status,
    })  # fmt: skip


EMAIL_STATUSES = ("ok", "deferred", "bounced", "complained")


def _email_status(value: str) -> str:
    v = value.strip().lower()
    if v not in EMAIL_STATUSES:
        raise InvalidInput(
            f"email_status must be one of {', '.join(EMAIL_STATUSES)}, not '{value}'"
        )
    return v


MAX_ID = 2**63 - 1


def as_id(text: str) -> int | None:
    """The id an all-ASCII-digits selector names, or None if it is not one."""
    if text.isascii() and text.isdigit():
        return int(text)
    return None


def looks_like_filter(text: str) -> bool:
    return bool(_FILTER.search(text.strip()))


def unquote(text: str) -> str | None:
    """The name inside a selector wrapped in matching quotes, or None if it is not quoted."""
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
        return t[1:-1]
    return None


def _listing(pairs: list[tuple[int, str]]) -> str:
    shown = ", ".join(f"{i} {n}" for i, n in pairs[:10])
    return shown + (f", … ({len(pairs) - 10} more)" if len(pairs) > 10 else "")


def contacts(db: Db, selector: str, *, many: bool = False, now=None) -> list[int]:
    """Resolve a contact selector: an id, an email, a name, or a filter.

    An id, email or name must pick exactly one contact (several: an error listing them)
    unless the selector is a filter, which may pick many when ``many`` is true.
    """
    sel = selector.strip()
    if not sel:
        raise InvalidInput("empty contact selector")
    cid = as_id(sel)
    if cid is not None:
        if cid > MAX_ID or not contact_store.exists(db, cid):
            raise NotFound(f"no contact with id {sel}")
        return [cid]
    quoted = unquote(sel)
    if quoted is not None:
        ids = contact_store.ids_by_name(db, quoted)
        what = f"name '{quoted}'"
    elif _EMAIL.match(sel):
        ids = contact_store.ids_by_email(db, sel)
        what = f"email {sel.lower()}"
    elif looks_like_filter(sel):
        try:
            where, params = where_for([sel], "contacts", now=now, db=db)
        except InvalidInput:
            # Not a valid filter: a name with parentheses or a colon, if one matches.
            named = contact_store.ids_by_name(db, sel)
            if len(named) == 1:
                return named
            raise
        ids = contact_store.ids_where(db, where, params)
        if not ids:
            raise NotFound(f"no contact matches {sel}")
        if len(ids) > 1 and not many:
            raise InvalidInput(
                f"{sel} matches {len(ids)} contacts ({_listing(contact_store.names(db, ids))}); pick one by id"
            )
        return ids
    else:
        ids = contact_store.ids_by_name(db, sel)
        what = f"name '{sel}'"
    if not ids:
        raise NotFound(f"no contact with {what}")
    if len(ids) > 1:
        raise InvalidInput(
            f"{what} matches {len(ids)} contacts ({_listing(contact_store.names(db, ids))}); use an id"
        )
    return ids


def orgs(db: Db, selector: str, *, many: bool = False, now=None) -> list[int]:
    """Resolve an organization selector: an id, a name, a domain, or a filter."""
    sel = selector.strip()
    if not sel:
        raise InvalidInput("empty organization selector")
    oid = as_id(sel.removeprefix("#"))
    if oid is not None:  # all digits (or #digits) is an id; quote a name made of digits
        if oid > MAX_ID or org_store.get(db, oid) is None:
            raise NotFound(f"no organization with id {sel.removeprefix('#')}")
        return [oid]
    quoted = unquote(sel)
    if quoted is not None:
        sel = quoted
    elif looks_like_filter(sel):
        try:
            where, params = where_for([sel], "orgs", now=now)
        except InvalidInput:
            named = org_store.ids_by_name(db, sel)
            if len(named) == 1:
                return named
            raise
        ids = org_store.ids_where(db, where, params)
        if not ids:
            raise NotFound(f"no organization matches {sel}")
        if len(ids) > 1 and not many:
            raise InvalidInput(
                f"{sel} matches {len(ids)} organizations ({_listing(org_store.names(db, ids))}); pick one by id"
            )
        return ids
    ids = org_store.ids_by_name(db, sel) or org_store.ids_by_domain(db, sel)
    if not ids:
        raise NotFound(f"no organization named '{sel}'")
    if len(ids) > 1:
        raise InvalidInput(
            f"'{sel}' matches {len(ids)} organizations ({_listing(org_store.names(db, ids))}); use an id"
        )
    return ids


def deal(db: Db, selector: str) -> int:
    """Resolve a deal selector: an id ('7' or '#7') or a title matching exactly one deal."""
    from crm_cli.storage import deals as deal_store

    sel = selector.strip()
    if not sel:
        raise InvalidInput("empty deal selector")
    did = as_id(sel.removeprefix("#"))
    if did is not None:
        if did > MAX_ID or not deal_store.exists(db, did):
            raise NotFound(f"no deal with id {sel.removeprefix('#')}")
        return did
    title = unquote(sel) or sel
    ids = deal_store.ids_by_title(db, title)
    if not ids:
        raise NotFound(f"no deal titled '{title}'")
    if len(ids) > 1:
        raise InvalidInput(
            f"'{title}' matches {len(ids)} deals ({_listing(deal_store.titles(db, ids))}); use an id"
        )
    return ids[0]


def _deal_ref(db: Db, sel: str) -> list[int]:
    return [deal(db, sel)]


def _id_only(table: str, what: str):
    def resolve(db: Db, sel: str) -> list[int]:
        from crm_cli.storage.graph import row_exists

        rid = as_id(sel.removeprefix("#"))
        if rid is None:
            raise InvalidInput(f"a {what} reference takes an id, e.g. {what}:3")
        if rid > MAX_ID or not row_exists(db, table, rid):
            raise NotFound(f"no {what} with id {rid}")
        return [rid]

    return resolve


def record_exists(db: Db, table: str, row_id: int) -> bool:
    """Whether a referenced record still exists (deleted ones keep their history)."""
    from crm_cli.storage.graph import row_exists

    return row_exists(db, table, row_id)


def reference(db: Db, ref: str) -> tuple[str, int]:
    """Resolve a typed reference such as contact:12, org:"Acme SL", deal:7 or a contact selector."""
    kind, sep, rest = ref.partition(":")
    kinds = {
        "contact": ("contacts", contacts),
        "org": ("orgs", orgs),
        "deal": ("deals", _deal_ref),
        "ticket": ("tickets", _id_only("tickets", "ticket")),
        "order": ("orders", _id_only("orders", "order")),
        "user": ("users", None),
    }
    if sep and kind in kinds:
        table, fn = kinds[kind]
        rest = rest.strip()
        rid = as_id(rest)
        if rid is not None and rid <= MAX_ID and fn is not None:
            return table, rid  # an id: deleted records keep their history
        if fn is None:
            from crm_cli.domain import users

            return table, users.resolve(db, unquote(rest) or rest).id
        return table, fn(db, rest)[0]
    return "contacts", contacts(db, ref)[0]
