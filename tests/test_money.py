"""Tests for crm_cli.domain.money: integer minor units, exponents, strict parsing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_cli.domain import money
from crm_cli.errors import InvalidInput

PROPS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
MAX_MINOR = 2**63 - 1


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_CONFIG_DIR", str(tmp_path / "money-config"))


@pytest.mark.parametrize(
    ("code", "exp"),
    [
        ("EUR", 2), ("usd", 2), ("GBP", 2), ("JPY", 0), ("KRW", 0), ("CLP", 0), ("ISK", 0),
        ("VND", 0), ("BHD", 3), ("KWD", 3), ("OMR", 3), ("JOD", 3), ("TND", 3), ("LYD", 3),
        ("IQD", 3), ("CLF", 4), ("MXN", 2), (" chf ", 2),
    ],
)  # fmt: skip
def test_exponent(code, exp):
    assert money.exponent(code) == exp


@pytest.mark.parametrize("code", ["XXX", "ABC", "EU", "EURO", "", "12€", "XAU"])
def test_exponent_unknown_currency(code):
    with pytest.raises(InvalidInput, match="currency"):
        money.exponent(code)


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("1234.5", "EUR", 123450),
        ("1234.50", "EUR", 123450),
        ("1,234.50", "EUR", 123450),
        ("1,234,567", "EUR", 123456700),
        ("-3", "EUR", -300),
        ("+3", "EUR", 300),
        ("0.01", "EUR", 1),
        (".5", "EUR", 50),
        ("5.", "EUR", 500),
        ("12.500", "EUR", 1250),  # trailing zeros are exact, not rounding
        ("12.345", "KWD", 12345),
        ("1000", "JPY", 1000),
        ("1000.0", "JPY", 1000),
        ("€12.50", "EUR", 1250),
        ("12.50 €", "EUR", 1250),
        ("12.50 EUR", "EUR", 1250),
        ("12.50eur", "EUR", 1250),
        ("EUR 12.50", "EUR", 1250),
        ("-€12.50", "EUR", -1250),
        ("€-12.50", "EUR", -1250),
        ("$5", "USD", 500),
        ("$5", "CAD", 500),
        ("US$5", "USD", 500),
        ("£7.25", "GBP", 725),
        ("¥500", "JPY", 500),
        ("100 kr", "SEK", 10000),
        ("R$ 10", "BRL", 1000),
        ("  42  ", "EUR", 4200),
        ("9223372036854775.807", "KWD", MAX_MINOR),
    ],
)
def test_parse(text, currency, minor):
    assert money.parse(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "match"),
    [
        ("12.345", "EUR", "too many decimals: EUR takes at most 2"),
        ("12.5", "JPY", "JPY takes no decimals"),
        ("1.0001", "KWD", "at most 3"),
        ("12,50", "EUR", "use '.' for decimals"),
        ("1,23", "EUR", "use '.' for decimals"),
        ("1,2345.00", "EUR", "cannot read"),
        ("$5", "EUR", "does not stand for EUR"),
        ("5 USD", "EUR", "is in USD, but EUR"),
        ("5 ABC", "EUR", "unknown currency"),
        ("1e5", "EUR", "cannot read"),
        ("NaN", "EUR", "cannot read"),
        ("Infinity", "EUR", "cannot read"),
        ("", "EUR", "empty amount"),
        ("-", "EUR", "cannot read"),
        ("€", "EUR", "cannot read"),
        ("EUR", "EUR", "cannot read"),
        ("--1", "EUR", "cannot read"),
        ("1 2", "EUR", "cannot read"),
        ("0x10", "EUR", "cannot read"),
        ("١٢", "EUR", "cannot read"),  # non-ASCII digits
        ("9223372036854775808", "JPY", "too large"),
        ("1", "XYZ", "unknown currency"),
    ],
)
def test_parse_rejects(text, currency, match):
    with pytest.raises(InvalidInput, match=match):
        money.parse(text, currency)


def test_parse_never_rounds_beyond_decimal_precision():
    with pytest.raises(InvalidInput, match="too many decimals"):
        money.parse("1." + "0" * 40 + "1", "EUR")


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (123450, "EUR", "1234.50"),
        (5, "EUR", "0.05"),
        (-5, "EUR", "-0.05"),
        (0, "EUR", "0.00"),
        (1000, "JPY", "1000"),
        (-1000, "JPY", "-1000"),
        (12345, "KWD", "12.345"),
        (1, "CLF", "0.0001"),
    ],
)
def test_format(minor, currency, text):
    assert money.format(minor, currency) == text


def test_format_takes_ints_only():
    with pytest.raises(TypeError):
        money.format(12.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        money.format(True, "EUR")


@pytest.mark.parametrize(
    ("text", "default", "expected"),
    [
        ("12.50", "EUR", (1250, "EUR")),
        ("12.50 USD", "EUR", (1250, "USD")),
        ("usd 12.50", "EUR", (1250, "USD")),
        ("1000 JPY", "EUR", (1000, "JPY")),
        ("$12", "EUR", (1200, "USD")),
        ("$12", "AUD", (1200, "AUD")),
        ("£3", "EUR", (300, "GBP")),
        ("¥300", "CNY", (30000, "CNY")),
        ("¥300", "EUR", (300, "JPY")),
        ("€1", "USD", (100, "EUR")),
        ("1.234 KWD", "EUR", (1234, "KWD")),
    ],
)
def test_parse_with_currency(text, default, expected):
    assert money.parse_with_currency(text, default) == expected


@pytest.mark.parametrize(
    ("text", "default", "match"),
    [
        ("5 kr", "EUR", "ambiguous"),
        ("1.5 JPY", "EUR", "JPY takes no decimals"),
        ("5 QQQ", "EUR", "unknown currency"),
        ("5", "nope", "currency"),
    ],
)
def test_parse_with_currency_rejects(text, default, match):
    with pytest.raises(InvalidInput, match=match):
        money.parse_with_currency(text, default)


_codes = st.sampled_from(sorted(money.CURRENCIES))
_minor = st.integers(min_value=-MAX_MINOR, max_value=MAX_MINOR)


@given(_minor, _codes)
@PROPS
def test_format_parse_round_trip(minor, code):
    text = money.format(minor, code)
    assert money.parse(text, code) == minor
    assert money.parse(f"{text} {code}", code) == minor
    assert money.parse_with_currency(f"{code.lower()}{text}", "EUR") == (minor, code)


@given(st.sampled_from([0, 2, 3, 4]), _minor)
@PROPS
def test_round_trip_for_every_exponent(exp, minor):
    code = next(c for c, e in sorted(money.CURRENCIES.items()) if e == exp)
    assert money.parse(money.format(minor, code), code) == minor


@given(_minor.filter(lambda m: abs(m) < 10**15), _codes)
@PROPS
def test_thousands_separators(minor, code):
    plain = money.format(minor, code)
    sign, body = ("-", plain[1:]) if plain.startswith("-") else ("", plain)
    whole, dot, frac = body.partition(".")
    grouped = f"{int(whole):,}"
    assert money.parse(f"{sign}{grouped}{dot}{frac}", code) == minor


@pytest.mark.parametrize(
    ("minor", "code", "shown"),
    [(123456700, "EUR", "1,234,567"), (123450, "EUR", "1,234.50"), (-100, "EUR", "-1"),
     (5, "EUR", "0.05"), (1234, "JPY", "1,234"), (1234567, "KWD", "1,234.567")],
)  # fmt: skip
def test_grouped_for_people(minor, code, shown):
    assert money.grouped(money.format(minor, code)) == shown


@given(_minor.filter(lambda m: abs(m) < 10**15), _codes)
@PROPS
def test_grouped_reads_back_as_the_same_amount(minor, code):
    assert money.parse(money.grouped(money.format(minor, code)), code) == minor


@given(_codes, st.integers(0, 10**9), st.integers(1, 9))
@PROPS
def test_extra_decimal_is_refused_never_rounded(code, whole, digit):
    exp = money.exponent(code)
    text = f"{whole}." + "0" * exp + str(digit)
    with pytest.raises(InvalidInput, match="too many decimals"):
        money.parse(text, code)


@given(st.text(max_size=30), _codes)
@PROPS
def test_arbitrary_text_raises_only_invalid_input(text, code):
    for fn in (money.parse, money.parse_with_currency):
        try:
            result = fn(text, code)
        except InvalidInput as e:
            assert "\n" not in str(e)
        else:
            minor = result if isinstance(result, int) else result[0]
            assert isinstance(minor, int) and abs(minor) <= MAX_MINOR


_PIECES = ["1", "23", "456", ",", ".", "-", "+", " ", "€", "$", "EUR", "usd", "kr", "e5", "0"]


@given(st.lists(st.sampled_from(_PIECES), max_size=8), _codes)
@PROPS
def test_amount_soup_raises_only_invalid_input(pieces, code):
    try:
        money.parse_with_currency("".join(pieces), code)
    except InvalidInput:
        pass
