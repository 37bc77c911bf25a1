"""iCalendar in and out, with the icalendar library.

Out: follow-ups as VTODO and meetings as VEVENT. UIDs are stable (``followup-12@crm``,
``activity-7@crm``), so exporting again updates the same items in a calendar app instead
of duplicating them.

In (``crm import activities``): ``read_ics`` reads every VEVENT and VTODO into one item
per to-do and per event occurrence in the window (recurring events expanded with
dateutil); the rules for writing them are in ``domain/import_activities.py``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from crm_cli.domain import dates
from crm_cli.errors import InvalidInput

if TYPE_CHECKING:
    from crm_cli.domain.imports import Item, Options

UID_DOMAIN = "crm"
BACK, AHEAD = timedelta(days=365), timedelta(days=30)
MAX_OCCURRENCES = 1000  # per series within the window
MAX_STEPS = 200_000  # rule steps walked before a series counts as too dense to expand
_USED = ("UID", "DTSTART", "DTEND", "DURATION", "DUE", "RRULE", "RDATE", "EXDATE",
         "RECURRENCE-ID", "ORGANIZER", "ATTENDEE", "COMPLETED", "STATUS")  # fmt: skip
_KINDS = ("VEVENT", "VTODO")


def _from_db(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _utc_until(rule: str) -> str:
    """Our rules keep UNTIL in local wall time; RFC 5545 wants UTC with a DUE in UTC."""
    import re

    from crm_cli.domain import dates

    def fix(m: re.Match) -> str:
        local = datetime.strptime(m.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=dates.local_tz())
        return "UNTIL=" + local.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    return re.sub(r"UNTIL=([0-9]{8}T[0-9]{6})(?!Z)", fix, rule)


def write_calendar(followups: Iterable[dict], meetings: Iterable[dict]) -> bytes:
    """A VCALENDAR with a VTODO per follow-up and a VEVENT per meeting (dicts as --json prints)."""
    from icalendar import Calendar, Event, Todo, vRecur

    cal = Calendar()
    cal.add("prodid", "-//crm//terminal CRM//EN")
    cal.add("version", "2.0")
    for f in followups:
        todo = Todo()
        todo.add("uid", f"followup-{f['id']}@{UID_DOMAIN}")
        todo.add("summary", f["text"])
        todo.add("dtstamp", _from_db(f.get("updated_at")) or datetime.now(UTC))
        todo.add("due", _from_db(f["due_at"]))
        if f.get("created_at"):
            todo.add("created", _from_db(f["created_at"]))
        if f.get("status") == "done":
            todo.add("status", "COMPLETED")
            if f.get("done_at"):
                todo.add("completed", _from_db(f["done_at"]))
        else:
            todo.add("status", "NEEDS-ACTION")
        about = ", ".join(x for x in (f.get("contact"), f.get("org"), f.get("deal")) if x)
        if about:
            todo.add("description", about)
        if f.get("contact_email"):
            todo.add("attendee", f"mailto:{f['contact_email']}",
                     parameters={"CN": f.get("contact") or f["contact_email"]})  # fmt: skip
        if f.get("rule"):
            todo.add("rrule", vRecur.from_ical(_utc_until(f["rule"])))
        cal.add_component(todo)
    for a in meetings:
        ev = Event()
        ev.add("uid", f"activity-{a['id']}@{UID_DOMAIN}")
        ev.add("summary", a.get("subject") or "Meeting")
        start = _from_db(a["occurred_at"])
        ev.add("dtstart", start)
        ev.add("dtend", start + timedelta(seconds=a.get("duration_seconds") or 3600))
        ev.add("dtstamp", _from_db(a.get("updated_at")) or start)
        if a.get("body"):
            ev.add("description", a["body"])
        for c in a.get("contacts") or ():
            who = f"mailto:{c['email']}" if c.get("email") else f"urn:crm:contact:{c['id']}"
            ev.add("attendee", who, parameters={"CN": c["name"]})
        cal.add_component(ev)
    return cal.to_ical()


# ---------------------------------------------------------------- reading


def read_ics(path: Path, opts: Options) -> Iterator[Item]:
    """Read a calendar file into one item per to-do and per event occurrence in the window."""
    import icalendar

    path = Path(path)
    data = path.read_bytes()
    try:
        tops = icalendar.Calendar.from_ical(data, multiple=True)
    except Exception as e:  # the library's own errors are ValueError and kin
        raise InvalidInput(
            f"{path.name} is not a calendar icalendar can read: {_first(e)}"
        ) from None
    comps = [c for top in tops for c in top.walk() if c.name in _KINDS]
    if not tops and data.strip(b"\xef\xbb\xbf \t\r\n"):
        text = data[:200].decode("utf-8", "replace")
        why = (
            "a component is never closed (END:VCALENDAR missing?)"
            if "BEGIN:" in text.upper()
            else "it holds no BEGIN:VCALENDAR"
        )
        raise InvalidInput(f"{path.name} is not a readable calendar: {why}")
    tz = dates.local_tz()
    window = _window(opts)
    blocks = _blocks(data)
    if len(blocks) != len(comps):  # the library skipped or split something: number them
        blocks = [(n, c.to_ical().decode("utf-8", "replace")) for n, c in enumerate(comps, 1)]
    return _items(list(zip(comps, blocks)), tz, window)


def _first(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def _window(opts: Options) -> tuple[datetime, datetime]:
    now = dates.now()
    spec = (opts.extra or {}).get("window")
    if not spec:
        return now - BACK, now + AHEAD
    a, sep, b = str(spec).partition("..")
    if not sep or not a.strip() or not b.strip():
        raise InvalidInput(f"the window takes FROM..TO, e.g. -90d..+30d, not '{spec}'")
    start = dates.parse_range(a.strip(), now=now)[0]
    end = dates.parse_range(b.strip(), now=now)[1]
    if end <= start:
        raise InvalidInput(f"the window '{spec}' ends before it starts")
    return start, end


def _blocks(data: bytes) -> list[tuple[int, str]]:
    """(first line number, text) of each VEVENT and VTODO, in file order."""
    text = data.decode("utf-8", "replace").lstrip("\ufeff")
    out: list[tuple[int, str]] = []
    start, kind, lines = 0, None, []
    for n, line in enumerate(re.split(r"\r\n|\r|\n", text), 1):
        up = line.strip().upper()
        if kind is None:
            if up in ("BEGIN:VEVENT", "BEGIN:VTODO"):
                start, kind, lines = n, up[6:], [line]
            continue
        lines.append(line)
        if up == f"END:{kind}":
            out.append((start, "\n".join(lines)))
            kind = None
    return out


def _items(pairs, tz: tzinfo, window) -> Iterator[Item]:
    from crm_cli.domain.imports import Item

    # Moved or changed occurrences (RECURRENCE-ID) replace their slot in the master's series.
    masters = {
        str(c.get("UID")) for c, _ in pairs if c.name == "VEVENT" and _is_series(c)
    }  # fmt: skip
    moved: dict[str, set[str]] = {}
    for c, _ in pairs:
        if c.name == "VEVENT" and "RECURRENCE-ID" in c and str(c.get("UID")) in masters:
            try:
                moved.setdefault(str(c.get("UID")), set()).add(
                    _slot(_value(c, "RECURRENCE-ID"), tz)
                )
            except Exception:  # an unreadable RECURRENCE-ID is reported with its component
                pass
    for comp, (line, raw) in pairs:
        try:
            problem = _broken(comp)
            if problem:
                yield Item(line, raw, problem=problem, entity="activities")
                continue
            if comp.name == "VTODO":
                yield Item(line, raw, record=_todo(comp, tz), entity="followups")
                continue
            for rec in _event(comp, tz, window, masters, moved):
                yield Item(line, raw, record=rec, entity="activities")
        except InvalidInput as e:
            yield Item(line, raw, problem=str(e), entity="activities")
        except Exception as e:  # a real file's surprise is that row's reject, not a crash
            yield Item(line, raw, problem=f"cannot read this {comp.name}: {_first(e)}")


def _broken(comp) -> str | None:
    """Why a component cannot be imported: a property we use that did not parse."""
    for prop, msg in comp.errors:
        name = (prop or "").upper()
        if prop is None:  # a content line that did not parse: its name is the text's start
            m = re.search(r"'([A-Za-z-]+)[;:=]", str(msg))
            name = m.group(1).upper() if m else ""
        if name in _USED and not (name == "RRULE" and prop is not None):  # RRULE: we try it
            return f"cannot read {name}: {_first(Exception(msg))}"
    if comp.name == "VEVENT" and "DTSTART" not in comp:
        return "the event has no DTSTART (when it happens)"
    return None


def _is_series(comp) -> bool:
    return "RRULE" in comp or "RDATE" in comp


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


def _instant(value, tz: tzinfo) -> datetime:
    """A DATE (local midnight), floating DATE-TIME (local) or zoned DATE-TIME as UTC."""
    if isinstance(value, datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=tz)).astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0)).replace(tzinfo=tz).astimezone(UTC)
    raise InvalidInput(f"expected a date or time, not {value!r}")


def _slot(value, tz: tzinfo) -> str:
    """An occurrence's original start as part of its external id."""
    if isinstance(value, datetime):
        return _instant(value, tz).strftime("%Y%m%dT%H%M%SZ")
    return value.strftime("%Y%m%d")


