"""Money as INTEGER minor units plus an ISO-4217 currency code: parse and format, never floats.

``parse("1,234.50", "EUR") == 123450`` and ``format(123450, "EUR") == "1234.50"``. The
number of minor digits is the currency's exponent (JPY 0, EUR 2, KWD 3). An amount with
more decimals than its currency allows is refused rather than rounded.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation, localcontext

from crm_cli.errors import InvalidInput

# Minor-unit exponents that are not 2 (ISO 4217, current and recently withdrawn codes).
_EXPONENTS = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}

# Every other known code has two minor digits.
_TWO = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP
BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR
FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IRR JMD KES KGS KHR
KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR
MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK
SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN
UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL
"""
CURRENCIES: dict[str, int] = {**dict.fromkeys(_TWO.split(), 2), **_EXPONENTS}

# Symbols users type, and the currencies each may stand for (the first is the default).
SYMBOLS: dict[str, tuple[str, ...]] = {
    "€": ("EUR",),
    "$": ("USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN", "ARS", "CLP", "COP", "TWD"),
    "us$": ("USD",),
    "c$": ("CAD", "NIO"),
    "ca$": ("CAD",),
    "a$": ("AUD",),
    "au$": ("AUD",),
    "nz$": ("NZD",),
    "hk$": ("HKD",),
    "s$": ("SGD",),
    "r$": ("BRL",),
    "mx$": ("MXN",),
    "£": ("GBP", "EGP", "GIP", "FKP", "SHP"),
    "¥": ("JPY", "CNY"),
    "₩": ("KRW",),
    "₹": ("INR",),
    "₽": ("RUB",),
    "₺": ("TRY",),
    "₪": ("ILS",),
    "₫": ("VND",),
    "₱": ("PHP",),
    "₴": ("UAH",),
    "₦": ("NGN",),
    "฿": ("THB",),
    "₡": ("CRC",),
    "₲": ("PYG",),
    "₸": ("KZT",),
    "₼": ("AZN",),
    "₾": ("GEL",),
    "zł": ("PLN",),
    "kč": ("CZK",),
    "ft": ("HUF",),
    "kr": ("SEK", "NOK", "DKK", "ISK"),
    "lei": ("RON",),
    "fr": ("CHF",),
}

_MAX_MINOR = 2**63 - 1  # SQLite INTEGER
# Patterns are compiled (and cached) by re on first use, keeping imports cheap.
_NUMBER_RE = r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?|[0-9]+(?:\.[0-9]*)?|\.[0-9]+"
_SIGN_RE = r"[+-]"
_CODE_RE = r"[A-Za-z]{3}"
_EXAMPLES = "e.g. 1234.50, 1,234.50, -3, €12.50 or 12.50 EUR"


def _code(currency: str) -> str:
    if not isinstance(currency, str) or not re.fullmatch(_CODE_RE, currency.strip()):
        raise InvalidInput(f"currency {currency!r} is not a three-letter ISO 4217 code such as EUR")
    code = currency.strip().upper()
    if code not in CURRENCIES:
        raise InvalidInput(f"unknown currency {code!r}; use an ISO 4217 code such as EUR, USD, JPY")
    return code


def exponent(currency: str) -> int:
    """Return how many minor digits a currency has (JPY 0, EUR 2, KWD 3)."""
    return CURRENCIES[_code(currency)]


def _split(text: str) -> tuple[str, str | None, str | None]:
    """Split an amount into its number text, currency code and symbol (either may be None)."""
    s = " ".join(text.split())
    sign = ""
    code = symbol = None
    # A leading sign may sit before the symbol or code: -€12.50, -EUR 12.
    if s.startswith(("+", "-")):
        sign, s = s[0], s[1:].lstrip()
    low = s.lower()
    for sym in sorted(SYMBOLS, key=len, reverse=True):
        if low.startswith(sym) and not (sym.isalpha() and low[len(sym) : len(sym) + 1].isalpha()):
            symbol, s = sym, s[len(sym) :].strip()
            break
        if low.endswith(sym) and not (sym.isalpha() and low[: -len(sym)][-1:].isalpha()):
            symbol, s = sym, s[: -len(sym)].strip()
            break
    if symbol is None:
        if len(s) > 3 and s[:3].isalpha() and not s[3].isalpha():
            code, s = s[:3], s[3:].strip()
        elif len(s) > 3 and s[-3:].isalpha() and not s[-4].isalpha():
            code, s = s[-3:], s[:-3].strip()
    if s.startswith(("+", "-")):
        if sign:
            raise ValueError("two signs")
        sign, s = s[0], s[1:].lstrip()
    return sign + s, code, symbol


