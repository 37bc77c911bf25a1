"""Validate and normalise the values contacts and organizations are made of."""

from __future__ import annotations

import re
import unicodedata

from crm_cli import config
from crm_cli.errors import InvalidInput

_LABEL = re.compile(r"^([A-Za-z][A-Za-z0-9_ -]{0,30})=(.+)$")
_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_NOT_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_TAG_BAD = re.compile(r"[\s,()\"']")


def split_label(text: str) -> tuple[str | None, str]:
    """Split 'work=ana@x.es' into ('work', 'ana@x.es'); no label gives (None, text)."""
    text = clean(text)
    m = _LABEL.match(text.strip())
    if m:
        return m.group(1).strip().lower(), m.group(2).strip()
    return None, text.strip()


# A plain ASCII address: dot-atom local part (RFC 5322) and a domain. Most real addresses
# look like this; their domain is checked once by email_validator and the verdict cached,
# so a bulk import does not re-validate gmail.com a hundred thousand times.
_PLAIN_EMAIL = re.compile(
    r"([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+)"
)
_DOMAINS: dict[str, str | None] = {}  # domain -> None if valid, else email_validator's reason


def email(text: str) -> str:
    """Check an email address's syntax (no DNS) and return it lower-cased."""
    value = text.strip()
    if not value:
        raise InvalidInput("empty email address")
    m = _PLAIN_EMAIL.fullmatch(value)
    if m and len(m.group(1)) <= 64 and len(value) <= 254 and "xn--" not in m.group(2).lower():
        domain = m.group(2).lower()
        if domain not in _DOMAINS:
            _DOMAINS[domain] = _full_check(f"a@{domain}")
        reason = _DOMAINS[domain]
        if reason is None:
            return value.lower()
        raise InvalidInput(f"invalid email address '{value}': {reason}")
    reason = _full_check(value)
    if reason is not None:
        raise InvalidInput(f"invalid email address '{value}': {reason}")
    from email_validator import validate_email

    return validate_email(value, check_deliverability=False).normalized.lower()


def _full_check(value: str) -> str | None:
    """email_validator's verdict: None when valid, else its reason."""
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as e:
        return str(e)
    return None


_DIGIT = re.compile(r"\d")


def phone(text: str) -> tuple[str, str]:
    """Return (value, raw): E.164 when the number parses, else the number as written."""
    raw = " ".join(text.split())
    if not raw:
        raise InvalidInput("empty phone number")
    if not _DIGIT.search(raw):
        raise InvalidInput(f"phone number '{raw}' has no digits")
    import phonenumbers

    region = config.get("phone.region")
    try:
        num = phonenumbers.parse(raw, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        return raw, raw
    if phonenumbers.is_valid_number(num):
        return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164), raw
    return raw, raw


def tag(text: str) -> str:
    """Normalise a tag: lower-case, no spaces, commas, quotes or parentheses."""
    t = clean(text).strip().lower()
    if not t:
        raise InvalidInput("empty tag")
    if _TAG_BAD.search(t):
        raise InvalidInput(f"invalid tag '{text}': no spaces, commas, quotes or parentheses")
    return t


def tags(values) -> list[str]:
    out: list[str] = []
    for v in values or ():
        for part in str(v).split(","):
            if part.strip():
                t = tag(part)
                if t not in out:
                    out.append(t)
    return out


def key_value(text: str, what: str) -> tuple[str, str]:
    """Parse 'key=value' for --field and --social; an empty value means remove."""
    text = clean(text)
    if "=" not in text:
        raise InvalidInput(f"{what} takes key=value, not '{text}'")
    k, v = text.split("=", 1)
    k = k.strip()
    if not _KEY.match(k):
        raise InvalidInput(f"invalid {what} name '{k}': letters, digits, '_' and '-' only")
    return k, v.strip()


def stage(value: str, stages: list[str]) -> str:
    s = value.strip().lower()
    if s not in stages:
        raise InvalidInput(f"unknown stage '{value}'; stages: {', '.join(stages)}")
    return s


CONSENT = {"unknown": "unknown", "granted": "granted", "yes": "granted", "opted_out": "opted_out",
           "opted-out": "opted_out", "opt-out": "opted_out", "no": "opted_out"}  # fmt: skip


def consent(value: str) -> str:
    v = value.strip().lower()
    if v not in CONSENT:
        raise InvalidInput(f"consent must be granted, opted-out or unknown, not '{value}'")
    return CONSENT[v]


def text(value: str | None) -> str | None:
    """Strip a free-text value and put it in NFC form; empty means unset."""
    if value is None:
        return None
    v = clean(value).strip()
    return v or None


_NOT_BODY = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def body(value: str | None) -> str | None:
    """A multi-line text (an email body, a note, a ticket reply): newlines and tabs are kept
    (CRLF becomes LF), other control characters are refused; NFC; empty means unset."""
    if value is None:
        return None
    v = value.replace("\r\n", "\n").replace("\r", "\n")
    bad = _NOT_BODY.search(v)
    if bad:
        if "\ud800" <= bad.group() <= "\udfff":
            raise InvalidInput("the text is not valid UTF-8")
        raise InvalidInput(
            f"the text holds a control character (U+{ord(bad.group()):04X}); only newlines and tabs are allowed"
        )
    v = unicodedata.normalize("NFC", v).strip()
    return v or None


def clean(value: str) -> str:
    """NFC-normalise text, so 'José' typed or pasted decomposed matches 'José'; refuse non-text."""
    bad = _NOT_TEXT.search(value)
    if bad:
        shown = (
            value.encode("utf-8", "backslashreplace")
            .decode("utf-8")
            .encode("unicode_escape")
            .decode("ascii")
        )
        if "\ud800" <= bad.group() <= "\udfff":
            raise InvalidInput(f"'{shown}' is not valid UTF-8 text")
        raise InvalidInput(
            f"'{shown}' holds a control character (newline, tab…): one line of text only"
        )
    return unicodedata.normalize("NFC", value)
