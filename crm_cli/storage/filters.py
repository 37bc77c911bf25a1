"""Compile filter trees (``crm_cli.query``) to parameterised SQL WHERE fragments.

Each entity declares its filterable fields as ``FieldSql`` entries: fixed SQL written
here, against table aliases ``c`` (contacts) and ``o`` (orgs). User values only ever
travel as ``?`` parameters; the SQL text is built from these fixed expressions alone.

Semantics (``E`` is the field's expression):

- text/enum ``=`` is ``E = ? COLLATE NOCASE``; ``!=`` also matches a missing value;
  ``~`` is ``instr(crm_fold(E), fold(v)) > 0`` (case and accents folded), ``!~`` its
  opposite, again matching a missing value.
- number/money compare directly (money in minor units); bool treats NULL as false.
- instants and dates hold a ``(start, end)`` span: ``:`` is ``start <= E < end``, ``>``
  is ``E >= end``, ``>=`` is ``E >= start``, ``<`` is ``E < start``, ``<=`` is
  ``E < end``; a zero-width span (``start == end``) compares ``E`` with ``start``
  using the operator itself.
- tag/multi fields test rows of a child table: ``tag:vip`` is ``EXISTS (...)``,
  ``tag!=vip`` and ``!tag:vip`` are ``NOT EXISTS (...)``.
- ``has:F`` means a value that is neither NULL nor empty (for tag/multi: any row);
  ``no:F`` the opposite.
- ``prefix.KEY`` (a ``custom`` field) reads ``json_extract(<sql>, ?)`` with the JSON
  path ``$."KEY"`` as a parameter; comparisons with a numeric value compare numbers
  (only stored values that look numeric), others compare text.
- ``Not`` treats a NULL (unknown) result as false, so ``!city:Madrid`` keeps contacts
  with no city, like ``city!=Madrid``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from crm_cli.errors import InvalidInput
from crm_cli.query import OPS_BY_TYPE, TYPES, Amount, And, Cond, Not, Or
from crm_cli.storage.db import casefold, fold

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CUSTOM_KEY = re.compile(r"[\w-]+")
_NUMERIC = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_COMPARE = {">": ">", ">=": ">=", "<": "<", "<=": "<="}  # fixed SQL for each operator
_MULTI = ("tag", "multi")

Sql = tuple[str, list]


@dataclass(frozen=True)
class FieldSql:
    """How one filter field maps to SQL.

    ``sql`` is the value expression: a column or scalar subquery on the main table's
    alias for scalar types; for ``tag``/``multi`` the value column inside ``exists``;
    for ``custom`` the JSON column. ``exists`` (``tag``/``multi`` only) is an
    ``EXISTS (...)`` subquery with ``{cond}`` where the condition on ``sql`` goes.
    """

    type: str
    sql: str | None = None
    exists: str | None = None
    doc: str = ""
    folded: str | None = None  # a stored fold(sql), for ~ and !~ without calling fold

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"unknown filter field type {self.type!r}")
        if not self.sql or "?" in self.sql:
            raise ValueError("FieldSql.sql must be a fixed SQL expression without placeholders")
        if self.type in _MULTI:
            if not self.exists or self.exists.count("{cond}") != 1 or "?" in self.exists:
                raise ValueError(f"a {self.type} field needs exists= with one {{cond}}")
        elif self.exists is not None:
            raise ValueError(f"exists= applies only to tag and multi fields, not {self.type}")


class _P:
    """A value bound as a ``?`` parameter."""

    __slots__ = ("value",)

    def __init__(self, value: object):
        self.value = value


def _cat(*parts: str | _P | Sql) -> Sql:
    """Join fixed SQL text, parameters and sub-fragments into one fragment."""
    sql: list[str] = []
    params: list = []
    for part in parts:
        if isinstance(part, str):
            sql.append(part)
        elif isinstance(part, _P):
            sql.append("?")
            params.append(part.value)
        else:
            sql.append(part[0])
            params.extend(part[1])
    return "".join(sql), params


def _bad_value(field: str) -> InvalidInput:
    return InvalidInput(f"filter on {field!r}: value of the wrong type")


class _Compiler:
    def __init__(self, spec: Mapping[str, FieldSql], fold_sql: str):
        self.spec = spec
        self.fold = fold_sql

    def node(self, node: object) -> Sql:
        if isinstance(node, Cond):
            return self.cond(node)
        if isinstance(node, Not):
            return _cat("NOT coalesce(", self.node(node.item), ", 0)")
        if isinstance(node, And | Or):
            if not node.items:
                return ("1", []) if isinstance(node, And) else ("0", [])
            joiner = " AND " if isinstance(node, And) else " OR "
            parts: list[str | Sql] = ["("]
            for i, item in enumerate(node.items):
                if i:
                    parts.append(joiner)
                parts.append(self.node(item))
            parts.append(")")
            return _cat(*parts)
        raise InvalidInput(f"not a filter node: {type(node).__name__}")

    def field(self, name: str) -> tuple[FieldSql, str | None]:
        """Find a field's spec, and the custom key for ``prefix.KEY`` names."""
        fs = self.spec.get(name)
        if fs is not None:
            return fs, None
        prefix, dot, key = name.partition(".")
        fs = self.spec.get(prefix)
        if dot and fs is not None and fs.type == "custom" and _CUSTOM_KEY.fullmatch(key):
            return fs, key
        raise InvalidInput(
            f"unknown filter field {name!r}; valid fields: {', '.join(sorted(self.spec))}"
        )

    def cond(self, c: Cond) -> Sql:
        fs, key = self.field(c.field)
        if c.op not in ("has", "no") and c.op not in OPS_BY_TYPE[fs.type]:
            raise InvalidInput(f"operator {c.op!r} does not apply to {c.field!r} ({fs.type})")
        if fs.type in _MULTI:
            return self.multi(fs, c)
        if fs.type == "custom":
            if key is None:
                if c.op not in ("has", "no"):
                    raise InvalidInput(f"custom fields are filtered as {c.field}.KEY")
                col = fs.sql
                if c.op == "has":
                    return f"({col} IS NOT NULL AND {col} NOT IN ('', '{{}}'))", []
                return f"({col} IS NULL OR {col} IN ('', '{{}}'))", []
            raw = _cat("json_extract(", fs.sql, ", ", _P(f'$."{key}"'), ")")
            text = _cat("CAST(", raw, " AS TEXT)")
            if c.op in _COMPARE:
                return self.custom_compare(c, raw, text)
            if (
                c.op in ("=", "!=")
                and isinstance(c.value, str)
                and _NUMERIC.fullmatch(c.value.strip())
            ):
                # field.score:10.0 equals a stored 10: numbers compare as numbers.
                same = _cat(
                    "(crm_is_number(", text, ") AND CAST(", raw, " AS REAL) = CAST(",
                    _P(c.value.strip()), " AS REAL))",
                )  # fmt: skip
                if c.op == "=":
                    return same
                return _cat("(", raw, " IS NULL OR NOT ", same, ")")
            return self.scalar("text", text, c)
        return self.scalar(fs.type, (fs.sql, []), c, fs.folded)

    def custom_compare(self, c: Cond, raw: Sql, text: Sql) -> Sql:
        if not isinstance(c.value, str):
            raise _bad_value(c.field)
        op = _COMPARE[c.op]
        if _NUMERIC.fullmatch(c.value.strip()):
            # Only stored values that are whole numbers in text ('10', '-2.5') compare as
            # numbers: '1-2' or a date '2024-05-01' never does.
            looks_numeric = _cat("crm_is_number(", text, ")")
            number = _cat("CAST(", raw, f" AS REAL) {op} CAST(", _P(c.value.strip()), " AS REAL)")
            return _cat("(", looks_numeric, " AND ", number, ")")
        return _cat(text, f" {op} ", _P(c.value))

    def scalar(self, ftype: str, e: Sql, c: Cond, folded: str | None = None) -> Sql:
        op, v = c.op, c.value
        if op == "has":
            return _cat("(", e, " IS NOT NULL AND ", e, " <> '')")
        if op == "no":
            return _cat("(", e, " IS NULL OR ", e, " = '')")
        if ftype in ("text", "enum"):
            if not isinstance(v, str):
                raise _bad_value(c.field)
            if op == "=":
                return _equal(e, v)
            if op == "!=":
                return _cat("(", e, " IS NULL OR NOT ", _equal(e, v), ")")
            found = self.contains(e, v, folded)
            if op == "~":
                return found
            return _cat("(", e, " IS NULL OR NOT ", found, ")")
        if ftype == "bool":
            if not isinstance(v, bool):
                raise _bad_value(c.field)
            return _cat("coalesce(", e, ", 0) ", "=" if op == "=" else "<>", " ", _P(int(v)))
        if ftype in ("number", "money"):
            if isinstance(v, Amount) and ftype == "money":
                v = v.minor
            if isinstance(v, bool) or not isinstance(v, int):
                raise _bad_value(c.field)
            return self.compare(e, op, v)
        if ftype in ("instant", "date"):
            if not (isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, str) for x in v)):
                raise _bad_value(c.field)
            start, end = v
            if start == end:
                return self.compare(e, op, start)
            if op == "=":
                return _cat("(", e, " >= ", _P(start), " AND ", e, " < ", _P(end), ")")
            if op == "!=":
                outside = _cat(e, " < ", _P(start), " OR ", e, " >= ", _P(end))
                return _cat("(", e, " IS NULL OR ", outside, ")")
            if op in (">", "<="):  # after the span / up to its end
                return _cat(e, " >= " if op == ">" else " < ", _P(end))
            return _cat(e, " >= " if op == ">=" else " < ", _P(start))
        raise InvalidInput(f"filter on {c.field!r}: unsupported type {ftype!r}")

    def contains(self, e: Sql, v: str, folded: str | None = None) -> Sql:
        """``fold(e)`` contains ``fold(v)``. For an ASCII needle, SQLite's own LIKE (ASCII
        case-insensitive) first discards the ASCII values that cannot match, so the fold
        function (Python, ~1.5 µs a call) only runs on candidates and non-ASCII values --
        100,000 organization names: 150 ms folded, a few ms this way. A value that is all
        ASCII folds to its lower case, where LIKE and instr agree exactly."""
        needle = fold(v)
        if folded is not None:  # kept folded by storage: SQLite alone (fold only if unset)
            return _cat("instr(coalesce(", folded, ", ", self.fold, "(", e, ")), ", _P(needle),
                        ") > 0")  # fmt: skip
        exact = _cat("instr(", self.fold, "(", e, "), ", _P(needle), ") > 0")
        if not needle.isascii() or not needle:
            return exact
        pattern = "%" + re.sub(r"([%_\\])", r"\\\1", needle) + "%"
        quick = _cat("(", e, " LIKE ", _P(pattern), " ESCAPE '\\' OR ", e, " GLOB '*[^ -~]*')")
        return _cat("(", quick, " AND ", exact, ")")

    @staticmethod
    def compare(e: Sql, op: str, v: object) -> Sql:
        if op == "=":
            return _cat(e, " = ", _P(v))
        if op == "!=":
            return _cat("(", e, " IS NULL OR ", e, " <> ", _P(v), ")")
        return _cat(e, f" {_COMPARE[op]} ", _P(v))

    def multi(self, fs: FieldSql, c: Cond) -> Sql:
        assert fs.sql is not None and fs.exists is not None
        x = fs.sql
        negate = c.op in ("!=", "!~", "no")
        if c.op in ("has", "no"):
            cond: Sql = (f"({x} IS NOT NULL AND {x} <> '')", [])
        else:
            if not isinstance(c.value, str):
                raise _bad_value(c.field)
            if c.op in ("=", "!="):
                cond = _equal(x, c.value)
            else:
                cond = self.contains((x, []), c.value, fs.folded)
        head, tail = fs.exists.split("{cond}")
        return _cat("NOT " if negate else "", head, cond, tail)