def _number(text: str, shown: str) -> Decimal:
    sign = ""
    if re.match(_SIGN_RE, text):
        sign, text = text[0], text[1:]
    if not re.fullmatch(_NUMBER_RE, text):
        if re.fullmatch(r"[0-9]+,[0-9]{1,2}", text):
            raise InvalidInput(f"amount {shown!r}: use '.' for decimals ({_EXAMPLES})")
        raise InvalidInput(f"cannot read {shown!r} as an amount; {_EXAMPLES}")
    try:
        return Decimal(sign + text.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        raise InvalidInput(f"cannot read {shown!r} as an amount; {_EXAMPLES}") from None


def _to_minor(value: Decimal, code: str, shown: str) -> int:
    exp = CURRENCIES[code]
    with localcontext() as ctx:
        ctx.prec = 400  # exact for any input we accept (at most 100 characters)
        minor = value.scaleb(exp)
        whole = minor == minor.to_integral_value()
    if not whole:
        allowed = "no decimals" if exp == 0 else f"at most {exp} decimals"
        raise InvalidInput(f"amount {shown!r} has too many decimals: {code} takes {allowed}")
    result = int(minor)
    if abs(result) > _MAX_MINOR:
        raise InvalidInput(f"amount {shown!r} is too large")
    return result


def _parse(text: str, default_currency: str, *, strict: bool) -> tuple[int, str]:
    if not isinstance(text, str):
        raise InvalidInput(f"expected an amount as text, not {type(text).__name__}")
    shown = text.strip()
    if len(shown) > 100:
        raise InvalidInput(f"amount {shown[:20]!r}… is too long")
    default = _code(default_currency)
    if not shown:
        raise InvalidInput(f"empty amount; {_EXAMPLES}")
    try:
        number, code, symbol = _split(shown)
    except ValueError:
        raise InvalidInput(f"cannot read {shown!r} as an amount; {_EXAMPLES}") from None
    currency = default
    if code is not None:
        code = code.upper()
        if code not in CURRENCIES:
            raise InvalidInput(f"amount {shown!r}: unknown currency {code!r}")
        if strict and code != default:
            raise InvalidInput(f"amount {shown!r} is in {code}, but {default} is expected here")
        currency = code
    elif symbol is not None:
        options = SYMBOLS[symbol]
        if default in options:
            currency = default
        elif strict:
            raise InvalidInput(
                f"amount {shown!r}: '{symbol}' does not stand for {default}; "
                f"write the amount in {default}"
            )
        elif len(options) == 1 or symbol in ("$", "£", "¥"):
            currency = options[0]
        else:
            raise InvalidInput(
                f"amount {shown!r}: '{symbol}' is ambiguous; write the code ({', '.join(options)})"
            )
    return _to_minor(_number(number, shown), currency, shown), currency


def parse(text: str, currency: str) -> int:
    """Read an amount in major units (``1,234.50``, ``€12.50``, ``12.50 EUR``) as minor units."""
    return _parse(text, currency, strict=True)[0]


def parse_with_currency(text: str, default_currency: str) -> tuple[int, str]:
    """Read an amount that may name its currency (``12.50 USD``, ``$12.50``): (minor, code)."""
    return _parse(text, default_currency, strict=False)


def format(minor: int, currency: str) -> str:
    """Write minor units as a plain decimal string in major units (``123450`` -> ``1234.50``)."""
    return formatter(currency)(minor)


def formatter(currency: str):
    """``format`` for many amounts in one currency: the currency is looked up once."""
    exp = exponent(currency)
    unit = 10**exp

    def text(minor: int) -> str:
        if isinstance(minor, bool) or not isinstance(minor, int):
            raise TypeError(f"minor units must be an int, not {type(minor).__name__}")
        sign = "-" if minor < 0 else ""
        whole, frac = divmod(abs(minor), unit)
        return f"{sign}{whole}.{frac:0{exp}d}" if exp else f"{sign}{whole}"

    return text


def grouped(plain: str) -> str:
    """A plain amount from ``format`` for people: thousands grouped, a zero fraction
    dropped (``1234567.00`` -> ``1,234,567``; ``1234.50`` -> ``1,234.50``).

    For narrow displays (the dashboard's cards); scripts get ``format``'s exact text.
    """
    sign, digits = ("-", plain[1:]) if plain.startswith("-") else ("", plain)
    whole, _, frac = digits.partition(".")
    text = f"{int(whole):,}"
    return sign + (f"{text}.{frac}" if frac.strip("0") else text)
