"""Parse the filter language (``tag:vip 'created>-30d' !(stage:lead or no:email)``) into a tree.

Syntax, one term per field::

    field:value  field=value     equals (case-insensitive for text)
    field!=value                 differs (a missing value differs too)
    field~text   field!~text     contains / lacks (case- and accent-insensitive)
    field>v  >=  <  <=           numbers, money (major units), dates and times
    has:field    no:field        has some value / has none
    field.KEY:value              a custom field, when the entity has a ``custom`` prefix

Terms side by side are ANDed (``and`` may be written); ``or`` joins alternatives and
binds looser than AND; ``not`` or a ``!`` prefix negates the next term or parenthesised
group. Keywords are case-insensitive and only keywords when bare. Values with spaces or
parentheses are quoted with ``'`` or ``"``; a backslash escapes the next character.
Dates and times are read by ``dates.parse_range`` (``created>-30d``, ``updated:today``)
and may be a range ``A..B`` (from the start of A to the end of B); money is read in
major units of ``config money.currency``. Each element of a list of arguments is a
whole expression and the elements are ANDed. Every bad input raises ``InvalidInput``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, tzinfo

from crm_cli.errors import InvalidInput
from crm_cli.query import KEYWORDS, OPS_BY_TYPE, Amount, And, Cond, Node, Not, Or, map_conds

_WORD = re.compile(r"[^\s()!:=~<>'\"\\]+")
_OPS = ("!=", "!~", ">=", "<=", ":", "=", "~", ">", "<")  # longest first
_CUSTOM_KEY = re.compile(r"[\w-]+")
_INT = re.compile(r"[+-]?[0-9]{1,18}")
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def _q(text: str, limit: int = 60) -> str:
    """Quote user text for a one-line message, clipped if long."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


class _Error(Exception):
    """A problem found while reading one argument (made into InvalidInput with context)."""


class _Term:
    __slots__ = ("field", "op", "value", "source")

    def __init__(self, field: str, op: str, value: str, source: str):
        self.field, self.op, self.value, self.source = field, op, value, source


_Token = str | _Term  # "(", ")", "!", "and", "or", "not", or a term


def _read_value(s: str, i: int) -> tuple[str, int]:
    """Read a quoted or bare value starting at i; return it and the index after it."""
    n = len(s)
    out: list[str] = []
    if s[i] in "'\"":
        quote, i = s[i], i + 1
        while i < n and s[i] != quote:
            if s[i] == "\\":
                if i + 1 >= n:
                    break
                i += 1
            out.append(s[i])
            i += 1
        if i >= n:
            raise _Error(f"unterminated {quote} quote")
        i += 1
        if i < n and not (s[i].isspace() or s[i] == ")"):
            raise _Error(f"unexpected text {_q(s[i:])} right after a quoted value")
        return "".join(out), i
    while i < n and not (s[i].isspace() or s[i] in "()"):
        if s[i] == "\\":
            if i + 1 >= n:
                raise _Error("a backslash at the end has nothing to escape")
            i += 1
        out.append(s[i])
        i += 1
    return "".join(out), i


def _tokens(s: str, fields: Mapping[str, str]) -> list[_Token]:
    """Split one argument into parentheses, negations, keywords and terms."""
    toks: list[_Token] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c.isspace():
            i += 1
        elif c in "()!":
            toks.append(c)
            i += 1
        elif m := _WORD.match(s, i):
            word, j = m.group(), m.end()
            op = next((o for o in _OPS if s.startswith(o, j)), None)
            if op is None:
                if word.lower() in KEYWORDS:
                    toks.append(word.lower())
                    i = j
                    continue
                if j < n and not (s[j].isspace() or s[j] in "()"):
                    raise _Error(f"expected an operator after {_q(word)}, not {_q(s[j:])}")
                if word in fields or word.lower() in ("has", "no"):
                    raise _Error(f"{_q(word)} needs an operator and a value, e.g. {word}:VALUE")
                raise _Error(
                    f"{_q(word)} is not a filter term: write field:value, e.g. name~{word[:20]}"
                )
            k = j + len(op)
            if k >= n or s[k].isspace() or s[k] in "()":
                raise _Error(
                    f"missing value after {_q(s[i:k])} (quote values with spaces or parentheses)"
                )
            value, end = _read_value(s, k)
            toks.append(_Term(word, op, value, s[i:end]))
            i = end
        elif c in ":=~<>":
            raise _Error(f"missing field name before {_q(s[i:].split()[0])}")
        elif c in "'\"":
            raise _Error(f"a value needs a field in front of it: {_q(s[i:])}")
        else:
            raise _Error(f"unexpected {_q(c)}")
    return toks


