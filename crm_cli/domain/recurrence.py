"""Recurring follow-ups: read ``--every`` into an RRULE and find the next occurrence.

Rules are stored as a normalised RFC 5545 RRULE without DTSTART (``FREQ=WEEKLY;INTERVAL=2``);
the series' anchor is its first due time, kept beside the rule. Occurrences are computed
in local wall time: the anchor is turned into a naive local datetime in the user's zone,
``dateutil.rrule`` iterates naive local datetimes, and each one gets the zone attached
and is converted to UTC. So a weekly 09:00 follow-up stays at 09:00 across DST changes.
A local time that does not exist (inside a spring-forward gap) is read with the offset
before the change, so 02:30 on that day becomes 03:30 local.

RFC 5545 semantics hold: ``FREQ=MONTHLY`` anchored on the 31st (or ``monthly on the
31st``) skips months without a 31st; use ``last day of the month`` (``BYMONTHDAY=-1``)
for month ends. ``dateutil`` is imported lazily (start-up budget).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo

from crm_cli.errors import InvalidInput

EXAMPLES = (
    "try 2w, 3d, daily, weekly, monthly, yearly, weekdays, 'every 2 weeks', "
    "'weekly on monday', 'every friday', 'monthly on the 1st', 'last day of the month' "
    "or an RRULE such as FREQ=MONTHLY;BYMONTHDAY=1"
)

# How far ahead to look for the next occurrence before deciding a series has ended
# (Feb 29 on a Monday recurs every 28 years).
HORIZON_YEARS = 30

_FREQ_WORDS = {
    "hourly": "HOURLY",
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "yearly": "YEARLY",
    "annually": "YEARLY",
}
_UNIT_FREQ = {
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "HOURLY"),
    **dict.fromkeys(("d", "day", "days"), "DAILY"),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), "WEEKLY"),
    **dict.fromkeys(("mo", "month", "months"), "MONTHLY"),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), "YEARLY"),
}
_BARE_UNITS = {
    "hour": "HOURLY",
    "day": "DAILY",
    "week": "WEEKLY",
    "month": "MONTHLY",
    "year": "YEARLY",
}
_DAYS = {
    **dict.fromkeys(("monday", "mondays", "mon"), "MO"),
    **dict.fromkeys(("tuesday", "tuesdays", "tue", "tues"), "TU"),
    **dict.fromkeys(("wednesday", "wednesdays", "wed"), "WE"),
    **dict.fromkeys(("thursday", "thursdays", "thu", "thur", "thurs"), "TH"),
    **dict.fromkeys(("friday", "fridays", "fri"), "FR"),
    **dict.fromkeys(("saturday", "saturdays", "sat"), "SA"),
    **dict.fromkeys(("sunday", "sundays", "sun"), "SU"),
}
_DAY_ORDER = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
_DAY_NAMES = dict(zip(_DAY_ORDER, ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]))
_ORDINALS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3,
    "fourth": 4, "4th": 4, "last": -1,
}  # fmt: skip
_RAW_KEYS = {
    "FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST", "BYSETPOS", "BYMONTH", "BYMONTHDAY",
    "BYYEARDAY", "BYWEEKNO", "BYDAY", "BYHOUR", "BYMINUTE", "BYSECOND",
}  # fmt: skip
_ALLOWED_FREQ = ("HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")


def _q(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _bad(text: str, why: str | None = None) -> InvalidInput:
    reason = f" ({why})" if why else ""
    return InvalidInput(f"cannot read {_q(text)} as a repeat rule{reason}; {EXAMPLES}")


def _day_list(words: str) -> list[str] | None:
    """'monday', 'mon and thu', 'monday, wednesday and friday' -> ['MO', ...]."""
    parts = [p for p in re.split(r"\s*(?:,|\band\b|&|\+)\s*", words.strip()) if p]
    codes = [_DAYS.get(p) for p in parts]
    if not codes or None in codes:
        return None
    return sorted(set(codes), key=_DAY_ORDER.index)  # type: ignore[arg-type]


def _monthday(word: str) -> int | None:
    """'1st', '15th', '2', 'day 15' -> 1..31 (None if not a day of the month)."""
    m = re.fullmatch(r"(?:day\s+)?([0-9]{1,2})(?:st|nd|rd|th)?", word)
    if not m:
        return None
    n = int(m.group(1))
    return n if 1 <= n <= 31 else None


def _words(s: str) -> str | None:
    """Read the plain-words grammar into RRULE parts (None if it is not ours)."""
    s = re.sub(r"^(?:every|each)\s+", "", s)
    s = re.sub(r"\s+", " ", s).strip()
    s = re.sub(r"^other ", "2 ", s)  # 'every other week'
    if s in _FREQ_WORDS:
        return f"FREQ={_FREQ_WORDS[s]}"
    if s in ("fortnight", "fortnightly"):
        return "FREQ=WEEKLY;INTERVAL=2"
    if s in ("quarter", "quarterly"):
        return "FREQ=MONTHLY;INTERVAL=3"
    if s in ("weekday", "weekdays", "working day", "working days", "workday", "workdays"):
        return "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
    if s in ("weekend", "weekends", "weekend day", "weekend days"):
        return "FREQ=WEEKLY;BYDAY=SA,SU"
    if s in ("last day of the month", "last day of month", "month end", "end of the month",
             "end of month", "month on the last day", "monthly on the last day"):  # fmt: skip
        return "FREQ=MONTHLY;BYMONTHDAY=-1"
    # 'day', 'week', 'month', 'year' (after 'every'), '2w', '3 days', '2 weeks on friday'
    m = re.fullmatch(r"(?:([0-9]{1,4})\s*)?([a-z]+)(?: on (?:the )?(.+))?", s)
    if m:
        n = int(m.group(1) or 1)
        unit = m.group(2)
        if m.group(1) is None:  # 'every week', 'weekly on friday'; 'mon' is a Monday here
            freq = _BARE_UNITS.get(unit) or _FREQ_WORDS.get(unit)
        else:
            freq = _UNIT_FREQ.get(unit)
        if freq is not None:
            if n < 1:
                return None
            base = f"FREQ={freq}" + (f";INTERVAL={n}" if n > 1 else "")
            on = m.group(3)
            if on is None:
                return base
            return _on(base, freq, on)
    # 'friday', 'mon and thu', 'mondays'
    days = _day_list(s)
    if days:
        return f"FREQ=WEEKLY;BYDAY={','.join(days)}"
    # 'month on the 1st' after 'every' was dropped is handled above; '1st of the month'
    m = re.fullmatch(r"(?:the )?(.+?) of (?:the|each|every) month", s)
    if m:
        return _on("FREQ=MONTHLY", "MONTHLY", m.group(1))
    return None


def _on(base: str, freq: str, on: str) -> str | None:
    """The 'on ...' part: weekdays for weekly rules, a day or 'last friday' for monthly ones."""
    on = on.strip()
    if freq == "WEEKLY":
        days = _day_list(on)
        return f"{base};BYDAY={','.join(days)}" if days else None
    if freq == "MONTHLY":
        if on in ("last day", "last day of the month", "last"):
            return f"{base};BYMONTHDAY=-1"
        days = [_monthday(p) for p in re.split(r"\s*(?:,|\band\b|&)\s*", on) if p]
        if days and None not in days:
            return f"{base};BYMONTHDAY={','.join(str(d) for d in sorted(set(days)))}"  # type: ignore[type-var]
        m = re.fullmatch(r"([a-z0-9]+) ([a-z]+)", on)
        if m and m.group(1) in _ORDINALS and m.group(2) in _DAYS:
            return f"{base};BYDAY={_ORDINALS[m.group(1)]}{_DAYS[m.group(2)]}"
    return None


def _until_local(rule: str, tz: tzinfo) -> str:
    """Rewrite UNTIL=...Z (UTC) as the same instant in local wall time (our rules are local)."""

    def fix(m: re.Match) -> str:
        u = datetime.strptime(m.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        return "UNTIL=" + u.astimezone(tz).strftime("%Y%m%dT%H%M%S")

    return re.sub(r"UNTIL=([0-9]{8}T[0-9]{6})Z", fix, rule)


def _rrule(rule: str, dtstart: datetime):
    from dateutil.rrule import rrulestr

    return rrulestr(rule, dtstart=dtstart)


def parse(text: str, *, tz: tzinfo | None = None) -> str:
    """Read ``--every`` text into a normalised RRULE (no DTSTART); bad text raises InvalidInput."""
    if not isinstance(text, str):
        raise InvalidInput(f"expected a repeat rule as text, not {type(text).__name__}")
    original = text.strip()
    if not original:
        raise InvalidInput(f"empty repeat rule; {EXAMPLES}")
    if "\n" in original or "\r" in original:
        raise _bad(original, "one line only")
    s = re.sub(r"\s+", " ", original.lower())
    if s.startswith("rrule:") or s.startswith("freq=") or "=" in s:
        rule = _raw(original, tz)
    else:
        rule = _words(s)
        if rule is None:
            raise _bad(original)
    return _normalise(rule, original)


def _raw(original: str, tz: tzinfo | None) -> str:
    body = re.sub(r"^rrule:", "", original.strip(), flags=re.IGNORECASE).strip().rstrip(";")
    parts: dict[str, str] = {}
    for item in body.split(";"):
        key, sep, value = item.partition("=")
        key = key.strip().upper()
        if not sep or not value.strip():
            raise _bad(original, f"'{item.strip()}' is not NAME=VALUE")
        if key not in _RAW_KEYS:
            raise _bad(original, f"unsupported part {key}")
        if key in parts:
            raise _bad(original, f"{key} given twice")
        parts[key] = value.strip().upper()
    if "FREQ" not in parts:
        raise _bad(original, "FREQ is missing")
    if parts["FREQ"] not in _ALLOWED_FREQ:
        if parts["FREQ"] in ("MINUTELY", "SECONDLY"):
            raise _bad(original, "repeating more often than hourly is not supported")
        raise _bad(original, f"unknown FREQ {parts['FREQ']}")
    for key in ("INTERVAL", "COUNT"):
        if key in parts and not (parts[key].isdigit() and 1 <= int(parts[key]) <= 10000):
            raise _bad(original, f"{key} must be a whole number from 1 to 10000")
    if "COUNT" in parts and "UNTIL" in parts:
        raise _bad(original, "COUNT and UNTIL cannot be combined")
    rule = ";".join(f"{k}={v}" for k, v in parts.items())
    if "UNTIL" in parts:
        if not re.fullmatch(r"[0-9]{8}(?:T[0-9]{6}Z?)?", parts["UNTIL"]):
            raise _bad(original, "UNTIL must look like 20261231 or 20261231T235959Z")
        from crm_cli.domain import dates

        # A date alone includes that whole day: the series runs to its last second.
        rule = re.sub(r"UNTIL=([0-9]{8})(?=;|$)", r"UNTIL=\1T235959", rule)
        rule = _until_local(rule, tz or dates.local_tz())
    return rule


def _normalise(rule: str, original: str) -> str:
    anchor = datetime(2026, 1, 5, 9, 0)  # any naive local time works for validation
    try:
        r = _rrule(rule, anchor)
    except (ValueError, TypeError, OverflowError) as e:
        raise _bad(original, str(e).strip("'\"")) from None
    text = str(r).splitlines()
    body = next((ln for ln in text if ln.startswith("RRULE:")), None)
    if body is None:
        raise _bad(original)
    normal = body.removeprefix("RRULE:")
    if not _fires(normal, anchor):
        raise _bad(original, "it never happens")
    return normal


_DAY_KEYS = ("BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYDAY")


def _fires(rule: str, anchor: datetime) -> bool:
    """Whether the rule can fire at all (e.g. not 'monthly on the 30th of February').

    dateutil scans day by day up to year 9999 before giving up on an impossible daily
    rule (seconds); a yearly rule over the same day filters (ordinals dropped, a
    superset) tells the same in a fraction of that, and only on this error path.
    """
    parts = dict(p.split("=", 1) for p in rule.split(";"))
    probe = {k: v for k, v in parts.items() if k in _DAY_KEYS}
    if not probe:
        return True
    if "BYDAY" in probe:
        probe["BYDAY"] = ",".join(
            sorted({re.sub(r"^[+-]?[0-9]+", "", d) for d in probe["BYDAY"].split(",")})
        )
    text = "FREQ=YEARLY;" + ";".join(f"{k}={v}" for k, v in probe.items())
    return _rrule(text, anchor).after(anchor) is not None


def _naive_local(dt: datetime, tz: tzinfo) -> datetime:
    return dt.astimezone(tz).replace(tzinfo=None)


def _aware(naive: datetime, tz: tzinfo) -> datetime:
    return naive.replace(tzinfo=tz).astimezone(UTC)


def next_after(
    rule: str, start: datetime, after: datetime, *, tz: tzinfo | None = None
) -> datetime | None:
    """The first occurrence strictly after ``after`` of a series anchored at ``start``.

    ``start`` and ``after`` are aware datetimes; the result is an aware UTC datetime,
    or None when the series has ended (COUNT, UNTIL) or fires no more within the horizon.
    """
    if start.tzinfo is None or after.tzinfo is None:
        raise ValueError("start and after must be aware datetimes")
    from crm_cli.domain import dates

    tz = tz or dates.local_tz()
    dtstart = _naive_local(start, tz)
    r = _rrule(rule, dtstart)
    # Search from a day before in local wall time (offsets differ by at most a day) and
    # compare real instants, so repeated or skipped local hours never confuse the order.
    lo = max(_naive_local(after, tz) - timedelta(days=1), dtstart - timedelta(seconds=1))
    limit = _naive_local(after, tz) + timedelta(days=366 * HORIZON_YEARS)
    after_utc = after.astimezone(UTC)
    for occ in r.xafter(lo, inc=True):
        if occ > limit:
            return None
        instant = _aware(occ, tz)
        if instant > after_utc:
            return instant
    return None


def describe(rule: str | None) -> str | None:
    """A short human reading of a stored rule ('every 2 weeks', 'monthly on day 1')."""
    if not rule:
        return None
    parts = dict(p.split("=", 1) for p in rule.split(";") if "=" in p)
    freq = parts.get("FREQ", "")
    n = int(parts.get("INTERVAL", "1") or 1)
    extra = set(parts) - {"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY"}
    if extra:
        return rule
    unit = {"HOURLY": "hour", "DAILY": "day", "WEEKLY": "week", "MONTHLY": "month",
            "YEARLY": "year"}.get(freq)  # fmt: skip
    if unit is None:
        return rule
    out = {"HOURLY": "hourly", "DAILY": "daily", "WEEKLY": "weekly", "MONTHLY": "monthly",
           "YEARLY": "yearly"}[freq] if n == 1 else f"every {n} {unit}s"  # fmt: skip
    if "BYDAY" in parts:
        days = parts["BYDAY"].split(",")
        if days == ["MO", "TU", "WE", "TH", "FR"] and freq == "WEEKLY" and n == 1:
            return "weekdays"
        names = []
        for d in days:
            m = re.fullmatch(r"([+-]?[0-9]{1,2})?([A-Z]{2})", d)
            if not m or m.group(2) not in _DAY_NAMES:
                return rule
            pos = m.group(1)
            prefix = {"1": "1st ", "2": "2nd ", "3": "3rd ", "4": "4th ", "-1": "last "}
            names.append(prefix.get(pos.lstrip("+"), f"{pos} ") if pos else "")
            names[-1] += _DAY_NAMES[m.group(2)]
        out += " on " + ", ".join(names)
    if "BYMONTHDAY" in parts:
        days = parts["BYMONTHDAY"].split(",")
        out += " on " + ", ".join("the last day" if d == "-1" else f"day {d}" for d in days)
    return out