def _key(comp, tz: tzinfo) -> str:
    uid = _text(comp.get("UID"))
    if uid and uid.strip():
        return uid.strip()
    start = comp.get("DTSTART") or comp.get("DUE")
    basis = f"{start.to_ical().decode() if start is not None else ''}|{comp.get('SUMMARY', '')}"
    return "nouid:" + hashlib.sha1(basis.encode("utf-8", "replace")).hexdigest()[:16]


def _emails(comp) -> list[str]:
    """Organizer and attendee addresses (lower case), declined attendees left out."""
    props = [comp.get("ORGANIZER")]
    att = comp.get("ATTENDEE")
    props += att if isinstance(att, list) else [att]
    out: list[str] = []
    for p in props:
        if p is None:
            continue
        params = getattr(p, "params", {}) or {}
        if str(params.get("PARTSTAT", "")).upper() == "DECLINED":
            continue
        value = str(p).strip()
        if value.lower().startswith("mailto:"):
            email = value[7:]
        elif params.get("EMAIL"):
            email = str(params["EMAIL"])
        elif "@" in value and ":" not in value:
            email = value
        else:
            continue
        email = email.strip().strip("<>").strip().lower()
        if "@" in email and email not in out:
            out.append(email)
    return out


def _common(comp) -> dict:
    return {
        "summary": _text(comp.get("SUMMARY")),
        "description": _text(comp.get("DESCRIPTION")),
        "emails": _emails(comp),
    }


