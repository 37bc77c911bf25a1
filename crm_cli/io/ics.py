"""iCalendar out: follow-ups as VTODO and meetings as VEVENT, built with the icalendar library.

UIDs are stable (``followup-12@crm``, ``activity-7@crm``), so exporting again updates the
same items in a calendar app instead of duplicating them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

UID_DOMAIN = "crm"


def _instant(text: str | None) -> datetime | None:
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
        todo.add("dtstamp", _instant(f.get("updated_at")) or datetime.now(UTC))
        todo.add("due", _instant(f["due_at"]))
        if f.get("created_at"):
            todo.add("created", _instant(f["created_at"]))
        if f.get("status") == "done":
            todo.add("status", "COMPLETED")
            if f.get("done_at"):
                todo.add("completed", _instant(f["done_at"]))
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
        start = _instant(a["occurred_at"])
        ev.add("dtstart", start)
        ev.add("dtend", start + timedelta(seconds=a.get("duration_seconds") or 3600))
        ev.add("dtstamp", _instant(a.get("updated_at")) or start)
        if a.get("body"):
            ev.add("description", a["body"])
        for c in a.get("contacts") or ():
            who = f"mailto:{c['email']}" if c.get("email") else f"urn:crm:contact:{c['id']}"
            ev.add("attendee", who, parameters={"CN": c["name"]})
        cal.add_component(ev)
    return cal.to_ical()
