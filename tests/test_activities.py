"""crm log and crm timeline: one activity per interaction, on every participant's timeline."""

from __future__ import annotations

import pytest


@pytest.fixture
def people(crm):
    crm("contact", "add", "Ana García", "--email", "ana@example.es", "--org", "Acme SL")
    crm("contact", "add", "Bob Stone", "--email", "bob@example.com", "--org", "Acme SL")
    crm("contact", "add", "Carla Ruiz", "--email", "carla@example.org")
    return ("ana@example.es", "bob@example.com", "carla@example.org")


def test_log_call_acceptance_example(crm, people):
    aid = crm("log", "call", "--contact", "ana@example.es", "--duration", "15m",
              "--outcome", "left voicemail", "--at", "yesterday 16:00").stdout.strip()  # fmt: skip
    assert aid == "1"
    items = crm.json("timeline", "ana@example.es")
    assert len(items) == 1
    a = items[0]
    for key in ("id", "kind", "occurred_at", "subject", "actor"):
        assert key in a
    # yesterday 16:00 in Madrid (CET, +01:00) on 2026-03-10.
    assert a["occurred_at"] == "2026-03-09T15:00:00Z" and a["kind"] == "call"
    assert a["duration_seconds"] == 900 and a["duration"] == "15m"
    assert a["outcome"] == "left voicemail" and a["actor"] == "tester"
    c = crm.json("contact", "show", "ana@example.es")
    assert c["last_activity_at"] == "2026-03-09T15:00:00Z" and c["activity_count"] == 1


def test_one_meeting_on_every_participants_timeline(crm, people):
    ana, bob, carla = people
    crm("log", "meeting", "Kick-off", "--contact", ana, "--contact", bob, "--contact", carla,
        "--at", "2026-03-05 10:00", "--duration", "1h")  # fmt: skip
    crm("log", "email", "Propuesta", "--contact", ana, "--direction", "out", "--at", "-1d")
    crm("log", "note", "Acme pide descuento", "--org", "Acme SL", "--at", "-2d")
    for who in people:
        assert "Kick-off" in [a["subject"] for a in crm.json("timeline", who)]
    ana_tl = [a["subject"] for a in crm.json("timeline", ana)]
    assert ana_tl == ["Propuesta", "Kick-off"]  # newest first
    meeting = crm.json("timeline", carla)[0]
    assert [c["name"] for c in meeting["contacts"]] == ["Ana García", "Bob Stone", "Carla Ruiz"]
    # The organization's timeline: its own note plus its people's activities, once each.
    org_tl = [a["subject"] for a in crm.json("timeline", 'org:"Acme SL"')]
    assert org_tl == ["Propuesta", "Acme pide descuento", "Kick-off"]
    assert [a["subject"] for a in crm.json("timeline", "org:1", "kind:note")] == [
        "Acme pide descuento"
    ]
    assert len(crm.json("timeline", "all")) == 3


def test_timeline_filters(crm, people):
    ana = people[0]
    crm("log", "call", "Old", "--contact", ana, "--at", "2026-01-01 10:00")
    crm("log", "call", "Recent", "--contact", ana, "--at", "-2d", "--direction", "in")
    crm("log", "email", "Mail", "--contact", ana, "--at", "-1d")
    subjects = lambda *f: [a["subject"] for a in crm.json("timeline", ana, *f)]  # noqa: E731
    assert subjects("kind:call") == ["Recent", "Old"]
    assert subjects('at>"-7d"') == ["Mail", "Recent"]
    assert subjects("kind:call", "at>-7d") == ["Recent"]
    assert subjects("direction:in") == ["Recent"]
    assert subjects("subject~rec or kind:email") == ["Mail", "Recent"]
    assert subjects("--limit", "1") == ["Mail"]
    assert subjects("actor:tester", "contact~garc") == ["Mail", "Recent", "Old"]
    err = crm.fails("timeline", ana, "kind:cal", code=1)
    assert "kind" in err.stderr and "call" in err.stderr
    crm.fails("timeline", ana, "nosuch:1", code=1)


def test_deal_timeline_and_history_reference(crm, people):
    did = crm("deal", "add", "Licencias", "--contact", people[0]).stdout.strip()
    crm("log", "call", "Negociación", "--deal", did, "--contact", people[0])
    assert [a["subject"] for a in crm.json("timeline", f"deal:{did}")] == ["Negociación"]
    assert crm.json("history", f"deal:{did}")[0]["label"].startswith("deal add")
    shown = crm.json("deal", "show", did)
    assert [a["subject"] for a in shown["activities"]] == ["Negociación"]


def test_log_bad_input_writes_nothing(crm, people):
    ana = people[0]
    crm.fails("log", "call", "--duration", "15m", code=1)  # attached to nothing
    err = crm.fails("log", "call", "--contact", ana, "--duration", "fifteen", code=1)
    assert "fifteen" in err.stderr
    err = crm.fails("log", "call", "--contact", ana, "--at", "the day after the blue moon", code=1)
    assert "the day after the blue moon" in err.stderr
    crm.fails("log", "call", "--contact", ana, "--direction", "sideways", code=1)
    crm.fails("log", "call", "--contact", "nobody@example.es", code=3)
    crm.fails("log", "call", "--contact", ana, "--contact", "nobody@example.es", code=3)
    crm.fails("log", "call", "--org", "Nope", code=3)
    crm.fails("log", "call", "--deal", "42", code=3)
    crm.fails("log", "fax", "--contact", ana, code=2)
    crm.fails("timeline", "deal:42", code=3)
    crm.fails("timeline", "nobody@example.es", code=3)
    crm.fails("timeline", "user:tester", code=1)
    assert crm.json("timeline", "all") == []
    assert crm.json("contact", "show", ana)["activity_count"] == 0