def _todo(comp, tz: tzinfo) -> dict:
    when = None
    for name in ("DUE", "DTSTART", "CREATED"):
        if comp.get(name) is not None:
            when = dates.to_db(_instant(_value(comp, name), tz))
            break
    status = str(comp.get("STATUS", "")).upper()
    done = (
        status in ("COMPLETED", "CANCELLED")
        or "COMPLETED" in comp
        or str(comp.get("PERCENT-COMPLETE", "")).strip() == "100"
    )
    done_at = dates.to_db(_instant(_value(comp, "COMPLETED"), tz)) if "COMPLETED" in comp else None
    return {"type": "todo", "key": _key(comp, tz), "due": when,
            "status": "done" if done else "open", "done_at": done_at, **_common(comp)}  # fmt: skip


def _value(comp, name: str):
    """A date or date-time property's value; VALUE=DATE wins over a TZID beside it."""
    prop = comp.get(name)
    if prop is None:
        return None
    if isinstance(prop, list):
        raise InvalidInput(f"the {comp.name} has {len(prop)} {name} properties")
    v = prop.dt
    if isinstance(v, datetime) and str(prop.params.get("VALUE", "")).upper() == "DATE":
        v = v.date()
    if not isinstance(v, date):
        raise InvalidInput(f"cannot read {name}: {v!r} is not a date or date-time")
    return v


def _duration(comp, start) -> int | None:
    """The length in seconds (DTEND or DURATION; an all-day event without them: one day)."""
    end = None
    try:
        end = _value(comp, "DTEND")
        if end is None and comp.get("DURATION") is not None:
            d = comp["DURATION"].dt
            return (
                int(d.total_seconds()) if isinstance(d, timedelta) and d >= timedelta(0) else None
            )
    except (InvalidInput, AttributeError, ValueError):
        return None  # an unreadable end: the meeting's length is unknown, not an error
    if end is None:
        return None if isinstance(start, datetime) else 86400
    if isinstance(start, datetime) != isinstance(end, datetime):
        return None
    if isinstance(start, datetime):
        tz = dates.local_tz()
        seconds = int((_instant(end, tz) - _instant(start, tz)).total_seconds())
    else:
        seconds = (end - start).days * 86400
    return seconds if seconds >= 0 else None


def _occurrence(comp, key: str, start, duration: int | None, tz: tzinfo) -> dict:
    return {
        "type": "event", "key": key, "start": dates.to_db(_instant(start, tz)),
        "all_day": not isinstance(start, datetime), "duration_seconds": duration,
        "location": _text(comp.get("LOCATION")), **_common(comp),
    }  # fmt: skip


def _skip(key: str, why: str) -> dict:
    return {"type": "skip", "key": key, "why": why}


def _in(start, tz: tzinfo, window) -> bool:
    return window[0] <= _instant(start, tz) < window[1]