class _Parser:
    def __init__(self, toks: list[_Token], typer: _Typer):
        self.toks, self.pos, self.typer = toks, 0, typer

    def peek(self) -> _Token | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> _Token | None:
        tok = self.peek()
        self.pos += 1
        return tok

    def expr(self) -> Node:
        items = [self.conj()]
        while self.peek() == "or":
            self.take()
            items.append(self.operand("or"))
        return _flat(Or, items)

    def conj(self) -> Node:
        items = [self.unary()]
        while (tok := self.peek()) is not None and tok not in (")", "or"):
            if tok == "and":
                self.take()
                items.append(self.operand("and"))
            else:
                items.append(self.unary())
        return _flat(And, items)

    def operand(self, after: str) -> Node:
        tok = self.peek()
        if tok is None or tok in (")", "or", "and"):
            raise _Error(f"{_q(after)} needs a filter after it")
        return self.conj() if after == "or" else self.unary()

    def unary(self) -> Node:
        tok = self.take()
        if tok is None:
            raise _Error("missing a filter")
        if tok in ("!", "not"):
            nxt = self.peek()
            if nxt is None or nxt in (")", "or", "and"):
                raise _Error(f"{_q(tok)} needs a filter after it")
            return Not(self.unary())
        if tok == "(":
            if self.peek() == ")":
                raise _Error("empty parentheses '()'")
            if self.peek() is None:
                raise _Error("'(' is never closed")
            node = self.expr()
            if self.take() != ")":
                raise _Error("'(' is never closed: missing ')'")
            return node
        if tok == ")":
            raise _Error("unbalanced ')'")
        if tok in ("or", "and"):
            raise _Error(f"{_q(tok)} needs a filter before it")
        assert isinstance(tok, _Term)
        return self.typer.cond(tok)


def _flat(kind: type[And] | type[Or], items: list[Node]) -> Node:
    if len(items) == 1:
        return items[0]
    out: list[Node] = []
    for item in items:
        out.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(out))


