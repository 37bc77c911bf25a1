"""Tests for crm_cli.domain.dates: the time grammar, spans, DST and the DB text format."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_cli.domain import dates
from crm_cli.errors import InvalidInput

MADRID = ZoneInfo("Europe/Madrid")
# Tuesday 10 March 2026, 09:00 in Madrid (08:00 UTC).
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=MADRID)

PROPS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_CONFIG_DIR", str(tmp_path / "dates-config"))
    monkeypatch.setenv("CRM_NOW", "2026-03-10T09:00:00+01:00")
    monkeypatch.delenv("TZ", raising=False)


def when(text: str, now: datetime = NOW) -> str:
    return dates.to_db(dates.parse_when(text, now=now, tz=MADRID))


def span(text: str, now: datetime = NOW) -> tuple[str, str]:
    start, end = dates.parse_range(text, now=now, tz=MADRID)
    return dates.to_db(start), dates.to_db(end)


# -- clock, zone, DB format --------------------------------------------------


def test_now_reads_crm_now_with_offset():
    assert dates.now() == datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    assert dates.now().tzinfo is UTC


@pytest.mark.parametrize("raw", ["2026-03-10T08:00:00Z", "2026-03-10T08:00:00z"])
def test_now_accepts_trailing_z(monkeypatch, raw):
    monkeypatch.setenv("CRM_NOW", raw)
    assert dates.now() == datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("raw", ["tomorrow", "2026-03-10T08:00:00", "2026-13-01T00:00:00Z"])
def test_now_rejects_bad_or_naive_crm_now(monkeypatch, raw):
    monkeypatch.setenv("CRM_NOW", raw)
    with pytest.raises(InvalidInput, match="CRM_NOW"):
        dates.now()


def test_now_without_crm_now_is_the_clock(monkeypatch):
    monkeypatch.delenv("CRM_NOW")
    before = datetime.now(UTC) - timedelta(seconds=1)
    assert before <= dates.now() <= datetime.now(UTC)


def _write_config(tmp_path, text: str) -> None:
    cfg = tmp_path / "dates-config"
    cfg.mkdir(exist_ok=True)
    (cfg / "config.toml").write_text(text)


def test_local_tz_from_config(tmp_path):
    _write_config(tmp_path, '[time]\nzone = "America/New_York"\n')
    assert dates.local_tz() == ZoneInfo("America/New_York")
    # parse_when without tz= uses it
    got = dates.parse_when("2026-01-05 09:00")
    assert got == datetime(2026, 1, 5, 14, 0, tzinfo=UTC)


def test_local_tz_unknown_zone(tmp_path):
    _write_config(tmp_path, '[time]\nzone = "Mars/Olympus"\n')
    with pytest.raises(InvalidInput, match="Mars/Olympus"):
        dates.local_tz()


def test_local_tz_non_text_zone(tmp_path):
    _write_config(tmp_path, "[time]\nzone = 5\n")
    with pytest.raises(InvalidInput, match="time.zone .* must be a str"):
        dates.local_tz()


def test_local_tz_defaults_to_system_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert dates.local_tz() == ZoneInfo("Asia/Tokyo")
    monkeypatch.delenv("TZ")
    assert dates.local_tz().utcoffset(datetime(2026, 1, 1)) is not None


def test_to_db_is_fixed_width_utc():
    assert dates.to_db(datetime(2026, 3, 10, 9, 5, 7, 999, tzinfo=MADRID)) == "2026-03-10T08:05:07Z"
    assert dates.to_db(datetime(5, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0005-01-02T03:04:05Z"


def test_to_db_refuses_naive():
    with pytest.raises(ValueError, match="naive"):
        dates.to_db(datetime(2026, 1, 1))


def test_from_db():
    assert dates.from_db("2026-03-10T08:05:07Z") == datetime(2026, 3, 10, 8, 5, 7, tzinfo=UTC)
    assert dates.from_db("2026-03-10T09:05:07+01:00") == datetime(2026, 3, 10, 8, 5, 7, tzinfo=UTC)
    with pytest.raises(ValueError):
        dates.from_db("2026-03-10T08:05:07")


def test_to_local():
    local = dates.to_local(datetime(2026, 7, 1, 10, tzinfo=UTC), MADRID)
    assert (local.hour, local.utcoffset()) == (12, timedelta(hours=2))


# -- parse_when grammar ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", "2026-03-10T08:00:00Z"),
        ("NOW", "2026-03-10T08:00:00Z"),
        ("today", "2026-03-09T23:00:00Z"),
        ("yesterday", "2026-03-08T23:00:00Z"),
        ("tomorrow", "2026-03-10T23:00:00Z"),
        ("tomorrow 9am", "2026-03-11T08:00:00Z"),
        ("Tomorrow 9 AM", "2026-03-11T08:00:00Z"),
        ("yesterday 16:00", "2026-03-09T15:00:00Z"),
        ("today 5:30pm", "2026-03-10T16:30:00Z"),
        ("today at noon", "2026-03-10T11:00:00Z"),
        ("tomorrow 12am", "2026-03-10T23:00:00Z"),
        ("tomorrow 12pm", "2026-03-11T11:00:00Z"),
        ("15:45", "2026-03-10T14:45:00Z"),
        ("9am", "2026-03-10T08:00:00Z"),
        ("2024-01-01", "2023-12-31T23:00:00Z"),
        ("2024-01-01 14:30", "2024-01-01T13:30:00Z"),
        ("2024-07-01 14:30", "2024-07-01T12:30:00Z"),
        ("2024-01-01T14:30:00", "2024-01-01T13:30:00Z"),
        ("2024-01-01T14:30:00+02:00", "2024-01-01T12:30:00Z"),
        ("2024-01-01T14:30:00.75-0330", "2024-01-01T18:00:00Z"),
        ("2024-01-01T14:30:00Z", "2024-01-01T14:30:00Z"),
        ("2024-01-01 9am", "2024-01-01T08:00:00Z"),
        ("+3d", "2026-03-13T08:00:00Z"),
        ("-30d", "2026-02-08T08:00:00Z"),
        ("-2w", "2026-02-24T08:00:00Z"),
        ("+1mo", "2026-04-10T07:00:00Z"),  # summer time by then: same wall clock
        ("-1y", "2025-03-10T08:00:00Z"),
        ("+4h", "2026-03-10T12:00:00Z"),
        ("+15m", "2026-03-10T08:15:00Z"),
        ("+15min", "2026-03-10T08:15:00Z"),
        ("+90s", "2026-03-10T08:01:30Z"),
        ("+1d12h", "2026-03-11T20:00:00Z"),
        ("+ 2 days", "2026-03-12T08:00:00Z"),
        ("in 3 days", "2026-03-13T08:00:00Z"),
        ("in an hour", "2026-03-10T09:00:00Z"),
        ("3 days ago", "2026-03-07T08:00:00Z"),
        ("2 weeks ago", "2026-02-24T08:00:00Z"),
        ("a month ago", "2026-02-10T08:00:00Z"),
        ("March 3 2025", "2025-03-02T23:00:00Z"),
        ("3 Mar 2025 10:00", "2025-03-03T09:00:00Z"),
    ],
)
def test_parse_when(text, expected):
    assert when(text) == expected


def test_parse_when_returns_aware_utc():
    got = dates.parse_when("tomorrow 9am", now=NOW, tz=MADRID)
    assert got.tzinfo is UTC


def test_parse_when_defaults_to_crm_now():
    assert dates.to_db(dates.parse_when("+1h", tz=MADRID)) == "2026-03-10T09:00:00Z"


# Monday 9 .. Sunday 15 March 2026; NOW is Tuesday the 10th.
@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("monday", 16),
        ("tuesday", 10),  # today is Tuesday: today
        ("wednesday", 11),
        ("friday", 13),
        ("fri", 13),
        ("this friday", 13),
        ("sunday", 15),
        ("next friday", 20),  # the Friday after 'friday'
        ("next tuesday", 17),  # today is Tuesday: a week on
        ("next wednesday", 18),
        ("last monday", 9),
        ("last tuesday", 3),  # strictly before today
        ("last wednesday", 4),
        ("last sunday", 8),
    ],
)
def test_weekdays(text, day):
    got = dates.parse_when(text, now=NOW, tz=MADRID)
    assert got == datetime(2026, 3, day, tzinfo=MADRID)


def test_weekday_with_time():
    assert when("next friday 10:30") == "2026-03-20T09:30:00Z"
    assert when("fri at 3pm") == "2026-03-13T14:00:00Z"


@given(st.dates(date(2000, 1, 1), date(2040, 12, 31)), st.sampled_from(range(7)))
@PROPS
def test_weekday_rules_hold_every_day(today, wd):
    name = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"][wd]
    now = datetime.combine(today, datetime.min.time(), tzinfo=MADRID).replace(hour=12)

    def day(text):
        return dates.parse_when(text, now=now, tz=MADRID).astimezone(MADRID).date()

    plain, nxt, last = day(name), day(f"next {name}"), day(f"last {name}")
    assert plain.weekday() == nxt.weekday() == last.weekday() == wd
    assert 0 <= (plain - today).days <= 6
    assert nxt - plain == timedelta(days=7)
    assert 1 <= (today - last).days <= 7


def test_month_offsets_clamp_to_month_end():
    jan31 = datetime(2024, 1, 31, 10, tzinfo=MADRID)
    assert dates.parse_when("+1mo", now=jan31, tz=MADRID) == datetime(
        2024, 2, 29, 10, tzinfo=MADRID
    )
    assert dates.parse_when("+1y", now=datetime(2024, 2, 29, tzinfo=MADRID), tz=MADRID) == (
        datetime(2025, 2, 28, tzinfo=MADRID)
    )


# -- DST ---------------------------------------------------------------------


def test_day_spans_on_dst_change_days():
    # Spring forward on Sunday 29 March 2026 (02:00 -> 03:00): a 23-hour day.
    start, end = dates.parse_range("2026-03-29", now=NOW, tz=MADRID)
    assert (dates.to_db(start), dates.to_db(end)) == (
        "2026-03-28T23:00:00Z",
        "2026-03-29T22:00:00Z",
    )
    assert end - start == timedelta(hours=23)
    # Fall back on Sunday 25 October 2026 (03:00 -> 02:00): a 25-hour day.
    start, end = dates.parse_range("2026-10-25", now=NOW, tz=MADRID)
    assert end - start == timedelta(hours=25)


def test_calendar_offsets_keep_wall_time_across_dst():
    sat_noon = datetime(2026, 3, 28, 12, tzinfo=MADRID)
    plus_day = dates.parse_when("+1d", now=sat_noon, tz=MADRID)
    assert plus_day.astimezone(MADRID).hour == 12
    assert plus_day - sat_noon.astimezone(UTC) == timedelta(hours=23)
    plus_24h = dates.parse_when("+24h", now=sat_noon, tz=MADRID)
    assert plus_24h.astimezone(MADRID).hour == 13


def test_local_time_in_the_dst_gap_moves_forward():
    # 02:30 does not exist on 29 March 2026 in Madrid; it is read as 03:30 CEST.
    assert when("2026-03-29 02:30") == "2026-03-29T01:30:00Z"


def test_tomorrow_on_the_eve_of_dst():
    eve = datetime(2026, 3, 28, 23, 30, tzinfo=MADRID)
    assert span("tomorrow", now=eve) == ("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z")
    assert span("today", now=eve) == ("2026-03-27T23:00:00Z", "2026-03-28T23:00:00Z")


# -- parse_range, parse_date -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01", ("2023-12-31T23:00:00Z", "2024-01-01T23:00:00Z")),
        ("today", ("2026-03-09T23:00:00Z", "2026-03-10T23:00:00Z")),
        ("yesterday", ("2026-03-08T23:00:00Z", "2026-03-09T23:00:00Z")),
        ("friday", ("2026-03-12T23:00:00Z", "2026-03-13T23:00:00Z")),
        ("-30d", ("2026-02-07T23:00:00Z", "2026-02-08T23:00:00Z")),
        ("2 weeks ago", ("2026-02-23T23:00:00Z", "2026-02-24T23:00:00Z")),
        ("March 3 2025", ("2025-03-02T23:00:00Z", "2025-03-03T23:00:00Z")),
        ("now", ("2026-03-10T08:00:00Z", "2026-03-10T08:00:00Z")),
        ("+4h", ("2026-03-10T12:00:00Z", "2026-03-10T12:00:00Z")),
        ("tomorrow 9am", ("2026-03-11T08:00:00Z", "2026-03-11T08:00:00Z")),
        ("2024-01-01T10:00:00Z", ("2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z")),
        ("3 Mar 2025 10:00", ("2025-03-03T09:00:00Z", "2025-03-03T09:00:00Z")),
    ],
)
def test_parse_range(text, expected):
    assert span(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-02-29", "2024-02-29"),
        ("today", "2026-03-10"),
        ("tomorrow 9am", "2026-03-11"),
        ("+1mo", "2026-04-10"),
        ("2024-01-01T23:30:00Z", "2024-01-02"),  # local date in Madrid
        ("next friday", "2026-03-20"),
    ],
)
def test_parse_date(text, expected):
    assert dates.parse_date(text, now=NOW, tz=MADRID) == expected


def test_parse_date_range():
    assert dates.parse_date_range("2024-02-28", now=NOW, tz=MADRID) == ("2024-02-28", "2024-02-29")
    with pytest.raises(InvalidInput):
        dates.parse_date_range("9999-12-31", now=NOW, tz=MADRID)


# -- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "5",
        "3d",
        "+3",
        "+3x",
        "garbage",
        "tomorrow 9",
        "25:00",
        "13pm",
        "2024-02-30",
        "2024-13-01",
        "2024-01-01T10:00:00+25:00",
        "next",
        "last blursday",
        "+99999999y",
        "+9999y",
        "March 3 2025 10am EST",
        "ago",
        "in",
        "\x00",
        "2024-01-01T10:00:00+2400",
    ],
)
def test_parse_when_rejects(text):
    with pytest.raises(InvalidInput) as exc:
        dates.parse_when(text, now=NOW, tz=MADRID)
    assert "\n" not in str(exc.value)


def test_error_names_the_text_and_gives_examples():
    with pytest.raises(InvalidInput, match=r"'someday'.*tomorrow 9am"):
        dates.parse_when("someday", now=NOW, tz=MADRID)


def test_parse_when_rejects_non_text():
    with pytest.raises(InvalidInput):
        dates.parse_when(None, now=NOW, tz=MADRID)  # type: ignore[arg-type]


@given(st.text(max_size=40))
@PROPS
def test_arbitrary_text_raises_only_invalid_input(text):
    try:
        got = dates.parse_when(text, now=NOW, tz=MADRID)
    except InvalidInput as e:
        assert "\n" not in str(e)
    else:
        assert got.tzinfo is UTC


_PIECES = [
    "+", "-", "in", "ago", "next", "last", "this", "at", "3", "12", "0", "99999", "d", "w", "mo",
    "m", "min", "h", "y", "days", "friday", "mon", "today", "tomorrow", "now", "am", "pm", "9am",
    "16:00", ":", "2024-01-01", "T", "Z", "+02:00", "March", "2025", " ", " ", "a", "an", "noon",
]  # fmt: skip


@given(st.lists(st.sampled_from(_PIECES), max_size=8))
@PROPS
def test_grammar_soup_raises_only_invalid_input(pieces):
    text = "".join(pieces)
    try:
        start, end = dates.parse_range(text, now=NOW, tz=MADRID)
    except InvalidInput:
        return
    assert start <= end


# -- properties --------------------------------------------------------------

_aware = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2200, 12, 31),
    timezones=st.sampled_from(
        [UTC, MADRID, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata"),
         timezone(timedelta(hours=-3, minutes=-30)), timezone(timedelta(hours=13))]
    ),
).map(lambda d: d.replace(microsecond=0))  # fmt: skip


@given(_aware, st.sampled_from(["T", " "]))
@PROPS
def test_iso_round_trips_through_db(dt, sep):
    text = dt.isoformat(sep=sep)
    got = dates.parse_when(text, now=NOW, tz=MADRID)
    utc = dt.astimezone(UTC)  # (== across zones is False for times in a DST fold or gap)
    assert got == utc
    stored = dates.to_db(got)
    assert len(stored) == 20
    assert dates.from_db(stored) == utc


@given(st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2100, 1, 1)))
@PROPS
def test_naive_iso_is_local_wall_time(naive):
    naive = naive.replace(microsecond=0)
    got = dates.parse_when(naive.isoformat(sep=" "), now=NOW, tz=MADRID)
    expected = naive.replace(tzinfo=MADRID)
    # Times in the spring-forward gap are shifted; every other wall time is kept. Compare
    # instants: Python never finds a time in the autumn's repeated hour equal across zones.
    if expected.astimezone(UTC).astimezone(MADRID).replace(tzinfo=None) == naive:
        assert got == expected.astimezone(UTC)


@given(st.dates(min_value=date(1950, 1, 1), max_value=date(2100, 1, 1)))
@PROPS
def test_day_span_is_one_local_day(day):
    start, end = dates.parse_range(day.isoformat(), now=NOW, tz=MADRID)
    assert start.astimezone(MADRID) == datetime.combine(day, datetime.min.time(), MADRID)
    assert end.astimezone(MADRID).date() == day + timedelta(days=1)
    assert timedelta(hours=23) <= end - start <= timedelta(hours=25)
    assert dates.parse_date(day.isoformat(), now=NOW, tz=MADRID) == day.isoformat()


_now_any = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1)).map(
    lambda d: d.replace(tzinfo=MADRID)
)


@given(
    _now_any,
    st.sampled_from(["s", "m", "h", "d", "w", "mo", "y"]),
    st.integers(0, 400),
    st.integers(0, 400),
)
@PROPS
def test_relative_offsets_are_monotone(now, unit, a, b):
    lo, hi = sorted((a, b))

    def at(text):
        return dates.parse_when(text, now=now, tz=MADRID)

    assert at(f"+{lo}{unit}") <= at(f"+{hi}{unit}")
    assert at(f"-{hi}{unit}") <= at(f"-{lo}{unit}")
    assert at(f"-{lo}{unit}") <= at(f"+{lo}{unit}")
    assert at(f"in {lo} {unit}") == at(f"+{lo}{unit}")
    assert at(f"{lo} {unit} ago") == at(f"-{lo}{unit}")


# -- durations ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15m", 900),
        ("15 min", 900),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("1 hour 30 minutes", 5400),
        ("90s", 90),
        ("2h", 7200),
        ("1.5h", 5400),
        ("1:30", 5400),
        ("0:45:30", 2730),
        ("45", 2700),
        ("0", 0),
        ("1d", 86400),
    ],
)
def test_parse_duration(text, seconds):
    assert dates.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "1x", "-5m", "1:75", "1.5", "0.5s", "1mo", "h"])
def test_parse_duration_rejects(text):
    with pytest.raises(InvalidInput):
        dates.parse_duration(text)


@given(st.text(max_size=20))
@PROPS
def test_parse_duration_raises_only_invalid_input(text):
    try:
        assert dates.parse_duration(text) >= 0
    except InvalidInput:
        pass


# -- birthdays ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1980-05-17", "1980-05-17"),
        (" 19800517 ", "1980-05-17"),
        ("1984-02-29", "1984-02-29"),
        ("--05-17", "--05-17"),
        ("--0517", "--05-17"),
        ("05-17", "--05-17"),
        ("--02-29", "--02-29"),
    ],
)
def test_parse_birthday(text, expected):
    assert dates.parse_birthday(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "1981-02-29", "1980-13-01", "--02-30", "--13-01", "0517", "17/05/1980", "1980-0517", "x"],
)
def test_parse_birthday_rejects(text):
    with pytest.raises(InvalidInput, match="birthday"):
        dates.parse_birthday(text)


@pytest.mark.parametrize("text", ["3/4/2026", "03.04.26", "3-4-2026", "11/12/2025 10:00"])
def test_numeric_dates_that_read_both_ways_are_refused(text):
    with pytest.raises(InvalidInput, match="ambiguous"):
        dates.parse_when(text, now=NOW, tz=MADRID)


@pytest.mark.parametrize(
    ("text", "day"),
    [("25/12/2025", "2025-12-25"), ("12/25/2025", "2025-12-25"), ("4/4/2026", "2026-04-04")],
)
def test_numeric_dates_that_read_one_way_are_read(text, day):
    assert dates.parse_date(text, now=NOW, tz=MADRID) == day