def test_logging_a_call_does_not_block_undoing_an_earlier_edit(crm, people):
    ana = people[0]
    crm("contact", "edit", ana, "--title", "CTO")
    crm("user", "add", "maria")
    crm("--as", "maria", "log", "call", "--contact", ana)
    edit_set = crm.json("history", ana)[0]
    assert edit_set["label"].startswith("contact edit")
    crm("undo", str(edit_set["id"]))
    c = crm.json("contact", "show", ana)
    assert c["title"] is None and c["activity_count"] == 1  # the call stays


def test_summaries_follow_undo_and_delete(crm, people):
    ana = people[0]
    crm("log", "call", "Primera", "--contact", ana, "--at", "2026-03-01 10:00")
    second = crm("log", "call", "Segunda", "--contact", ana, "--at", "2026-03-08 10:00").stdout
    c = crm.json("contact", "show", ana)
    assert c["activity_count"] == 2 and c["last_activity_at"] == "2026-03-08T09:00:00Z"
    crm("log", "delete", second.strip())
    c = crm.json("contact", "show", ana)
    assert c["activity_count"] == 1 and c["last_activity_at"] == "2026-03-01T09:00:00Z"
    crm("undo")
    assert crm.json("contact", "show", ana)["activity_count"] == 2
    assert [x["name"] for x in crm.json("contact", "list", "last_activity>2026-03-05")] == [
        "Ana García"
    ]
    assert [x["name"] for x in crm.json("contact", "list", "activities:0", "--sort", "name")] == [
        "Bob Stone", "Carla Ruiz"
    ]  # fmt: skip
    # Deleting the contact needs --cascade (its participant rows refer to it); undo restores
    # the contact and its summaries.
    err = crm.fails("contact", "delete", ana, code=1)
    assert "activity_participants" in err.stderr
    crm("contact", "delete", ana, "--cascade")
    crm("undo")
    c = crm.json("contact", "show", ana)
    assert c["activity_count"] == 2 and c["last_activity_at"] == "2026-03-08T09:00:00Z"


def test_cascade_unlinks_shared_records_and_drops_orphans(crm):
    crm("contact", "add", "Ana", "--email", "ana@x.es", "--org", "Acme SL")
    crm("contact", "add", "Bob", "--email", "bob@x.es")
    crm("contact", "add", "Zed", "--email", "z@x.es")
    did = crm("deal", "add", "Ana deal", "--contact", "ana@x.es").stdout.strip()
    crm("log", "email", "re deal", "-c", "bob@x.es", "--deal", did)
    crm("log", "call", "secret call", "-c", "z@x.es", "--body", "private details")
    crm("log", "meeting", "shared", "-c", "z@x.es", "-c", "bob@x.es")
    err = crm.fails("contact", "delete", "ana@x.es", code=1)
    assert "unlink the deals" in err.stderr
    crm("contact", "delete", "ana@x.es", "--cascade")
    # The deal stays (its organization's), without the contact; Bob's email stays too.
    d = crm.json("deal", "show", did)
    assert d["contact_id"] is None and d["org"] == "Acme SL"
    assert [a["subject"] for a in crm.json("timeline", "bob@x.es")] == ["shared", "re deal"]
    # Zed's own call goes with Zed; the meeting stays on Bob's timeline.
    crm("contact", "delete", "z@x.es", "--cascade")
    subjects = [a["subject"] for a in crm.json("timeline", "all")]
    assert "secret call" not in subjects and "shared" in subjects
    assert crm.json("contact", "show", "bob@x.es")["activity_count"] == 2
    crm("undo")
    assert "secret call" in [a["subject"] for a in crm.json("timeline", "z@x.es")]
    crm("undo")
    assert crm.json("deal", "show", did)["contact"] == "Ana"


def test_bodies_keep_their_lines(crm, people):
    crm("log", "note", "-c", people[0], "--body", "line1\r\n\nline2\tend")
    assert crm.json("timeline", people[0])[0]["body"] == "line1\n\nline2\tend"
    crm.fails("log", "note", "-c", people[0], "--body", "a\x00b", code=1)
    crm.fails("log", "note", "one\ntwo", "-c", people[0], code=1)  # a subject is one line


def test_activities_happened_so_they_cannot_be_in_the_future(crm, people):
    err = crm.fails("log", "call", "-c", people[0], "--at", "tomorrow 10:00", code=1)
    assert "future" in err.stderr and "followup" in err.stderr
    crm("log", "call", "-c", people[0], "--at", "+30m")  # a clock a little ahead is fine


def test_contact_show_table_has_deals_followups_and_latest_activities(crm, people):
    ana = people[0]
    crm("deal", "add", "Licencias", "--contact", ana, "--amount", "900")
    crm("followup", "add", "Llamar", "--due", "+2d", "--contact", ana)
    crm("log", "call", "Primera llamada", "-c", ana, "--at", "-1h")
    out = crm("contact", "show", ana).stdout
    for text in ("open deals", "Licencias", "900.00", "follow-ups", "Llamar",
                 "latest activities", "Primera llamada"):  # fmt: skip
        assert text in out, text
    assert "latest activities" not in crm("contact", "show", people[1]).stdout