def _equal(e: Sql | str, v: str) -> Sql:
    """Case-insensitive equality: NOCASE (indexable) for ASCII, full Unicode casefold otherwise."""
    if v.isascii():
        return _cat(e, " = ", _P(v), " COLLATE NOCASE")
    return _cat("crm_casefold(", e, ") = ", _P(casefold(v)))


def compile_filter(
    node: object, spec: Mapping[str, FieldSql], *, fold_sql: str = "crm_fold"
) -> tuple[str, list]:
    """Compile a filter tree into a WHERE fragment and its parameters (``"1"`` for None)."""
    if node is None:
        return "1", []
    if not _IDENT.fullmatch(fold_sql):
        raise ValueError(f"fold_sql must be an SQL function name, not {fold_sql!r}")
    return _Compiler(spec, fold_sql).node(node)


def filter_types(spec: Mapping[str, FieldSql]) -> dict[str, str]:
    """Return the field name -> type map that ``domain.filters.parse`` checks terms against."""
    return {name: fs.type for name, fs in spec.items()}


def _exists(table: str, fk: str, owner: str) -> str:
    return f"EXISTS (SELECT 1 FROM {table} x WHERE x.{fk} = {owner}.id AND {{cond}})"


def _phones(fk: str, owner: str) -> str:
    # A phone matches on its normalised value or on the text as it was typed.
    return (
        "EXISTS (SELECT 1 FROM ("
        f"SELECT p.value AS v FROM phones p WHERE p.{fk} = {owner}.id"
        f" UNION ALL SELECT p.raw FROM phones p WHERE p.{fk} = {owner}.id"
        ") x WHERE {cond})"
    )


