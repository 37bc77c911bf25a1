"""The reporting-period grammar: plain words to whole local days (dates.parse_period)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_cli.domain import dates
from crm_cli.errors import InvalidInput

MADRID = ZoneInfo("Europe/Madrid")
NOW = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)  # Tuesday 2026-03-10 09:00 in Madrid


def period(text, now=NOW):
    return dates.parse_period(text, now=now, tz=MADRID)


@pytest.mark.parametrize(
    ("text", "first", "last", "label"),
    [
        ("2026", "2026-01-01", "2026-12-31", "2026"),
        ("2026-Q1", "2026-01-01", "2026-03-31", "2026-Q1"),
        ("q4 2025", "2025-10-01", "2025-12-31", "2025-Q4"),
        ("2025q2", "2025-04-01", "2025-06-30", "2025-Q2"),
        ("Q2", "2026-04-01", "2026-06-30", "2026-Q2"),
        ("2026-02", "2026-02-01", "2026-02-28", "2026-02"),
        ("2024-02", "2024-02-01", "2024-02-29", "2024-02"),
        ("march", "2026-03-01", "2026-03-31", "2026-03"),
        ("Sept 2025", "2025-09-01", "2025-09-30", "2025-09"),
        ("2026-W10", "2026-03-02", "2026-03-08", "2026-W10"),
        ("2026-W01", "2025-12-29", "2026-01-04", "2026-W01"),
        ("2026-03-10", "2026-03-10", "2026-03-10", "2026-03-10"),
        ("today", "2026-03-10", "2026-03-10", "2026-03-10"),
        ("yesterday", "2026-03-09", "2026-03-09", "2026-03-09"),
        ("this week", "2026-03-09", "2026-03-15", "2026-W11"),
        ("last week", "2026-03-02", "2026-03-08", "2026-W10"),
        ("this month", "2026-03-01", "2026-03-31", "2026-03"),
        ("last month", "2026-02-01", "2026-02-28", "2026-02"),
        ("next month", "2026-04-01", "2026-04-30", "2026-04"),
        ("this quarter", "2026-01-01", "2026-03-31", "2026-Q1"),
        ("last quarter", "2025-10-01", "2025-12-31", "2025-Q4"),
        ("previous  Quarter", "2025-10-01", "2025-12-31", "2025-Q4"),
        ("last year", "2025-01-01", "2025-12-31", "2025"),
        ("last 30 days", "2026-02-09", "2026-03-10", "last 30 days"),
        ("past 2 weeks", "2026-02-25", "2026-03-10", "last 2 weeks"),
        ("last 3 months", "2025-12-11", "2026-03-10", "last 3 months"),
        ("ytd", "2026-01-01", "2026-03-10", "2026 to date"),
        ("month to date", "2026-03-01", "2026-03-10", "2026-03 to date"),
        ("2026-01..2026-02", "2026-01-01", "2026-02-28", "2026-01-01..2026-02-28"),
        ("2026-02-15..today", "2026-02-15", "2026-03-10", "2026-02-15..2026-03-10"),
        ("friday", "2026-03-13", "2026-03-13", "2026-03-13"),
        ("-30d", "2026-02-08", "2026-02-08", "2026-02-08"),
    ],
)
def test_periods_in_plain_words(text, first, last, label):
    p = period(text)
    assert (p.first.isoformat(), p.last.isoformat(), p.label) == (first, last, label)
    assert p.start == datetime.combine(p.first, datetime.min.time(), MADRID).astimezone(UTC)
    assert p.end == datetime.combine(p.last + timedelta(days=1), datetime.min.time(),
                                     MADRID).astimezone(UTC)  # fmt: skip


def test_a_period_is_local_days_in_utc_across_daylight_saving():
    march = period("2026-03")
    assert march.db() == ("2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z")
    assert march.end - march.start == timedelta(days=31, hours=-1)  # clocks go forward
    assert march.contains(datetime(2026, 3, 31, 21, 59, tzinfo=UTC))
    assert not march.contains(datetime(2026, 3, 31, 22, 0, tzinfo=UTC))  # April 1 in Madrid


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("2026-13", "not a real"),
        ("2026-W54", "not a real"),
        ("2026-02-30", "not a real"),
        ("Q5", "cannot read"),
        ("last 0 days", "cannot read"),
        ("last fortnight", "cannot read"),
        ("tomorrow 9am", "a moment, not a period"),
        ("now", "a moment, not a period"),
        ("2026-03..2026-01", "ends before it starts"),
        ("..2026", "on each side"),
        ("soon", "cannot read"),
    ],
)
def test_bad_periods_are_one_clear_error(text, message):
    with pytest.raises(InvalidInput, match=message):
        period(text)


def test_from_and_to_are_inclusive_of_their_whole_periods():
    p = dates.period_between("2026-01", "2026-Q1", now=NOW, tz=MADRID)
    assert (p.first, p.last) == (date(2026, 1, 1), date(2026, 3, 31))
    open_end = dates.period_between("2026-03-01", None, now=NOW, tz=MADRID)
    assert open_end.last == date(2026, 3, 10)  # to today
    with pytest.raises(InvalidInput, match="before"):
        dates.period_between("2026-03", "2026-02", now=NOW, tz=MADRID)


def test_buckets_cut_to_the_period():
    p = period("2026-02-15..2026-04-10")
    months = dates.buckets(p, "month", MADRID)
    assert [(b.label, b.first.day, b.last.day) for b in months] == [
        ("2026-02", 15, 28), ("2026-03", 1, 31), ("2026-04", 1, 10)]  # fmt: skip


_days = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))
_units = st.sampled_from(dates.PERIOD_UNITS)


@given(_days, _units)
@settings(max_examples=300, deadline=None)
def test_a_unit_period_holds_its_day_and_its_label_reads_back(day, unit):
    p = dates.unit_period(day, unit, MADRID)
    assert p.first <= day <= p.last
    assert period(p.label) == p


@given(_days, st.integers(0, 800), _units)
@settings(max_examples=300, deadline=None)
def test_buckets_partition_the_period(day, length, unit):
    p = period(f"{day.isoformat()}..{(day + timedelta(days=length)).isoformat()}")
    parts = dates.buckets(p, unit, MADRID)
    assert parts[0].start == p.start and parts[-1].end == p.end
    for a, b in zip(parts, parts[1:], strict=False):
        assert a.end == b.start and a.label < b.label
    assert sum((b.last - b.first).days + 1 for b in parts) == length + 1