def _event(comp, tz: tzinfo, window, masters: set[str], moved: dict[str, set[str]]):
    key = _key(comp, tz)
    start = _value(comp, "DTSTART")
    if str(comp.get("STATUS", "")).upper() == "CANCELLED":
        yield _skip(key, "cancelled")
        return
    duration = _duration(comp, start)
    if "RECURRENCE-ID" in comp:  # one changed occurrence of a series
        slot_key = f"{key}|{_slot(_value(comp, 'RECURRENCE-ID'), tz)}"
        if str(comp.get("UID")) in masters and not _in(start, tz, window):
            yield _skip(slot_key, "outside the window")
        else:
            yield _occurrence(comp, slot_key, start, duration, tz)
        return
    if not _is_series(comp):
        yield _occurrence(comp, key, start, duration, tz)
        return
    skip = moved.get(str(comp.get("UID")), set())
    n = 0
    for occ in _expand(comp, start, tz, window):
        slot_key = f"{key}|{_slot(occ, tz)}"
        if slot_key.rpartition("|")[2] in skip:
            continue
        n += 1
        yield _occurrence(comp, slot_key, occ, duration, tz)
    if not n:
        yield _skip(key, "no occurrence in the window")


def _wall(value, zone: tzinfo) -> datetime:
    """A value as naive wall time in the series' zone (dates at midnight)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if value.tzinfo is None else (
            value.astimezone(zone).replace(tzinfo=None)
        )  # fmt: skip
    return datetime.combine(value, time(0))


def _rule_text(prop, zone: tzinfo, all_day: bool) -> str:
    """An RRULE as text dateutil reads, with UNTIL in the series' wall time.

    Spaces inside lists (Exchange writes BYDAY=MO, TU) are dropped rather than refused.
    """
    from icalendar import vRecur

    text = prop.to_ical().decode() if isinstance(prop, vRecur) else str(prop)
    text = re.sub(r"\s+", "", text.replace("\\", ""))
    if text.upper().startswith("RRULE:"):
        text = text[6:]

    def until(m: re.Match) -> str:
        v = m.group(1).upper()
        if re.fullmatch(r"\d{8}", v):
            wall = datetime.strptime(v, "%Y%m%d") + timedelta(hours=23, minutes=59, seconds=59)
        elif re.fullmatch(r"\d{8}T\d{6}Z", v):
            at = datetime.strptime(v, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            wall = at.astimezone(zone).replace(tzinfo=None)
        elif re.fullmatch(r"\d{8}T\d{6}", v):
            wall = datetime.strptime(v, "%Y%m%dT%H%M%S")
        else:
            raise InvalidInput(f"cannot read RRULE: UNTIL={m.group(1)} is not a date or time")
        if all_day:
            wall = wall.replace(hour=23, minute=59, second=59)
        return "UNTIL=" + wall.strftime("%Y%m%dT%H%M%S")

    return re.sub(r"UNTIL=([^;]*)", until, text, flags=re.IGNORECASE)


def _expand(comp, start, tz: tzinfo, window) -> Iterator:
    """The series' occurrence starts (dates for all-day series) within the window."""
    from dateutil.rrule import rruleset, rrulestr

    all_day = not isinstance(start, datetime)
    zone = start.tzinfo if isinstance(start, datetime) and start.tzinfo is not None else tz
    first = _wall(start, zone)
    rs = rruleset()
    rs.rdate(first)  # DTSTART is always the first instance (RFC 5545 3.8.5.3)
    rules = comp.get("RRULE")
    for prop in rules if isinstance(rules, list) else [rules] if rules is not None else []:
        text = _rule_text(prop, zone, all_day)
        try:
            rs.rrule(rrulestr(text, dtstart=first, ignoretz=True))
        except (ValueError, TypeError) as e:
            raise InvalidInput(f"cannot read RRULE {text!r}: {_first(e)}") from None
    for value, _end in comp.rdates:
        if not isinstance(value, date):
            raise InvalidInput(f"cannot read RDATE: {value.isoformat()} is a time without a date")
        rs.rdate(_wall(value, zone))
    skip_days: set[date] = set()
    for value in comp.exdates:
        if not isinstance(value, date):
            raise InvalidInput(f"cannot read EXDATE: {value.isoformat()} is a time without a date")
        if not all_day and not isinstance(value, datetime):
            skip_days.add(value)
        else:
            rs.exdate(_wall(value, zone))
    lo = (window[0] - timedelta(days=2)).astimezone(zone).replace(tzinfo=None)
    hi = (window[1] + timedelta(days=2)).astimezone(zone).replace(tzinfo=None)
    found = steps = 0
    for wall in rs:
        steps += 1
        if steps > MAX_STEPS:
            raise InvalidInput(f"the series repeats too often to expand ({MAX_STEPS} steps)")
        if wall > hi or found >= MAX_OCCURRENCES:
            break
        if wall < lo or wall.date() in skip_days:
            continue
        occ = wall.date() if all_day else wall.replace(tzinfo=zone)
        if _in(occ, tz, window):
            found += 1
            yield occ