CONTACT_FIELDS: dict[str, FieldSql] = {
    "id": FieldSql("number", "c.id", doc="the contact's id"),
    "name": FieldSql("text", "c.name", doc="full name"),
    "first_name": FieldSql("text", "c.first_name", doc="given name"),
    "last_name": FieldSql("text", "c.last_name", doc="family name"),
    "title": FieldSql("text", "c.title", doc="job title"),
    "email": FieldSql(
        "multi", "x.value", _exists("emails", "contact_id", "c"), doc="any of the email addresses"
    ),
    "phone": FieldSql(
        "multi", "x.v", _phones("contact_id", "c"), doc="any phone number (normalised or as typed)"
    ),
    # Matched over the organizations first (thousands), then contacts by an indexed org_id:
    # folding the organization name once per contact costs ~200 ms at 100,000 contacts.
    "org": FieldSql(
        "multi",
        "xo.name",
        "coalesce(c.org_id IN (SELECT xo.id FROM orgs xo WHERE {cond}), 0)",
        doc="organization name",
        folded="xo.name_fold",
    ),
    "org_id": FieldSql("number", "c.org_id", doc="organization id"),
    "stage": FieldSql("enum", "c.stage", doc="lifecycle stage (config contact.stages)"),
    "source": FieldSql("text", "c.source", doc="where the contact came from"),
    "owner": FieldSql(
        "text", "(SELECT xu.name FROM users xu WHERE xu.id = c.owner_id)", doc="owner's user name"
    ),
    "city": FieldSql("text", "c.city", doc="city"),
    "region": FieldSql("text", "c.region", doc="region, state or province"),
    "postal_code": FieldSql("text", "c.postal_code", doc="postal code"),
    "country": FieldSql("text", "c.country", doc="country"),
    "consent": FieldSql("enum", "c.consent", doc="marketing consent: unknown, granted, opted_out"),
    "birthday": FieldSql("text", "c.birthday", doc="birthday, YYYY-MM-DD or --MM-DD"),
    # The tagged contacts are found through the tag index (m007), not by probing each contact.
    "tag": FieldSql(
        "tag",
        "x.tag",
        "coalesce(c.id IN (SELECT x.contact_id FROM contact_tags x WHERE {cond}), 0)",
        doc="any of the tags",
    ),
    "created": FieldSql("instant", "c.created_at", doc="when the contact was added"),
    "updated": FieldSql("instant", "c.updated_at", doc="when the contact last changed"),
    "field": FieldSql("custom", "c.custom", doc="custom field, as field.KEY"),
    "cadence": FieldSql("number", "c.cadence_days", doc="stay-in-touch cadence in days"),
    "last_activity": FieldSql(
        "instant", "c.last_activity_at", doc="when the latest logged activity happened"
    ),
    "activities": FieldSql("number", "c.activity_count", doc="number of logged activities"),
    "orders": FieldSql("number", "c.order_count", doc="number of paid orders"),
    "last_order": FieldSql("date", "c.last_order_date", doc="date of the latest paid order"),
    # Money in one currency: domain (filters.scope_money) pairs each comparison with
    # currency = ?. A contact buying in several currencies has no single total (NULL).
    "spent": FieldSql(
        "money", "c.spend_minor", doc="total of paid orders (in money.currency or currency:X)"
    ),
    "currency": FieldSql(
        "text", "c.spend_currency", doc="currency of the paid orders (empty if several)"
    ),
    # Any email address with this delivery status (ok, deferred, bounced, complained).
    "email_status": FieldSql(
        "multi",
        "x.status",
        "coalesce(c.id IN (SELECT x.contact_id FROM emails x WHERE {cond}), 0)",
        doc="delivery status of any email address: ok, deferred, bounced, complained",
    ),
    # Campaigns are matched by name first (a handful), then their recipients through
    # campaign_recipients(campaign_id, state, id), then contacts by id.
    "campaign": FieldSql(
        "multi",
        "x.name",
        "coalesce(c.id IN (SELECT r.contact_id FROM campaign_recipients r"
        " WHERE r.campaign_id IN (SELECT x.id FROM campaigns x WHERE {cond})"
        " AND r.state = 'sent'), 0)",
        doc="a campaign that was sent to the contact",
    ),
    "replied": FieldSql(
        "multi",
        "x.name",
        "coalesce(c.id IN (SELECT r.contact_id FROM campaign_recipients r"
        " WHERE r.campaign_id IN (SELECT x.id FROM campaigns x WHERE {cond})"
        " AND EXISTS (SELECT 1 FROM mail_messages m WHERE m.recipient_id = r.id"
        " AND m.kind = 'message' AND m.direction = 'in')), 0)",
        doc="a campaign the contact answered (a reply in, not an auto-reply)",
    ),
}

