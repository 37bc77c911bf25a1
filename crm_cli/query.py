"""The filter language's tree: plain frozen dataclasses (a leaf: imports nothing of ours).

``domain/filters.py`` parses user text into these nodes, ``storage/filters.py`` compiles
them to parameterised SQL, and ``render`` writes a tree back as filter text.

A ``Cond`` holds a typed value: ``str`` (text, enum, tag, multi, custom), ``int``
(number), ``bool``, ``Amount`` (money), ``None`` (``has``/``no``, where ``field`` is the
field asked about), or a ``(start, end)`` pair of database text for instants
(``YYYY-MM-DDTHH:MM:SSZ``) and dates (``YYYY-MM-DD``): the half-open span the user's
text denoted, ``start == end`` for a single instant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

OPS = ("=", "!=", "~", "!~", ">", ">=", "<", "<=", "has", "no")

# Field types and the operators each accepts (has/no apply to every type).
OPS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "text": ("=", "!=", "~", "!~"),
    "enum": ("=", "!=", "~", "!~"),
    "number": ("=", "!=", ">", ">=", "<", "<="),
    "money": ("=", "!=", ">", ">=", "<", "<="),
    "instant": ("=", "!=", ">", ">=", "<", "<="),
    "date": ("=", "!=", ">", ">=", "<", "<="),
    "bool": ("=", "!="),
    "tag": ("=", "!=", "~", "!~"),
    "multi": ("=", "!=", "~", "!~"),
    "custom": ("=", "!=", "~", "!~", ">", ">=", "<", "<="),
}
TYPES = tuple(OPS_BY_TYPE)
KEYWORDS = ("and", "or", "not")


@dataclass(frozen=True, slots=True)
class Amount:
    """A money value in minor units, with the exponent it was read with (EUR 2, JPY 0)."""

    minor: int
    exponent: int

    def __str__(self) -> str:
        sign = "-" if self.minor < 0 else ""
        whole, frac = divmod(abs(self.minor), 10**self.exponent)
        return f"{sign}{whole}.{frac:0{self.exponent}d}" if self.exponent else f"{sign}{whole}"


@dataclass(frozen=True, slots=True)
class Cond:
    """One comparison: ``field op value``."""

    field: str
    op: str
    value: object = None


@dataclass(frozen=True, slots=True)
class And:
    """All of the items hold."""

    items: tuple


@dataclass(frozen=True, slots=True)
class Or:
    """At least one of the items holds."""

    items: tuple


@dataclass(frozen=True, slots=True)
class Not:
    """The item does not hold (a missing value counts as not holding)."""

    item: object


Node = Cond | And | Or | Not

_BARE = r"[^\s()'\"\\=~<>!:][^\s()'\"\\]*"


def _quote(text: str) -> str:
    if re.fullmatch(_BARE, text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Amount):
        return str(value)
    if isinstance(value, tuple) and len(value) == 2:
        start, end = value
        if len(start) == 10:  # calendar dates: [start, end) where end is the day after
            last = (date.fromisoformat(end) - timedelta(days=1)).isoformat()
            return start if last == start else f"{start}..{last}"
        return start if start == end else f"{start}..{end}"
    return _quote(str(value))


def render(node: Node | None) -> str:
    """Write a tree back as filter text that parses to the same tree."""
    if node is None:
        return ""
    if isinstance(node, Cond):
        if node.op in ("has", "no"):
            return f"{node.op}:{node.field}"
        op = ":" if node.op == "=" else node.op
        return f"{node.field}{op}{_value(node.value)}"
    if isinstance(node, Not):
        inner = render(node.item)
        return f"!({inner})" if isinstance(node.item, And | Or) else f"!{inner}"
    if isinstance(node, And):
        return " ".join(
            f"({render(i)})" if isinstance(i, And | Or) else render(i) for i in node.items
        )
    if isinstance(node, Or):
        return " or ".join(f"({render(i)})" if isinstance(i, Or) else render(i) for i in node.items)
    raise TypeError(f"not a query node: {node!r}")


def mentions(node: Node | None, name: str, *, compared: bool = False) -> bool:
    """Whether a tree has a condition on this field (with ``compared``: not just has/no)."""
    if isinstance(node, Cond):
        return node.field == name and not (compared and node.op in ("has", "no"))
    if isinstance(node, Not):
        return mentions(node.item, name, compared=compared)
    if isinstance(node, And | Or):
        return any(mentions(i, name, compared=compared) for i in node.items)
    return False


def map_conds(node: Node | None, fn) -> Node | None:
    """Rebuild a tree with ``fn`` applied to every condition (``fn`` returns a node)."""
    if isinstance(node, Cond):
        return fn(node)
    if isinstance(node, Not):
        return Not(map_conds(node.item, fn))
    if isinstance(node, And | Or):
        return type(node)(tuple(map_conds(i, fn) for i in node.items))
    return node