class _Typer:
    """Check terms against the entity's fields and type their values."""

    def __init__(self, fields: Mapping[str, str], now: datetime | None, tz: tzinfo | None):
        self.fields = fields
        self.lower = {k.lower(): k for k in fields}
        self.now, self.tz = now, tz

    def valid(self) -> str:
        names = [f"{k}.KEY" if t == "custom" else k for k, t in self.fields.items()]
        return ", ".join(sorted(names))

    def resolve(self, name: str, *, bare_custom: bool = False) -> tuple[str, str]:
        """Return the canonical field name and its type."""
        key = name if name in self.fields else self.lower.get(name.lower())
        if key is not None:
            ftype = self.fields[key]
            if ftype == "custom" and not bare_custom:
                raise _Error(f"custom fields are written {key}.KEY, e.g. {key}.industry:retail")
            return key, ftype
        prefix, dot, custom_key = name.partition(".")
        pkey = prefix if prefix in self.fields else self.lower.get(prefix.lower())
        if dot and pkey is not None and self.fields[pkey] == "custom":
            if not _CUSTOM_KEY.fullmatch(custom_key):
                raise _Error(
                    f"custom field key {_q(custom_key)} may hold only letters, digits, '_' and '-'"
                )
            return f"{pkey}.{custom_key}", "custom"
        raise _Error(f"unknown field {_q(name)}; valid fields: {self.valid()}")

    def cond(self, term: _Term) -> Cond:
        if term.field.lower() in ("has", "no") and term.field not in self.fields:
            if term.op not in (":", "="):
                raise _Error(f"write {term.field.lower()}:FIELD, not {_q(term.source)}")
            field, _ = self.resolve(term.value, bare_custom=True)
            return Cond(field, term.field.lower(), None)
        field, ftype = self.resolve(term.field)
        op = "=" if term.op == ":" else term.op
        allowed = OPS_BY_TYPE.get(ftype)
        if allowed is None:
            raise _Error(f"field {field!r} has an unknown type {ftype!r}")
        if op not in allowed:
            shown = ", ".join(":" if o == "=" else o for o in allowed)
            raise _Error(f"{_q(term.op)} does not apply to {_q(field)} ({ftype}); use {shown}")
        return Cond(field, op, self.value(field, ftype, term.value))

    def value(self, field: str, ftype: str, text: str) -> object:
        if ftype == "number":
            if not _INT.fullmatch(text.strip()):
                raise _Error(f"{_q(field)} takes a whole number, not {_q(text)}")
            return int(text)
        if ftype == "bool":
            low = text.strip().lower()
            if low in _TRUE | _FALSE:
                return low in _TRUE
            raise _Error(f"{_q(field)} takes true or false, not {_q(text)}")
        if ftype == "money":
            from crm_cli import config
            from crm_cli.domain import money

            currency = config.get("money.currency") or "EUR"
            try:
                return Amount(money.parse(text, currency), money.exponent(currency))
            except InvalidInput as e:
                raise _Error(e.message) from None
        if ftype in ("instant", "date"):
            return self.span(ftype, text)
        return text

    def span(self, ftype: str, text: str) -> tuple[str, str]:
        from crm_cli.domain import dates

        first, dots, last = text.partition("..")
        if dots and (not first.strip() or not last.strip()):
            raise _Error(f"a range needs both ends, e.g. 2024-01-01..2024-01-31, not {_q(text)}")
        kw = {"now": self.now, "tz": self.tz}
        try:
            if ftype == "date":
                start, end = dates.parse_date_range(first, **kw)
                if dots:
                    end = dates.parse_date_range(last, **kw)[1]
            else:
                a, b = dates.parse_range(first, **kw)
                if dots:
                    b = dates.parse_range(last, **kw)[1]
                start, end = dates.to_db(a), dates.to_db(b)
        except InvalidInput as e:
            raise _Error(e.message) from None
        if end < start:
            raise _Error(f"the range {_q(text)} ends before it starts")
        return start, end


def parse(
    args: list[str] | tuple[str, ...] | str,
    fields: Mapping[str, str],
    *,
    now: datetime | None = None,
    tz: tzinfo | None = None,
) -> Node | None:
    """Parse filter arguments (each a whole expression, ANDed) into a tree; None if empty."""
    if isinstance(args, str):
        args = [args]
    typer = _Typer(fields, now, tz)
    nodes: list[Node] = []
    for arg in args:
        if not isinstance(arg, str):
            raise InvalidInput(f"a filter must be text, not {type(arg).__name__}")
        if not arg.strip():
            continue
        try:
            parser = _Parser(_tokens(arg, fields), typer)
            node = parser.expr()
            if parser.peek() is not None:
                raise _Error("unbalanced ')'")
        except _Error as e:
            raise InvalidInput(f"filter {_q(arg)}: {e}") from None
        except RecursionError:
            raise InvalidInput(f"filter {_q(arg, 40)}: too deeply nested") from None
        nodes.append(node)
    if not nodes:
        return None
    return _flat(And, nodes)