ORG_FIELDS: dict[str, FieldSql] = {
    "id": FieldSql("number", "o.id", doc="the organization's id"),
    "name": FieldSql("text", "o.name", doc="name", folded="o.name_fold"),
    "domain": FieldSql("text", "o.domain", doc="web domain"),
    "industry": FieldSql("text", "o.industry", doc="industry"),
    "size": FieldSql("text", "o.size", doc="size band"),
    "city": FieldSql("text", "o.city", doc="city"),
    "region": FieldSql("text", "o.region", doc="region, state or province"),
    "postal_code": FieldSql("text", "o.postal_code", doc="postal code"),
    "country": FieldSql("text", "o.country", doc="country"),
    "owner": FieldSql(
        "text", "(SELECT xu.name FROM users xu WHERE xu.id = o.owner_id)", doc="owner's user name"
    ),
    "phone": FieldSql(
        "multi", "x.v", _phones("org_id", "o"), doc="any phone number (normalised or as typed)"
    ),
    "tag": FieldSql("tag", "x.tag", _exists("org_tags", "org_id", "o"), doc="any of the tags"),
    "people": FieldSql(
        "number",
        "(SELECT count(*) FROM contacts xc WHERE xc.org_id = o.id)",
        doc="number of contacts at the organization",
    ),
    "created": FieldSql("instant", "o.created_at", doc="when the organization was added"),
    "updated": FieldSql("instant", "o.updated_at", doc="when the organization last changed"),
    "field": FieldSql("custom", "o.custom", doc="custom field, as field.KEY"),
}

