"""Read and write times: the only module that converts between text, local and UTC.

Instants are stored as fixed-width UTC text ``YYYY-MM-DDTHH:MM:SSZ`` (text order is
time order) and calendar dates as ``YYYY-MM-DD``. Input is local time in the zone
from ``config time.zone`` (else the system's), read by our own small grammar; see
``parse_when`` for what it accepts. Every bad input raises ``InvalidInput`` with a
one-line message; naive datetimes never leave this module.
"""

from __future__ import annotations

import calendar
import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_cli import config
from crm_cli.errors import InvalidInput

DB_FORMAT = "YYYY-MM-DDTHH:MM:SSZ"

EXAMPLES = (
    "try 2024-03-01, '2024-03-01 14:30', today, 'tomorrow 9am', +3d, -2w, "
    "'3 days ago', 'next friday' or 'March 3 2025'"
)

# Regular expressions stay strings: re compiles and caches them on first use, which keeps
# importing this module cheap for commands that never parse a date.
_DB_RE = r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z"

_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "seconds"),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "minutes"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "hours"),
    **dict.fromkeys(("d", "day", "days"), "days"),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), "weeks"),
    **dict.fromkeys(("mo", "mon", "mons", "month", "months"), "months"),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), "years"),
}
_CALENDAR_UNITS = {"days", "weeks", "months", "years"}