def _trim(arg: str) -> str:
    """Strip the whitespace around an argument, keeping a trailing space escaped by ``\\``."""
    s = arg.lstrip()
    t = s.rstrip()
    if (len(t) - len(t.rstrip("\\"))) % 2:
        t = s[: len(t) + 1]
    return t


def join(args: list[str] | tuple[str, ...]) -> str:
    """Write filter arguments (each a whole expression, ANDed) as one text parsing the same.

    The text is what the user typed: relative dates (``-90d``) stay relative, so the text
    means the same later as it would have meant then. An argument with a top-level ``or``
    is parenthesised (``a or b`` ANDed with ``c`` is ``(a or b) c``); others are joined as
    they are. Raises InvalidInput for an argument that does not tokenize.
    """
    parts = [_trim(a) for a in args if a.strip()]
    if len(parts) <= 1:
        return parts[0] if parts else ""
    out = []
    for arg in parts:
        try:
            toks = _tokens(arg, {})
        except _Error as e:
            raise InvalidInput(f"filter {_q(arg)}: {e}") from None
        depth, top_or = 0, False
        for tok in toks:
            if tok == "(":
                depth += 1
            elif tok == ")":
                depth -= 1
            elif tok == "or" and depth <= 0:
                top_or = True
        out.append(f"({arg})" if top_or else arg)
    return " ".join(out)


def scope_money(node: Node | None, field: str, default_currency: str) -> Node | None:
    """Keep each money comparison to one currency, the one its number is read in.

    ``amount>100`` compares only records in ``default_currency`` (never across
    currencies). When the whole filter is ANDed with ``currency:XXX``, numbers are read
    in XXX instead (``amount>500 currency:JPY`` is 500 yen). Each comparison carries its
    own currency condition, so ``no:amount or amount<10`` and ``!amount>100`` keep their
    meaning for records with no amount.
    """
    from decimal import Decimal

    from crm_cli.domain import money

    if node is None:
        return None

    def conjuncts(n):
        if isinstance(n, And):
            for i in n.items:
                yield from conjuncts(i)
        else:
            yield n

    named = [
        n.value
        for n in conjuncts(node)
        if isinstance(n, Cond)
        and n.field == "currency"
        and n.op == "="
        and isinstance(n.value, str)
    ]
    currency = named[0].strip().upper() if len(named) == 1 else default_currency
    if len(named) == 1:
        money.exponent(currency)  # an unknown code is an error here, not an empty result
    target = money.exponent(currency)

    def one(c: Cond) -> Node:
        v = c.value
        if not isinstance(v, Amount) or c.op in ("has", "no"):
            return c
        value = Decimal(v.minor).scaleb(-v.exponent).scaleb(target)
        op = c.op
        if value != value.to_integral_value():
            if op == "=":
                return Or(())  # no amount in this currency has that many decimals
            if op == "!=":
                return And(())
            floor, ceil = (
                int(value.to_integral_value("ROUND_FLOOR")),
                int(value.to_integral_value("ROUND_CEILING")),
            )
            op, minor = (">=", ceil) if op in (">", ">=") else ("<=", floor)
        else:
            minor = int(value)
        return And((Cond(c.field, op, Amount(minor, target)), Cond("currency", "=", currency)))

    return map_conds(node, lambda c: one(c) if c.field == field else c)


def check_values(node: Node | None, normalisers) -> Node | None:
    """Check and normalise the values of equality terms on enum-like fields.

    ``normalisers`` maps a field name to a function from the typed text to the stored
    value, raising InvalidInput for an unknown one: so ``status:opn`` is an error that
    lists the choices instead of a silently empty result.
    """

    def fix(c: Cond) -> Node:
        norm = normalisers.get(c.field)
        if norm is not None and c.op in ("=", "!=") and isinstance(c.value, str):
            return Cond(c.field, c.op, norm(c.value))
        return c

    return map_conds(node, fix)
