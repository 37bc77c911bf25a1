"""Repeat rules: the --every grammar, RRULEs, and next occurrences in local wall time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from crm_cli.domain import recurrence
from crm_cli.errors import InvalidInput

MADRID = ZoneInfo("Europe/Madrid")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("2w", "FREQ=WEEKLY;INTERVAL=2"),
        ("3d", "FREQ=DAILY;INTERVAL=3"),
        ("daily", "FREQ=DAILY"),
        ("weekly", "FREQ=WEEKLY"),
        ("monthly", "FREQ=MONTHLY"),
        ("yearly", "FREQ=YEARLY"),
        ("Weekdays", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
        ("every 2 weeks", "FREQ=WEEKLY;INTERVAL=2"),
        ("every day", "FREQ=DAILY"),
        ("monthly on the 1st", "FREQ=MONTHLY;BYMONTHDAY=1"),
        ("monthly on the 15th", "FREQ=MONTHLY;BYMONTHDAY=15"),
        ("weekly on monday", "FREQ=WEEKLY;BYDAY=MO"),
        ("every friday", "FREQ=WEEKLY;BYDAY=FR"),
        ("every mon and thu", "FREQ=WEEKLY;BYDAY=MO,TH"),
        ("every mon", "FREQ=WEEKLY;BYDAY=MO"),
        ("mondays", "FREQ=WEEKLY;BYDAY=MO"),
        ("every other week", "FREQ=WEEKLY;INTERVAL=2"),
        ("6mo", "FREQ=MONTHLY;INTERVAL=6"),
        ("every 12 hours", "FREQ=HOURLY;INTERVAL=12"),
        ("every 2 weeks on friday", "FREQ=WEEKLY;INTERVAL=2;BYDAY=FR"),
        ("last day of the month", "FREQ=MONTHLY;BYMONTHDAY=-1"),
        ("monthly on the last friday", "FREQ=MONTHLY;BYDAY=-1FR"),
        ("quarterly", "FREQ=MONTHLY;INTERVAL=3"),
        ("FREQ=MONTHLY;BYMONTHDAY=1", "FREQ=MONTHLY;BYMONTHDAY=1"),
        ("RRULE:freq=weekly;byday=mo,we", "FREQ=WEEKLY;BYDAY=MO,WE"),
        ("FREQ=DAILY;COUNT=3", "FREQ=DAILY;COUNT=3"),
    ],
)
def test_grammar(text, rule):
    assert recurrence.parse(text, tz=MADRID) == rule


def test_until_in_utc_becomes_local_wall_time():
    assert recurrence.parse("FREQ=DAILY;UNTIL=20261231T230000Z", tz=MADRID) == (
        "FREQ=DAILY;UNTIL=20270101T000000"
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "blue moon",
        "0d",
        "every 0 weeks",
        "weekly on funday",
        "monthly on the 32nd",
        "FREQ=MINUTELY",
        "FREQ=SECONDLY",
        "FREQ=BOGUS",
        "FREQ=DAILY;INTERVAL=0",
        "FREQ=DAILY;INTERVAL=-1",
        "FREQ=DAILY;COUNT=2;UNTIL=20270101",
        "FREQ=DAILY;EXDATE=20270101",
        "BYDAY=MO",
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",  # never happens
        "DTSTART:20200101T000000",
        "FREQ=DAILY\nFREQ=WEEKLY",
    ],
)
def test_bad_rules_echo_the_text(text):
    with pytest.raises(InvalidInput) as e:
        recurrence.parse(text, tz=MADRID)
    if text.strip() and "\n" not in text:
        assert repr(text.strip())[1:-1][:20] in str(e.value)


@given(st.text(max_size=40))
def test_parse_raises_only_invalid_input_and_normalises_idempotently(text):
    try:
        rule = recurrence.parse(text, tz=MADRID)
    except InvalidInput:
        return
    assert recurrence.parse(rule, tz=MADRID) == rule


def utc(*a):
    return datetime(*a, tzinfo=UTC)


def local(tz, *a):
    return datetime(*a, tzinfo=tz).astimezone(UTC)


def test_weekly_keeps_local_time_across_dst():
    start = local(MADRID, 2026, 3, 23, 9, 0)  # Monday before the change (UTC+1)
    nxt = recurrence.next_after("FREQ=WEEKLY", start, start, tz=MADRID)
    assert nxt == local(MADRID, 2026, 3, 30, 9, 0) == utc(2026, 3, 30, 7, 0)
    back = recurrence.next_after(
        "FREQ=WEEKLY", start, local(MADRID, 2026, 10, 20, 12, 0), tz=MADRID
    )
    assert back == utc(2026, 10, 26, 8, 0)  # 09:00 again, now UTC+1


def test_monthly_on_the_31st_skips_short_months_and_last_day_does_not():
    start = local(MADRID, 2026, 1, 31, 10, 0)
    # RFC 5545: a monthly rule anchored on the 31st fires only in months with a 31st.
    assert recurrence.next_after("FREQ=MONTHLY", start, start, tz=MADRID) == local(
        MADRID, 2026, 3, 31, 10, 0
    )
    assert recurrence.next_after("FREQ=MONTHLY;BYMONTHDAY=31", start, start, tz=MADRID) == local(
        MADRID, 2026, 3, 31, 10, 0
    )
    assert recurrence.next_after("FREQ=MONTHLY;BYMONTHDAY=-1", start, start, tz=MADRID) == local(
        MADRID, 2026, 2, 28, 10, 0
    )


def test_monthly_on_the_1st_from_mid_month():
    start = local(MADRID, 2026, 3, 5, 10, 0)
    rule = recurrence.parse("monthly on the 1st")
    assert recurrence.next_after(rule, start, start, tz=MADRID) == local(MADRID, 2026, 4, 1, 10, 0)


def test_series_with_count_ends():
    start = local(MADRID, 2026, 3, 10, 9, 0)
    rule = "FREQ=DAILY;COUNT=2"
    second = recurrence.next_after(rule, start, start, tz=MADRID)
    assert second == local(MADRID, 2026, 3, 11, 9, 0)
    assert recurrence.next_after(rule, start, second, tz=MADRID) is None


def test_time_in_the_spring_forward_gap_moves_an_hour_later():
    start = local(MADRID, 2026, 3, 22, 2, 30)
    assert recurrence.next_after("FREQ=WEEKLY", start, start, tz=MADRID) == utc(2026, 3, 29, 1, 30)


RULES = [
    "FREQ=DAILY",
    "FREQ=DAILY;INTERVAL=3",
    "FREQ=WEEKLY",
    "FREQ=WEEKLY;INTERVAL=2",
    "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    "FREQ=WEEKLY;BYDAY=FR",
    "FREQ=MONTHLY",
    "FREQ=MONTHLY;BYMONTHDAY=1",
    "FREQ=MONTHLY;BYMONTHDAY=-1",
    "FREQ=MONTHLY;BYDAY=-1FR",
    "FREQ=YEARLY",
]


@given(
    rule=st.sampled_from(RULES),
    tz=st.sampled_from([MADRID, NEW_YORK, UTC]),
    start=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)),
    later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3000)),
)
def test_next_is_strictly_after_and_keeps_local_wall_time(rule, tz, start, later):
    start = start.replace(microsecond=0, second=0)
    # Local times inside DST gaps do not exist: the anchor is a real local time, and
    # occurrences that would fall into a gap are checked in their own test.
    assume(start.hour not in (1, 2, 3))
    anchor = start.replace(tzinfo=tz).astimezone(UTC)
    after = anchor + later
    nxt = recurrence.next_after(rule, anchor, after, tz=tz)
    assert nxt is not None and nxt > after
    assert nxt.tzinfo is not None and nxt.utcoffset() == timedelta(0)
    assert nxt.astimezone(tz).time() == start.time()
    # Nothing of the series lies between 'after' and the answer.
    assert recurrence.next_after(rule, anchor, nxt - timedelta(seconds=1), tz=tz) == nxt


def test_describe():
    assert recurrence.describe("FREQ=WEEKLY;INTERVAL=2") == "every 2 weeks"
    assert recurrence.describe("FREQ=MONTHLY;BYMONTHDAY=1") == "monthly on day 1"
    assert recurrence.describe("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR") == "weekdays"
    assert recurrence.describe(None) is None