_WEEKDAYS = {
    **dict.fromkeys(("monday", "mon"), 0),
    **dict.fromkeys(("tuesday", "tue", "tues"), 1),
    **dict.fromkeys(("wednesday", "wed"), 2),
    **dict.fromkeys(("thursday", "thu", "thur", "thurs"), 3),
    **dict.fromkeys(("friday", "fri"), 4),
    **dict.fromkeys(("saturday", "sat"), 5),
    **dict.fromkeys(("sunday", "sun"), 6),
}

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_weekdays(text: str | None, option: str = "--weekday") -> frozenset[int] | None:
    """Days of the week (Monday 0): ``sat,sun``, ``saturday``, ``weekend``, ``weekdays``,
    ``mon-fri``, ``fri-mon``; None for no text (every day)."""
    if text is None or not text.strip():
        return None
    out: set[int] = set()
    for part in text.lower().replace(" ", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if part in ("weekend", "weekends"):
            out |= {5, 6}
        elif part in ("weekday", "weekdays", "workdays"):
            out |= {0, 1, 2, 3, 4}
        elif "-" in part:
            a, _, b = part.partition("-")
            if a not in _WEEKDAYS or b not in _WEEKDAYS:
                raise InvalidInput(f"{option} {text!r}: {part!r} is not a range like mon-fri")
            i, j = _WEEKDAYS[a], _WEEKDAYS[b]
            out |= {d % 7 for d in range(i, j + 1 if j >= i else j + 8)}
        elif part in _WEEKDAYS:
            out.add(_WEEKDAYS[part])
        else:
            raise InvalidInput(f"{option} {text!r}: {part!r} is not a day (mon … sun, weekend)")
    if not out:
        raise InvalidInput(f"{option} {text!r}: name at least one day")
    return frozenset(out)


_N = r"[0-9]"
_AMOUNT = rf"(?:{_N}{{1,7}}\s*|an?\s+)"
_SPAN = rf"(?:{_AMOUNT}[a-z]+\s*)+"
_OFFSET_RE = rf"([+-])\s*({_SPAN})"
_IN_RE = rf"in\s+({_SPAN})"
_AGO_RE = rf"({_SPAN})\s*ago"
_SPAN_PART_RE = rf"({_N}+|an?)\s*([a-z]+)"
_UNSIGNED_RE = rf"(?:{_N}+\s*[a-z]+\s*)+"

_ISO_RE = (
    rf"(?P<y>{_N}{{4}})-(?P<mo>{_N}{{2}})-(?P<d>{_N}{{2}})"
    rf"(?:[t ]\s*(?P<h>{_N}{{2}}):(?P<mi>{_N}{{2}})"
    rf"(?::(?P<s>{_N}{{2}})(?:[.,](?P<f>{_N}{{1,9}}))?)?"
    rf"\s*(?P<tz>z|utc|[+-]{_N}{{2}}(?::?{_N}{{2}}(?::?{_N}{{2}})?)?)?)?"
)
_TIME = (
    rf"(?:at\s+)?(?:(?P<h12>{_N}{{1,2}})(?::(?P<m12>{_N}{{2}}))?\s*(?P<ampm>am|pm|a\.m\.|p\.m\.)"
    rf"|(?P<h24>{_N}{{1,2}}):(?P<m24>{_N}{{2}})(?::(?P<s24>{_N}{{2}}))?"
    r"|(?P<word>noon|midnight))"
)
_DAY = (
    rf"(?P<iso>{_N}{{4}}-{_N}{{2}}-{_N}{{2}})"
    r"|(?P<rel>today|tomorrow|yesterday)"
    r"|(?:(?P<which>this|next|last)\s+)?(?P<wd>[a-z]+)"
)
_DB = re.compile(_DB_RE)
_ISO = re.compile(_ISO_RE)  # the hot paths: compiled once, not looked up per call
_SPACES = re.compile(r"\s+")
_DAY_TIME_RE = rf"(?:{_DAY})(?:\s+{_TIME})?"
_TIME_ONLY_RE = _TIME
_BARE_NUMBER_RE = r"[+-]?[0-9]+"
# 3/4/2026, 03.04.26, 3-4-2026: read day-first in Europe and month-first in the US.
_NUMERIC_DATE_RE = r"([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{2}|[0-9]{4})\b"


def _q(text: str, limit: int = 60) -> str:
    """Quote user text for a one-line message, clipped if long."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


@dataclass(frozen=True, slots=True)
class _Parsed:
    """A parsed value: its instant, and the local day it covers if it names a whole day."""

    instant: datetime
    day: date | None
    on: date | None = None  # the local date of the value (filled in by _parse)


def _bad(text: str) -> InvalidInput:
    return InvalidInput(f"cannot read {_q(text)} as a date or time; {EXAMPLES}")


def _clock() -> datetime:
    raw = os.environ.get("CRM_NOW")
    if not raw:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        dt = datetime.fromisoformat(raw.strip().replace("z", "Z"))
    except ValueError:
        raise InvalidInput(
            f"CRM_NOW={_q(raw)} is not an ISO-8601 time with an offset, "
            "e.g. 2026-03-10T09:00:00+01:00"
        ) from None
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise InvalidInput(
            f"CRM_NOW={_q(raw)} has no UTC offset; write e.g. 2026-03-10T09:00:00+01:00 or ...Z"
        )
    try:
        return dt.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"CRM_NOW={_q(raw)} is out of range") from None


def now() -> datetime:
    """Return the current instant as an aware UTC datetime (CRM_NOW overrides the clock)."""
    return _clock()


def _system_tz() -> tzinfo:
    key = os.environ.get("TZ", "")
    cached = _SYSTEM_TZ.get(key)
    if cached is None:
        cached = _SYSTEM_TZ[key] = _find_system_tz()
    return cached


_SYSTEM_TZ: dict[str, tzinfo] = {}


def _find_system_tz() -> tzinfo:
    env = os.environ.get("TZ", "").lstrip(":")
    if env:
        try:
            return ZoneInfo(env)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        target = os.path.realpath("/etc/localtime")
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        try:
            return ZoneInfo(target.split("zoneinfo/", 1)[1])
        except (ZoneInfoNotFoundError, ValueError):
            pass
    from dateutil.tz import tzlocal

    return tzlocal()


def local_tz() -> tzinfo:
    """Return the zone for input and display: config time.zone, else the system's."""
    name = config.get("time.zone")
    if not name:
        return _system_tz()
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone {_q(str(name))} in config time.zone; "
            "use an IANA name such as Europe/Madrid"
        ) from None


