"""crm import activities FILE.ics: meetings with known contacts, to-dos as follow-ups, by UID."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ICS = Path("../shared/realdata/ics")
FILES = sorted(ICS.glob("*/*.ics"))


def _import(crm, path, tmp_path, *more, ok=True):
    return crm("import", "activities", str(path), "--rejects", str(tmp_path / "rejects.csv"),
               "--json", *more, ok=ok)  # fmt: skip


def _res(result) -> dict:
    return json.loads(result.stdout)


def _followups(crm) -> list[dict]:
    return crm.json("followup", "list", "--all", "--no-cadence")


def _cal(*components: str) -> str:
    body = "\r\n".join(components)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}\r\nEND:VCALENDAR\r\n"


def _event(uid: str, start: str, summary: str, *extra: str, end: str | None = None) -> str:
    lines = ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTART:{start}", f"SUMMARY:{summary}"]
    if end:
        lines.append(f"DTEND:{end}")
    return "\r\n".join([*lines, *extra, "END:VEVENT"])


ANA = "ATTENDEE;CN=Ana;PARTSTAT=ACCEPTED:mailto:ana@example.com"


@pytest.fixture
def ana(crm) -> str:
    return crm("contact", "add", "Ana García", "--email", "ana@example.com").stdout.strip()


def test_real_files_are_there():
    assert len(FILES) == 72, "run the tests from the project directory"


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_real_file_imports_or_fails_with_one_line(crm, tmp_path, path):
    result = _import(crm, path, tmp_path, ok=False)
    assert "Traceback" not in result.stderr
    if result.stdout.strip():  # read: 0 all imported, 11 some rejected, 1 every row rejected
        assert result.exit_code in (0, 1, 11), result.stderr
        res = _res(result)
        assert res["created"] + res["updated"] + res["unchanged"] + res["rejected"] == res["rows"]
        assert (res["rejected"] > 0) == (result.exit_code != 0)
        assert (tmp_path / "rejects.csv").exists() == (res["rejected"] > 0)
        return
    result = crm.fails(
        "import", "activities", str(path), "--rejects", str(tmp_path / "r.csv"), code=1
    )  # fmt: skip
    assert path.name in result.stderr


def test_broken_components_are_rejected_with_reasons(crm, tmp_path):
    result = _import(crm, ICS / "icalendar/calendars_parsing_error.ics", tmp_path, ok=False)
    assert result.exit_code == 11  # one series read (long past: skipped), one rejected
    res = _res(result)
    assert (res["rows"], res["unchanged"], res["rejected"]) == (2, 1, 1)
    rejects = (tmp_path / "rejects.csv").read_text(encoding="utf-8")
    assert "line,reason,raw" in rejects
    assert '13,"cannot read EXDATE' in rejects
    result = _import(crm, ICS / "icalendar/calendars_broken_dtstart.ics", tmp_path, ok=False)
    assert "cannot read DTSTART" in (tmp_path / "rejects.csv").read_text(encoding="utf-8")


def test_unclosed_calendar_fails_with_one_line(crm, tmp_path):
    result = crm.fails(
        "import", "activities", str(ICS / "icalendar/calendars_big_bad_calendar.ics"),
        "--rejects", str(tmp_path / "r.csv"), code=1,
    )  # fmt: skip
    assert "calendars_big_bad_calendar.ics" in result.stderr
    assert "never closed" in result.stderr


def test_meeting_with_known_contacts_lands_on_their_timelines(crm, tmp_path):
    # A BlackBerry invite: organizer rembrand@daxlab.com, attendees at xs4all.nl.
    a = crm("contact", "add", "Rembrand", "--email", "rembrand@daxlab.com").stdout.strip()
    b = crm("contact", "add", "Rem Spam", "--email", "REMBSPAM@xs4all.nl").stdout.strip()
    res = _res(_import(crm, ICS / "icalendar/calendars_property_params.ics", tmp_path))
    assert (res["created"], res["rejected"]) == (1, 0)
    for cid in (a, b):
        (meeting,) = crm.json("timeline", cid)
        assert meeting["kind"] == "meeting"
        assert meeting["subject"] == "Test meeting from BB"
        assert meeting["occurred_at"] == "2012-08-13T22:00:00Z"  # all day: local midnight
        assert meeting["duration_seconds"] == 86400
        assert meeting["channel"] == "calendar"
        assert sorted(meeting["contact_ids"]) == sorted([int(a), int(b)])


def test_events_without_known_contacts_are_skipped(crm, tmp_path):
    res = _res(_import(crm, ICS / "node-ical/tentative-apple-calendar.ics", tmp_path))
    assert (res["rows"], res["created"], res["unchanged"], res["rejected"]) == (4, 0, 4, 0)
    crm("contact", "add", "Confirmed", "--email", "confirmed@example.com")
    res = _res(_import(crm, ICS / "node-ical/tentative-apple-calendar.ics", tmp_path))
    assert (res["created"], res["unchanged"]) == (1, 3)


def test_declined_attendees_are_left_out(crm, tmp_path, ana):
    other = crm("contact", "add", "Bo", "--email", "bo@example.com").stdout.strip()
    f = tmp_path / "cal.ics"
    f.write_text(_cal(_event("d1", "20260302T100000Z", "Review", ANA,
                             "ATTENDEE;PARTSTAT=DECLINED:mailto:bo@example.com")))  # fmt: skip
    _import(crm, f, tmp_path)
    assert crm.json("timeline", other) == []
    assert len(crm.json("timeline", ana)) == 1


def test_recurring_event_expands_within_the_window(crm, tmp_path, ana):
    # Weekly on Mondays since 2024: the window is 2025-03-10 .. 2026-04-09 (now 2026-03-10).
    f = tmp_path / "weekly.ics"
    f.write_text(_cal(
        "BEGIN:VTIMEZONE\r\nTZID:Europe/Madrid\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
        "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
        "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nTZOFFSETFROM:+0100\r\n"
        "TZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
        "END:VTIMEZONE",
        "BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTART;TZID=Europe/Madrid:20240101T100000\r\n"
        "DTEND;TZID=Europe/Madrid:20240101T103000\r\nSUMMARY:Weekly sync\r\n"
        "RRULE:FREQ=WEEKLY;BYDAY=MO\r\nEXDATE;TZID=Europe/Madrid:20260302T100000\r\n"
        f"ORGANIZER:mailto:boss@example.org\r\n{ANA}\r\nEND:VEVENT",
        "BEGIN:VEVENT\r\nUID:weekly-1\r\nRECURRENCE-ID;TZID=Europe/Madrid:20260223T100000\r\n"
        "DTSTART;TZID=Europe/Madrid:20260224T120000\r\nDTEND;TZID=Europe/Madrid:20260224T130000\r\n"
        f"SUMMARY:Weekly sync (moved)\r\n{ANA}\r\nEND:VEVENT",
    ))  # fmt: skip
    res = _res(_import(crm, f, tmp_path))
    meetings = crm.json("timeline", ana)
    plans = [x for x in _followups(crm) if x["text"].startswith("Meeting: ")]
    # Mondays 2025-03-10 .. 2026-03-09 are 53, less the excluded 2026-03-02; the moved one
    # stands in for 2026-02-23; the Mondays 2026-03-16 .. 2026-04-06 ahead are plans.
    assert len(meetings) == 52
    assert len(plans) == 4
    assert res["created"] == 56 and res["rows"] == 56
    at = {m["occurred_at"]: m for m in meetings}
    assert "2026-03-02T09:00:00Z" not in at
    assert at["2026-02-24T11:00:00Z"]["subject"] == "Weekly sync (moved)"
    assert "2026-02-23T09:00:00Z" not in at
    assert at["2025-07-07T08:00:00Z"]["duration_seconds"] == 1800  # summer time: UTC+2
    assert min(at) == "2025-03-10T09:00:00Z"
    assert sorted(p["due_at"] for p in plans)[0] == "2026-03-16T09:00:00Z"
    assert {p["contact_id"] for p in plans} == {int(ana)}


def test_real_recurring_file_expands(crm, tmp_path):
    # Google Calendar, a daily series with no end (Mon-Fri): one row per occurrence in the window.
    res = _res(_import(crm, ICS / "icalendar/calendars_x_location.ics", tmp_path, "--dry-run"))
    assert res["rows"] > 250 and res["unchanged"] == res["rows"]


def test_vtodos_become_followups(crm, tmp_path):
    cid = crm("contact", "add", "J Q Public", "--email", "jqpublic@host.com").stdout.strip()
    res = _res(_import(crm, ICS / "node-ical/vtodo-vfreebusy.ics", tmp_path))
    assert res["created"] == 1  # the three 2002 events have no known participant
    (todo,) = _followups(crm)
    assert todo["text"] == "Submit Income Taxes"
    assert todo["due_at"] == "1998-04-15T21:59:59Z"  # floating time, read as local (CEST)
    assert todo["contact_id"] == int(cid)
    assert todo["status"] == "open"


def test_completed_vtodo_is_a_done_followup(crm, tmp_path):
    res = _res(_import(crm, ICS / "node-ical/utf8-french-calendar.ics", tmp_path))
    assert res["created"] == 2
    todos = {t["text"]: t for t in _followups(crm)}
    assert todos["Migrer le blog"]["status"] == "done"
    assert todos["Migrer le blog"]["done_at"] == "2013-07-16T08:57:45Z"
    assert todos["Créer test unitaire erreur ical"]["status"] == "open"


def test_importing_twice_creates_nothing_new(crm, tmp_path, ana):
    crm("contact", "add", "Rembrand", "--email", "rembrand@daxlab.com")
    for path in (ICS / "icalendar/calendars_property_params.ics",
                 ICS / "node-ical/utf8-french-calendar.ics"):  # fmt: skip
        first = _res(_import(crm, path, tmp_path))
        again = _res(_import(crm, path, tmp_path))
        assert first["created"] > 0
        assert (again["created"], again["updated"]) == (0, 0)
        assert again["unchanged"] == first["rows"]
    assert len(_followups(crm)) == 2


def test_changed_event_updates_its_activity(crm, tmp_path, ana):
    f = tmp_path / "cal.ics"
    f.write_text(_cal(_event("m1", "20260302T100000Z", "Kick-off", ANA, end="20260302T110000Z")))
    assert _res(_import(crm, f, tmp_path))["created"] == 1
    f.write_text(_cal(_event("m1", "20260303T100000Z", "Kick-off (moved)", ANA,
                             "LOCATION:Room 4", end="20260303T103000Z")))  # fmt: skip
    res = _res(_import(crm, f, tmp_path))
    assert (res["created"], res["updated"]) == (0, 1)
    (m,) = crm.json("timeline", ana)
    assert m["subject"] == "Kick-off (moved)"
    assert m["occurred_at"] == "2026-03-03T10:00:00Z"
    assert m["duration_seconds"] == 1800
    assert m["channel"] == "Room 4"


def test_future_event_is_planned_then_logged(crm, tmp_path, ana, monkeypatch):
    f = tmp_path / "cal.ics"
    f.write_text(_cal(_event("p1", "20260320T090000Z", "Demo", ANA)))
    assert _res(_import(crm, f, tmp_path))["created"] == 1
    (plan,) = _followups(crm)
    assert (plan["text"], plan["due_at"], plan["contact_id"]) == (
        "Meeting: Demo", "2026-03-20T09:00:00Z", int(ana),
    )  # fmt: skip
    assert crm.json("timeline", ana) == []
    monkeypatch.setenv("CRM_NOW", "2026-03-21T09:00:00+01:00")
    res = _res(_import(crm, f, tmp_path))
    assert res["created"] == 1
    (m,) = crm.json("timeline", ana)
    assert (m["kind"], m["subject"]) == ("meeting", "Demo")
    (plan,) = _followups(crm)
    assert plan["status"] == "done"
    assert _res(_import(crm, f, tmp_path))["created"] == 0


def test_revert_removes_what_the_import_made(crm, tmp_path, ana):
    f = tmp_path / "cal.ics"
    f.write_text(_cal(
        _event("r1", "20260302T100000Z", "Past", ANA),
        _event("r2", "20260320T100000Z", "Ahead", ANA),
        "BEGIN:VTODO\r\nUID:t1\r\nSUMMARY:Send offer\r\nDUE:20260312T170000Z\r\nEND:VTODO",
    ))  # fmt: skip
    res = _res(_import(crm, f, tmp_path))
    assert res["created"] == 3
    crm("import", "revert", str(res["import_id"]))
    assert crm.json("timeline", ana) == []
    assert _followups(crm) == []
    assert _res(_import(crm, f, tmp_path))["created"] == 3  # and it can come back


def test_dry_run_writes_nothing(crm, tmp_path, ana):
    f = tmp_path / "cal.ics"
    f.write_text(_cal(_event("x1", "20260302T100000Z", "Past", ANA),
                      "BEGIN:VTODO\r\nUID:t1\r\nSUMMARY:Send offer\r\nEND:VTODO"))  # fmt: skip
    res = _res(_import(crm, f, tmp_path, "--dry-run"))
    assert res["dry_run"] and res["created"] == 2
    assert crm.json("timeline", ana) == []
    assert _followups(crm) == []
    assert crm.json("import", "list") == []
    assert not (tmp_path / "rejects.csv").exists()


def test_same_uid_from_two_files_is_one_record(crm, tmp_path, ana):
    a, b = tmp_path / "a.ics", tmp_path / "b.ics"
    a.write_text(_cal(_event("same", "20260302T100000Z", "Sync", ANA)))
    b.write_text(_cal(_event("same", "20260302T100000Z", "Sync", ANA)))
    assert _res(_import(crm, a, tmp_path))["system"] == "ics"
    assert _res(_import(crm, b, tmp_path))["created"] == 0
