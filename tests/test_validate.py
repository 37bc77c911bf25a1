"""Validators: the fast path for plain email addresses answers exactly as email_validator."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crm_cli.errors import InvalidInput


@settings(max_examples=300, deadline=None)
@given(
    st.from_regex(
        r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,12}@[A-Za-z0-9.-]{1,20}(\.[A-Za-z]{1,5})?",
        fullmatch=True,
    )
)
def test_fast_email_check_agrees_with_email_validator(text):
    """The cached plain-address path gives email_validator's answer, never another."""
    from email_validator import EmailNotValidError, validate_email

    from crm_cli.domain import validate

    try:
        ours = validate.email(text)
    except InvalidInput:
        ours = None
    try:
        ref = validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        ref = None
    assert ours == ref