def to_db(dt: datetime) -> str:
    """Format an aware datetime as fixed-width UTC text for the database."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt!r}: attach a time zone before storing it")
    u = dt.astimezone(UTC)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}Z"


def from_db(text: str) -> datetime:
    """Read database UTC text back into an aware UTC datetime."""
    m = _DB.fullmatch(text)
    if m:
        return datetime(*map(int, m.groups()), tzinfo=UTC)
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        raise ValueError(f"stored time {text!r} has no UTC offset (expected {DB_FORMAT})")
    return dt.astimezone(UTC)


def julian_day(dt: datetime) -> float:
    """An aware instant as a Julian day number (SQLite's julianday())."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}")
    return dt.timestamp() / 86400.0 + 2440587.5


def to_local(dt: datetime, tz: tzinfo | None = None) -> datetime:
    """Convert an aware datetime to the local zone (config time.zone unless given)."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}")
    return dt.astimezone(tz or local_tz())


# -- helpers -----------------------------------------------------------------


def _context(now_: datetime | None, tz: tzinfo | None) -> tuple[datetime, tzinfo]:
    tz = tz or local_tz()
    current = _clock() if now_ is None else now_
    if current.tzinfo is None or current.utcoffset() is None:
        raise ValueError("now= must be an aware datetime")
    return current.astimezone(tz), tz


def _at(day: date, t: time, tz: tzinfo) -> datetime:
    """Attach a local wall time on a local day, then express it in UTC."""
    return datetime.combine(day, t).replace(tzinfo=tz).astimezone(UTC)


def _midnight(day: date, tz: tzinfo) -> datetime:
    return _at(day, time(0), tz)


def _add_months(d: datetime, months: int) -> datetime:
    total = d.year * 12 + (d.month - 1) + months
    year, month0 = divmod(total, 12)
    if not 1 <= year <= 9999:
        raise OverflowError("year out of range")
    month = month0 + 1
    day = min(d.day, calendar.monthrange(year, month)[1])
    return d.replace(year=year, month=month, day=day)


def _span(text: str) -> dict[str, int] | None:
    """Read '3 days', '1w2d', '2 hours 30 min' into unit totals (None if a unit is unknown)."""
    totals: dict[str, int] = {}
    for amount, unit in re.findall(_SPAN_PART_RE, text):
        name = _UNITS.get(unit)
        if name is None:
            return None
        n = 1 if amount in ("a", "an") else int(amount)
        totals[name] = totals.get(name, 0) + n
    return totals


def _offset(
    local_now: datetime, tz: tzinfo, units: dict[str, int] | None, sign: int
) -> _Parsed | None:
    """Shift now: calendar units keep the local wall time, sub-day units are elapsed time."""
    if units is None:
        return None
    wall = local_now.replace(tzinfo=None)
    wall = _add_months(wall, sign * (units.get("years", 0) * 12 + units.get("months", 0)))
    wall += timedelta(days=sign * (units.get("weeks", 0) * 7 + units.get("days", 0)))
    instant = wall.replace(tzinfo=tz).astimezone(UTC)
    instant += sign * timedelta(
        hours=units.get("hours", 0),
        minutes=units.get("minutes", 0),
        seconds=units.get("seconds", 0),
    )
    if set(units) <= _CALENDAR_UNITS:
        return _Parsed(instant, instant.astimezone(tz).date())
    return _Parsed(instant, None)


def _time_of(m: re.Match) -> time | None:
    """Read the time groups of a match (None if the text has no time)."""
    g = m.groupdict()
    if g.get("word"):
        return time(12) if g["word"] == "noon" else time(0)
    if g.get("h12"):
        h, mi = int(g["h12"]), int(g["m12"] or 0)
        if not 1 <= h <= 12 or mi > 59:
            raise ValueError("bad 12-hour time")
        pm = g["ampm"].startswith("p")
        return time((h % 12) + (12 if pm else 0), mi)
    if g.get("h24"):
        return time(int(g["h24"]), int(g["m24"]), int(g["s24"] or 0))
    return None


def _weekday(which: str | None, wd: int, today: date) -> date:
    ahead = (wd - today.weekday()) % 7
    if which == "next":
        return today + timedelta(days=ahead + 7)
    if which == "last":
        back = (today.weekday() - wd) % 7 or 7
        return today - timedelta(days=back)
    return today + timedelta(days=ahead)


def _iso(m: re.Match, tz: tzinfo) -> _Parsed:
    g = m.groupdict()
    day = date(int(g["y"]), int(g["mo"]), int(g["d"]))
    if g["h"] is None:
        return _Parsed(_midnight(day, tz), day)
    micro = int((g["f"] or "0")[:6].ljust(6, "0"))
    t = time(int(g["h"]), int(g["mi"]), int(g["s"] or 0), micro)
    zone = g["tz"]
    if zone is None:
        return _Parsed(_at(day, t, tz), None)
    if zone in ("z", "utc"):
        offset = UTC
    else:
        digits = zone[1:].replace(":", "")
        seconds = int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60 + int(digits[4:6] or 0)
        offset = timezone(timedelta(seconds=seconds if zone[0] == "+" else -seconds))
    return _Parsed(datetime.combine(day, t, tzinfo=offset).astimezone(UTC), None)


def _day_time(m: re.Match, local_now: datetime, tz: tzinfo) -> _Parsed | None:
    g = m.groupdict()
    today = local_now.date()
    if g["iso"]:
        y, mo, d = g["iso"].split("-")
        day = date(int(y), int(mo), int(d))
    elif g["rel"]:
        day = today + timedelta(days={"today": 0, "tomorrow": 1, "yesterday": -1}[g["rel"]])
    else:
        wd = _WEEKDAYS.get(g["wd"])
        if wd is None:
            return None
        day = _weekday(g["which"], wd, today)
    t = _time_of(m)
    if t is None:
        return _Parsed(_midnight(day, tz), day)
    return _Parsed(_at(day, t, tz), None)


def _fallback(original: str, local_now: datetime, tz: tzinfo) -> _Parsed | None:
    """Let dateutil read free forms such as 'March 3 2025' or '3 Mar 2025 10:00'."""
    import warnings

    from dateutil import parser

    base = local_now.replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            dt = parser.parse(original, default=base)
            # Parse again with another default hour: if the hour changes, none was given.
            timed = parser.parse(original, default=base.replace(hour=13)).hour == dt.hour
    except Exception:  # dateutil raises ValueError, OverflowError and friends
        return None
    if caught:  # e.g. an unknown zone name such as 'EST', which dateutil would ignore
        return None
    if dt.tzinfo is not None and dt.utcoffset() is not None:
        return _Parsed(dt.astimezone(UTC), None)
    dt = dt.replace(tzinfo=None)
    if not timed:
        return _Parsed(_midnight(dt.date(), tz), dt.date())
    return _Parsed(dt.replace(tzinfo=tz).astimezone(UTC), None)


def _parse(text: str, now_: datetime | None, tz: tzinfo | None) -> _Parsed:
    if not isinstance(text, str):
        raise InvalidInput(f"expected a date or time as text, not {type(text).__name__}")
    original = text.strip()
    s = _SPACES.sub(" ", original.lower())
    if not s:
        raise InvalidInput(f"empty date or time; {EXAMPLES}")
    local_now, tz = _context(now_, tz)
    try:
        result = _parse_grammar(s, original, local_now, tz)
        if result is None:
            raise _bad(original)
        on = result.day or result.instant.astimezone(tz).date()
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"{_q(original)} is not a valid date or time (no such day or hour, or out of range)"
        ) from None
    return _Parsed(result.instant, result.day, on)


def _parse_grammar(s: str, original: str, local_now: datetime, tz: tzinfo) -> _Parsed | None:
    if s == "now":
        return _Parsed(local_now.astimezone(UTC), None)
    if m := _ISO.fullmatch(s):
        return _iso(m, tz)
    if m := re.fullmatch(_OFFSET_RE, s):
        return _offset(local_now, tz, _span(m.group(2)), 1 if m.group(1) == "+" else -1)
    if m := re.fullmatch(_IN_RE, s):
        return _offset(local_now, tz, _span(m.group(1)), 1)
    if m := re.fullmatch(_AGO_RE, s):
        return _offset(local_now, tz, _span(m.group(1)), -1)
    if m := re.fullmatch(_DAY_TIME_RE, s):
        parsed = _day_time(m, local_now, tz)
        if parsed is not None:
            return parsed
    if m := re.fullmatch(_TIME_ONLY_RE, s):
        t = _time_of(m)
        assert t is not None
        return _Parsed(_at(local_now.date(), t, tz), None)
    if re.fullmatch(_BARE_NUMBER_RE, s) or (re.fullmatch(_UNSIGNED_RE, s) and _span(s) is not None):
        return None  # '5' or '3d': too ambiguous to guess (write +3d, -3d or a date)
    if not any(ch.isalnum() for ch in s):
        return None
    if m := re.match(_NUMERIC_DATE_RE, s):
        a, b = int(m.group(1)), int(m.group(2))
        if a != b and a <= 12 and b <= 12:
            raise InvalidInput(
                f"{_q(original)} is ambiguous (day/month or month/day?); "
                "write it as YYYY-MM-DD, e.g. 2026-04-03"
            )
    return _fallback(original, local_now, tz)


# -- public parsers ----------------------------------------------------------


def parse_when(text: str, *, now: datetime | None = None, tz: tzinfo | None = None) -> datetime:
    """Read a local date or time typed by a user into an aware UTC datetime.

    Accepted (case-insensitive; ``tz`` is the local zone, ``now`` the clock):

    - ISO: ``2024-01-01`` (local midnight), ``2024-01-01 14:30``, ``2024-01-01T14:30:00``
      (local), ``2024-01-01T14:30:00+02:00`` / ``...Z`` (that instant).
    - ``now``; ``today``, ``yesterday``, ``tomorrow`` (local midnight), each optionally
      followed by a time: ``tomorrow 9am``, ``yesterday 16:00``, ``today 5:30pm``,
      ``today at noon``. A time alone (``15:00``, ``9am``) means today.
    - Offsets from now: ``+3d``, ``-30d``, ``-2w``, ``+1mo``, ``-1y``, ``+4h``, ``+15m`` /
      ``+15min`` (``m`` is minutes, ``mo`` months), compounds such as ``+1d12h``,
      ``in 3 days``, ``in an hour``, ``3 days ago``, ``2 weeks ago``. Days, weeks, months
      and years move the calendar and keep the local wall-clock time (``+1mo`` from
      Jan 31 is Feb 28/29); hours, minutes and seconds are elapsed time.
    - Weekdays (``friday`` or ``fri``), optionally with a time:
      ``friday`` / ``this friday`` is the first Friday on or after today (today if today
      is a Friday); ``next friday`` is seven days after that, so always a Friday of a
      later week (on Thursday it is 8 days away, on Friday 7); ``last friday`` is the
      most recent Friday strictly before today (on a Friday, a week ago).
    - Anything else goes to ``dateutil`` (``March 3 2025``, ``3 Mar 2025 10:00``).

    A date with no time means local midnight. A bare number (``5``) or an unsigned offset
    (``3d``) is refused as ambiguous. Anything unreadable raises ``InvalidInput``.
    """
    return _parse(text, now, tz).instant


def parse_range(
    text: str, *, now: datetime | None = None, tz: tzinfo | None = None
) -> tuple[datetime, datetime]:
    """Return the UTC span ``[start, end)`` a date or time text denotes.

    A value naming a whole day -- a date without a time (``2024-01-01``, ``today``,
    ``friday``, ``March 3 2025``) or a day/week/month/year offset (``-30d``,
    ``2 weeks ago``) -- covers that local day from midnight to the next midnight (23 or
    25 hours on DST-change days). Anything with a time or a sub-day offset (``now``,
    ``+4h``, ``tomorrow 9am``) is a zero-width span: ``start == end``.

    Filters compare a stored instant ``x`` with the span so: ``field:v`` means
    ``start <= x < end`` (``x == start`` when zero-width), ``>`` means after the span
    (``x >= end``; ``x > start`` when zero-width), ``>=`` means ``x >= start``, ``<``
    means ``x < start``, and ``<=`` means up to the end (``x < end``; ``x <= start``
    when zero-width).
    """
    parsed = _parse(text, now, tz)
    if parsed.day is None:
        return parsed.instant, parsed.instant
    zone = tz or local_tz()
    try:
        end = _midnight(parsed.day + timedelta(days=1), zone)
    except OverflowError:
        raise InvalidInput(f"{_q(text.strip())} is too far in the future") from None
    return _midnight(parsed.day, zone), end


def parse_date(text: str, *, now: datetime | None = None, tz: tzinfo | None = None) -> str:
    """Read a date typed by a user into ``YYYY-MM-DD`` (the local date of the value)."""
    on = _parse(text, now, tz).on
    assert on is not None
    return on.isoformat()


def parse_date_range(
    text: str, *, now: datetime | None = None, tz: tzinfo | None = None
) -> tuple[str, str]:
    """Return the ``[start, end)`` span of calendar dates a text denotes (one local day)."""
    day = date.fromisoformat(parse_date(text, now=now, tz=tz))
    if day == date.max:
        raise InvalidInput(f"{_q(text.strip())} is too far in the future")
    return day.isoformat(), (day + timedelta(days=1)).isoformat()


_DURATION_PART_RE = r"([0-9]{1,9}(?:\.[0-9]{1,6})?|\.[0-9]{1,6})\s*([a-z]+)"
_DURATION_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
}
_DURATION_SEQ_RE = r"(?:(?:[0-9]{1,9}(?:\.[0-9]{1,6})?|\.[0-9]{1,6})\s*[a-z]+\s*)+"
_CLOCK_RE = r"([0-9]{1,6}):([0-9]{2})(?::([0-9]{2}))?"


def parse_duration(text: str) -> int:
    """Read a duration (``15m``, ``1h30m``, ``90s``, ``1:30``, ``45`` minutes) in seconds."""
    if not isinstance(text, str):
        raise InvalidInput(f"expected a duration as text, not {type(text).__name__}")
    s = re.sub(r"\s+", " ", text.strip().lower())
    bad = InvalidInput(
        f"cannot read {_q(text.strip())} as a duration; "
        "try 15m, 1h30m, 90s, 2h, 1:30 or 45 (minutes)"
    )
    if not s:
        raise bad
    if re.fullmatch(r"[0-9]{1,9}", s):
        return int(s) * 60
    if m := re.fullmatch(_CLOCK_RE, s):
        h, mi, sec = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if mi > 59 or sec > 59:
            raise bad
        return h * 3600 + mi * 60 + sec
    if not re.fullmatch(_DURATION_SEQ_RE, s):
        raise bad
    total = Decimal(0)
    for amount, unit in re.findall(_DURATION_PART_RE, s):
        factor = _DURATION_UNITS.get(unit)
        if factor is None:
            raise bad
        try:
            total += Decimal(amount) * factor
        except InvalidOperation:
            raise bad from None
    if total != total.to_integral_value():
        raise InvalidInput(f"duration {_q(text.strip())} is not a whole number of seconds")
    return int(total)


_BIRTHDAY_FULL_RE = r"([0-9]{4})-([0-9]{2})-([0-9]{2})|([0-9]{4})([0-9]{2})([0-9]{2})"
_BIRTHDAY_MD_RE = r"--([0-9]{2})-?([0-9]{2})|([0-9]{2})-([0-9]{2})"


def parse_birthday(text: str) -> str:
    """Read a birthday as ``YYYY-MM-DD`` or, without a year, vCard-style ``--MM-DD``.

    Also accepted: ``YYYYMMDD``, ``--MMDD`` and ``MM-DD``. Feb 29 is allowed without a year.
    """
    if not isinstance(text, str):
        raise InvalidInput(f"expected a birthday as text, not {type(text).__name__}")
    s = text.strip()
    if m := re.fullmatch(_BIRTHDAY_FULL_RE, s):
        y, mo, d = (int(g) for g in m.groups() if g is not None)
        try:
            return date(y, mo, d).isoformat()
        except ValueError:
            raise InvalidInput(f"birthday {_q(s)} is not a real date") from None
    if m := re.fullmatch(_BIRTHDAY_MD_RE, s):
        mo, d = (int(g) for g in m.groups() if g is not None)
        try:
            date(2000, mo, d)  # a leap year, so --02-29 is allowed
        except ValueError:
            raise InvalidInput(f"birthday {_q(s)} is not a real month and day") from None
        return f"--{mo:02d}-{d:02d}"
    raise InvalidInput(
        f"birthday {_q(s)} must be YYYY-MM-DD (or YYYYMMDD) or, without a year, --MM-DD (or MM-DD)"
    )


# -- periods (reports) -------------------------------------------------------

PERIOD_EXAMPLES = (
    "try 2026, 2026-Q1, Q1, 2026-03, march, 2026-W10, 2026-03-10, today, 'this month', "
    "'last quarter', 'last 30 days', ytd or 2026-01..2026-03"
)
PERIOD_UNITS = ("day", "week", "month", "quarter", "year")

_MONTHS = {
    name: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )  # fmt: skip
    for name in names
}
_PERIOD_UNIT_WORDS = {
    **dict.fromkeys(("day", "days", "d"), "day"),
    **dict.fromkeys(("week", "weeks", "w", "wk", "wks"), "week"),
    **dict.fromkeys(("month", "months", "mo"), "month"),
    **dict.fromkeys(("quarter", "quarters", "q"), "quarter"),
    **dict.fromkeys(("year", "years", "y", "yr", "yrs"), "year"),
}
_TO_DATE = {"wtd": "week", "mtd": "month", "qtd": "quarter", "ytd": "year"}


@dataclass(frozen=True, slots=True)
class Period:
    """A span of whole local days: ``start`` inclusive, ``end`` exclusive, both UTC."""

    start: datetime
    end: datetime
    first: date  # the first local day
    last: date  # the last local day (inclusive)
    label: str  # 2026, 2026-Q1, 2026-03, 2026-W10, 2026-03-10 or FIRST..LAST

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    def db(self) -> tuple[str, str]:
        """The span as database text, for ``start <= column < end``."""
        return to_db(self.start), to_db(self.end)


def _unit_start(day: date, unit: str) -> date:
    if unit == "day":
        return day
    if unit == "week":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    if unit == "month":
        return day.replace(day=1)
    if unit == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return date(day.year, 1, 1)


def _unit_add(day: date, unit: str, n: int) -> date:
    """Move a unit-aligned first day by n units (n may be negative)."""
    if unit == "day":
        return day + timedelta(days=n)
    if unit == "week":
        return day + timedelta(weeks=n)
    months = {"month": 1, "quarter": 3, "year": 12}[unit] * n
    total = day.year * 12 + day.month - 1 + months
    year, month0 = divmod(total, 12)
    if not 1 <= year <= 9999:
        raise OverflowError("year out of range")
    return date(year, month0 + 1, 1)


def _unit_label(first: date, unit: str) -> str:
    if unit == "day":
        return first.isoformat()
    if unit == "week":
        y, w, _ = first.isocalendar()
        return f"{y}-W{w:02d}"
    if unit == "month":
        return f"{first.year:04d}-{first.month:02d}"
    if unit == "quarter":
        return f"{first.year:04d}-Q{(first.month - 1) // 3 + 1}"
    return f"{first.year:04d}"


def _days(first: date, last: date, tz: tzinfo, label: str | None = None) -> Period:
    """The local days first..last (inclusive) as a Period."""
    try:
        end_day = last + timedelta(days=1)
        return Period(_midnight(first, tz), _midnight(end_day, tz), first, last,
                      label or f"{first.isoformat()}..{last.isoformat()}")  # fmt: skip
    except OverflowError:
        raise InvalidInput(f"{first.isoformat()}..{last.isoformat()} is out of range") from None


def unit_period(day: date, unit: str, tz: tzinfo | None = None) -> Period:
    """The calendar day/week/month/quarter/year (local) that contains ``day``."""
    first = _unit_start(day, unit)
    try:
        last = _unit_add(first, unit, 1) - timedelta(days=1)
    except (OverflowError, ValueError):
        raise InvalidInput(f"{day.isoformat()} is out of range") from None
    return _days(first, last, tz or local_tz(), _unit_label(first, unit))


def _named_period(s: str, today: date, tz: tzinfo) -> Period | None:
    """One period from the grammar of ``parse_period`` (``s`` lower-case, spaces collapsed)."""
    try:
        if m := re.fullmatch(r"([0-9]{4})", s):
            return unit_period(date(int(m[1]), 1, 1), "year", tz)
        if m := re.fullmatch(r"([0-9]{4})-?q([1-4])|q([1-4])[ -]?([0-9]{4})|q([1-4])", s):
            year = int(m[1] or m[4] or today.year)
            q = int(m[2] or m[3] or m[5])
            return unit_period(date(year, 3 * q - 2, 1), "quarter", tz)
        if m := re.fullmatch(r"([0-9]{4})-([0-9]{2})", s):
            return unit_period(date(int(m[1]), int(m[2]), 1), "month", tz)
        if m := re.fullmatch(r"([0-9]{4})-?w([0-9]{2})", s):
            return unit_period(date.fromisocalendar(int(m[1]), int(m[2]), 1), "week", tz)
        if m := re.fullmatch(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", s):
            return unit_period(date(int(m[1]), int(m[2]), int(m[3])), "day", tz)
        if m := re.fullmatch(r"([a-z]+)(?: ([0-9]{4}))?|([0-9]{4}) ([a-z]+)", s):
            name, year = (m[1], m[2]) if m[1] else (m[4], m[3])
            if name in _MONTHS:
                return unit_period(date(int(year or today.year), _MONTHS[name], 1), "month", tz)
    except ValueError:
        raise InvalidInput(f"{_q(s)} is not a real date, week, month or quarter") from None
    if s in ("today", "yesterday", "tomorrow"):
        return unit_period(today + timedelta(days={"today": 0, "yesterday": -1,
                                                    "tomorrow": 1}[s]), "day", tz)  # fmt: skip
    if m := re.fullmatch(r"(this|last|previous|next) ([a-z]+)", s):
        unit = _PERIOD_UNIT_WORDS.get(m[2])
        if unit is None:
            return None
        step = {"this": 0, "last": -1, "previous": -1, "next": 1}[m[1]]
        first = _unit_add(_unit_start(today, unit), unit, step)
        return unit_period(first, unit, tz)
    if m := re.fullmatch(r"(?:last|past) ([0-9]{1,4}) ?([a-z]+)", s):
        unit = _PERIOD_UNIT_WORDS.get(m[2])
        n = int(m[1])
        if unit is None or n < 1:
            return None
        # The n units that end with today: "last 30 days" is today and the 29 before it.
        if unit in ("day", "week"):
            first = today - timedelta(days=n * (7 if unit == "week" else 1) - 1)
        else:
            months = n * {"month": 1, "quarter": 3, "year": 12}[unit]
            first = _add_months(datetime.combine(today, time(0)), -months).date()
            first += timedelta(days=1)
        return _days(first, today, tz, f"last {n} {unit}{'s' if n > 1 else ''}")
    unit = _TO_DATE.get(s) or (
        _PERIOD_UNIT_WORDS.get(s.removesuffix(" to date")) if s.endswith(" to date") else None
    )
    if unit is not None:
        first = _unit_start(today, unit)
        return _days(first, today, tz, f"{_unit_label(first, unit)} to date")
    return None


def parse_period(text: str, *, now: datetime | None = None, tz: tzinfo | None = None) -> Period:
    """Read a reporting period in plain words into whole local days (config time.zone).

    - Calendar units: ``2026``, ``2026-Q1`` (also ``Q1 2026``, ``2026Q1``, and ``Q1`` for
      this year), ``2026-03``, ``march`` / ``mar 2026``, ``2026-W10`` (ISO week, Monday
      first), ``2026-03-10``.
    - Relative: ``today``, ``yesterday``, ``this week|month|quarter|year``, ``last …``
      (the previous whole one), ``next …``.
    - Rolling, ending with today: ``last 30 days``, ``past 6 months``, ``last 2 weeks``.
    - To date: ``ytd``, ``qtd``, ``mtd``, ``wtd``, ``year to date``.
    - A span of two of these: ``2026-01..2026-03``, ``2026-01-15..today``.
    - Any other single day ``parse_when`` reads (``friday``, ``March 3 2025``, ``-30d``).
    """
    if not isinstance(text, str):
        raise InvalidInput(f"expected a period as text, not {type(text).__name__}")
    s = _SPACES.sub(" ", text.strip().lower())
    local_now, zone = _context(now, tz)
    today = local_now.date()
    if ".." in s:
        a, _, b = s.partition("..")
        if not a.strip() or not b.strip():
            raise InvalidInput(f"{_q(text.strip())} needs a period on each side of '..'")
        first = parse_period(a, now=now, tz=zone)
        last = parse_period(b, now=now, tz=zone)
        if last.last < first.first:
            raise InvalidInput(f"{_q(text.strip())} ends before it starts")
        return _days(first.first, last.last, zone)
    if not s:
        raise InvalidInput(f"the period is empty; {PERIOD_EXAMPLES}")
    try:
        found = _named_period(s, today, zone)
    except OverflowError:
        raise InvalidInput(f"{_q(text.strip())} is out of range") from None
    if found is not None:
        return found
    try:
        parsed = _parse(s, now, zone)
    except InvalidInput:
        raise InvalidInput(
            f"cannot read {_q(text.strip())} as a period; {PERIOD_EXAMPLES}"
        ) from None
    if parsed.day is None:
        raise InvalidInput(f"{_q(text.strip())} is a moment, not a period; {PERIOD_EXAMPLES}")
    return unit_period(parsed.day, "day", zone)


def period_between(
    start: str | None, end: str | None, *, now: datetime | None = None, tz: tzinfo | None = None
) -> Period:
    """``--from START --to END``: from the first day of START to the last day of END,
    both periods in ``parse_period``'s words (``--from 2026-01 --to 2026-03`` is the
    quarter). A missing side is open: from the year 1 / to today."""
    local_now, zone = _context(now, tz)
    first = parse_period(start, now=now, tz=zone).first if start else date(1, 1, 1)
    last = parse_period(end, now=now, tz=zone).last if end else local_now.date()
    if last < first:
        raise InvalidInput(f"--to {end or 'today'} is before --from {start}")
    return _days(first, last, zone)


def buckets(period: Period, unit: str, tz: tzinfo | None = None) -> list[Period]:
    """The calendar units (local) that cover ``period``, each cut to the period."""
    if unit not in PERIOD_UNITS:
        raise InvalidInput(f"unknown period unit {_q(unit)}; use one of {', '.join(PERIOD_UNITS)}")
    zone = tz or local_tz()
    out: list[Period] = []
    first = _unit_start(period.first, unit)
    while first <= period.last:
        nxt = _unit_add(first, unit, 1)
        a, b = max(first, period.first), min(nxt - timedelta(days=1), period.last)
        out.append(_days(a, b, zone, _unit_label(first, unit)))
        first = nxt
    return out