USER_FIELDS: dict[str, FieldSql] = {
    "id": FieldSql("number", "u.id", doc="the member's id"),
    "name": FieldSql("text", "u.name", doc="name"),
    "email": FieldSql("text", "u.email", doc="email address"),
    "role": FieldSql("text", "u.role", doc="admin, manager, member or viewer"),
    "team": FieldSql(
        "text", "(SELECT xt.name FROM teams xt WHERE xt.id = u.team_id)", doc="team name"
    ),
    "manager": FieldSql(
        "text", "(SELECT xm.name FROM users xm WHERE xm.id = u.manager_id)", doc="manager's name"
    ),
}

VISIT_FIELDS: dict[str, FieldSql] = {
    "landing": FieldSql("text", "v.landing_page", doc="landing page (URL or path)"),
    "referrer": FieldSql("text", "v.referrer", doc="referrer URL"),
    "source": FieldSql("text", "v.utm_source", doc="UTM source"),
    "medium": FieldSql("text", "v.utm_medium", doc="UTM medium"),
    "campaign": FieldSql("text", "v.utm_campaign", doc="UTM campaign"),
    "visitor": FieldSql("text", "v.visitor_id", doc="visitor id"),
    "pages": FieldSql("number", "v.pages", doc="pages viewed"),
    "at": FieldSql("instant", "v.started_at", doc="when the visit started"),
    "contact": FieldSql(
        "text", "(SELECT xc.name FROM contacts xc WHERE xc.id = v.contact_id)", doc="contact name"
    ),
}
