"""Customer service tickets: due times from response targets, comments on the timeline, undo."""

from __future__ import annotations

import sqlite3

import pytest

from crm_cli.domain import activities, tickets
from crm_cli.domain.session import open_session


@pytest.fixture
def ana(crm):
    crm("contact", "add", "Ana García", "--email", "ana@example.es", "--org", "Acme SL")
    return "ana@example.es"


def open_ticket(crm, *args) -> int:
    out = crm("ticket", "open", *args).stdout.strip()
    assert out.isdigit(), out
    return int(out)


def counts(isolated) -> tuple[int, int, int]:
    conn = sqlite3.connect(isolated / "crm.db")
    try:
        return tuple(
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("tickets", "activities", "change_sets")
        )
    finally:
        conn.close()


def test_acceptance_open_prints_id_and_due_from_priority(crm, ana):
    r = crm(
        "ticket", "open", "No puedo acceder", "--contact", "ana@example.es", "--priority", "high"
    )
    assert r.stdout == "1\n"
    t = crm.json("ticket", "show", "1")
    assert t["subject"] == "No puedo acceder" and t["priority"] == "high" and t["status"] == "new"
    assert t["contact"] == "Ana García" and t["org"] == "Acme SL"  # the contact's organization
    # CRM_NOW is 2026-03-10 09:00 Madrid (08:00Z); high priority answers within 4h.
    assert t["created_at"] == "2026-03-10T08:00:00Z" and t["due_at"] == "2026-03-10T12:00:00Z"
    assert t["overdue"] is False and t["comments"] == [] and t["assignee"] is None
    for key in tickets.JSON_KEYS:
        assert key in t


@pytest.mark.parametrize(
    ("priority", "due"),
    [("urgent", "2026-03-10T09:00:00Z"), ("normal", "2026-03-11T08:00:00Z"),
     ("low", "2026-03-13T08:00:00Z")],
)  # fmt: skip
def test_due_time_per_priority(crm, ana, priority, due):
    tid = open_ticket(crm, "x", "--contact", ana, "--priority", priority)
    assert crm.json("ticket", "show", str(tid))["due_at"] == due


def test_response_target_from_team_setting(crm, ana):
    crm("config", "set", "ticket.target.urgent", "30m")
    tid = open_ticket(crm, "Caído", "--contact", ana, "--priority", "URGENT")
    t = crm.json("ticket", "show", str(tid))
    assert t["priority"] == "urgent" and t["due_at"] == "2026-03-10T08:30:00Z"


def test_broken_response_target_is_a_clear_error(crm, ana, isolated):
    # `config set` refuses a bad target now; a database written before that may hold one.
    conn = sqlite3.connect(isolated / "crm.db")
    with conn:
        conn.execute(
            "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)",
            ("ticket.target.low", '"soon"', "2026-03-10T08:00:00Z"),
        )
    conn.close()
    before = counts(isolated)
    r = crm.fails("ticket", "open", "x", "--contact", ana, "--priority", "low", code=1)
    assert "ticket.target.low" in r.stderr and "crm config set ticket.target.low" in r.stderr
    assert counts(isolated) == before


@pytest.mark.parametrize("value", ["abc", "0", "-1h", "0m", "soon", "", "400d"])
def test_config_set_refuses_a_bad_response_target(crm, ana, isolated, value):
    before = counts(isolated)
    r = crm.fails("config", "set", "ticket.target.high", "--", value, code=1)
    assert "ticket.target.high" in r.stderr
    assert counts(isolated) == before  # nothing stored, no change set
    assert crm("config", "get", "ticket.target.high").stdout.strip() == "4h"
    tid = open_ticket(crm, "x", "--contact", ana, "--priority", "high")
    assert crm.json("ticket", "show", str(tid))["due_at"] == "2026-03-10T12:00:00Z"


def test_config_set_accepts_good_response_targets(crm, ana):
    for value in ("30m", "1h30m", "90s", "1:30", "45", " 2h "):
        crm("config", "set", "ticket.target.high", value)
    assert crm("config", "get", "ticket.target.high").stdout.strip() == "2h"
    tid = open_ticket(crm, "x", "--contact", ana, "--priority", "high")
    assert crm.json("ticket", "show", str(tid))["due_at"] == "2026-03-10T10:00:00Z"


def test_body_is_first_incoming_comment_on_contact_and_org_timelines(crm, ana, isolated):
    tid = open_ticket(crm, "Factura", "--contact", ana, "--channel", "Email", "--type",
                      "complaint", "--body", "La factura está mal")  # fmt: skip
    t = crm.json("ticket", "show", str(tid))
    assert t["channel"] == "email" and t["type"] == "complaint"
    [c] = t["comments"]
    assert c["kind"] == "comment" and c["direction"] == "in" and c["body"] == "La factura está mal"
    assert c["ticket_id"] == tid and c["subject"] == "Factura" and c["actor"] == "tester"
    assert t["first_response_at"] is None  # the customer's words are no response
    db = open_session(str(isolated / "crm.db"))
    cid = crm.json("contact", "show", ana)["id"]
    assert [a.id for a in activities.timeline(db, ("contacts", cid))] == [c["id"]]
    assert [a.id for a in activities.timeline(db, ("orgs", t["org_id"]))] == [c["id"]]
    assert [a.id for a in activities.timeline(db, ("tickets", tid))] == [c["id"]]
    db.close()
    assert crm.json("contact", "show", ana)["activity_count"] == 1


def test_comments_show_on_crm_timeline(crm, ana):
    tid = open_ticket(crm, "Factura", "--contact", ana, "--body", "Hola")
    crm("ticket", "comment", str(tid), "Lo miramos")
    shown = crm.json("timeline", ana)
    assert [(a["kind"], a["direction"]) for a in shown][:2] == [
        ("comment", "out"),
        ("comment", "in"),
    ]


def test_outgoing_comment_is_first_response_and_opens(crm, ana, monkeypatch):
    tid = open_ticket(crm, "x", "--contact", ana, "--body", "help")
    assert crm("ticket", "comment", str(tid), "On it").stdout == f"{tid}\n"
    t = crm.json("ticket", "show", str(tid))
    assert t["status"] == "open" and t["first_response_at"] == "2026-03-10T08:00:00Z"
    monkeypatch.setenv("CRM_NOW", "2026-03-10T11:00:00+01:00")
    crm("ticket", "comment", str(tid), "Done?", "--direction", "out")
    t = crm.json("ticket", "show", str(tid))
    assert t["first_response_at"] == "2026-03-10T08:00:00Z"  # the first one stays
    assert [c["body"] for c in t["comments"]] == ["help", "On it", "Done?"]  # oldest first


def test_internal_note_and_incoming_reply(crm, ana):
    tid = open_ticket(crm, "x", "--contact", ana)
    crm("ticket", "comment", str(tid), "ask billing", "--internal")
    t = crm.json("ticket", "show", str(tid))
    assert t["status"] == "new" and t["first_response_at"] is None
    assert t["comments"][0]["direction"] is None and t["comments"][0]["channel"] == "internal"
    crm("ticket", "status", str(tid), "pending")
    crm("ticket", "comment", str(tid), "any news?", "-d", "in")
    assert crm.json("ticket", "show", str(tid))["status"] == "open"  # the customer replied
    crm("ticket", "status", str(tid), "resolved")
    crm("ticket", "comment", str(tid), "still broken", "--direction", "IN")
    t = crm.json("ticket", "show", str(tid))
    assert t["status"] == "open" and t["resolved_at"] is None


def test_status_resolved_reopen_and_close(crm, ana, monkeypatch):
    tid = open_ticket(crm, "x", "--contact", ana)
    crm("ticket", "status", str(tid), "resolved")
    t = crm.json("ticket", "show", str(tid))
    assert t["status"] == "resolved" and t["resolved_at"] == "2026-03-10T08:00:00Z"
    assert t["closed_at"] is None
    crm("ticket", "status", str(tid), "open")
    t = crm.json("ticket", "show", str(tid))
    assert t["status"] == "open" and t["resolved_at"] is None
    monkeypatch.setenv("CRM_NOW", "2026-03-11T10:00:00+01:00")
    out = crm.json("ticket", "close", str(tid), "--satisfaction", "5")
    assert out["status"] == "closed" and out["satisfaction"] == 5
    assert out["resolved_at"] == out["closed_at"] == "2026-03-11T09:00:00Z"
    crm.fails("ticket", "close", str(tid), code=1)  # already closed
    assert crm.json("ticket", "close", str(tid), "-s", "3")["satisfaction"] == 3  # a late answer
    crm("ticket", "status", str(tid), "open")
    t = crm.json("ticket", "show", str(tid))
    assert t["status"] == "open" and t["closed_at"] is None and t["resolved_at"] is None


def test_close_keeps_an_earlier_resolved_time(crm, ana, monkeypatch):
    tid = open_ticket(crm, "x", "--contact", ana)
    crm("ticket", "status", str(tid), "resolved")
    monkeypatch.setenv("CRM_NOW", "2026-03-12T09:00:00+01:00")
    t = crm.json("ticket", "close", str(tid))
    assert t["resolved_at"] == "2026-03-10T08:00:00Z" and t["closed_at"] == "2026-03-12T08:00:00Z"
    assert t["satisfaction"] is None


def test_assign_and_filter_by_assignee(crm, ana):
    crm("user", "add", "maria", "--email", "maria@example.es")
    a = open_ticket(crm, "uno", "--contact", ana, "--assign", "maria")
    b = open_ticket(crm, "dos", "--contact", ana)
    assert crm.json("ticket", "show", str(a))["assignee"] == "maria"
    assert [t["id"] for t in crm.json("ticket", "list", "assignee:maria")] == [a]
    crm("ticket", "assign", str(b), "maria@example.es")
    assert [t["id"] for t in crm.json("ticket", "list", "assignee:Maria")] == [a, b]
    crm("ticket", "assign", str(a), "")
    assert crm.json("ticket", "show", str(a))["assignee_id"] is None
    assert [t["id"] for t in crm.json("ticket", "list", "no:assignee")] == [a]
    crm.fails("ticket", "assign", str(a), "nadie", code=3)


def test_list_defaults_to_active_tickets_and_filters(crm, ana, monkeypatch):
    crm("contact", "add", "Bob Stone", "--email", "bob@example.com")
    a = open_ticket(crm, "uno", "--contact", ana, "--priority", "high")
    b = open_ticket(crm, "dos", "--contact", "bob@example.com", "--priority", "low")
    c = open_ticket(crm, "tres", "--org", "Acme SL", "--priority", "urgent")
    crm("ticket", "close", str(b))
    assert [t["id"] for t in crm.json("ticket", "list")] == [c, a]  # soonest due first
    assert [t["id"] for t in crm.json("ticket", "list", "--all")] == [c, a, b]
    assert [t["id"] for t in crm.json("ticket", "list", "status:closed")] == [b]
    assert [t["id"] for t in crm.json("ticket", "list", "priority:high")] == [a]
    assert [t["id"] for t in crm.json("ticket", "list", "contact~garc")] == [a]
    assert [t["id"] for t in crm.json("ticket", "list", "email:bob@example.com", "--all")] == [b]
    assert [t["id"] for t in crm.json("ticket", "list", "org:'Acme SL'")] == [c, a]
    assert crm.json("ticket", "list", "due<now") == []
    monkeypatch.setenv("CRM_NOW", "2026-03-10T12:00:00+01:00")  # 11:00Z: urgent (09:00Z) is late
    late = crm.json("ticket", "list", "due<now")
    assert [t["id"] for t in late] == [c] and late[0]["overdue"] is True
    assert [t["id"] for t in crm.json("ticket", "list", "--sort", "-priority", "--all")] == [
        b,
        a,
        c,
    ]
    out = crm("ticket", "list", "--csv").stdout.splitlines()
    assert out[0].startswith("id,subject,type,status,priority") and len(out) == 3


def test_edit_priority_recomputes_due(crm, ana):
    tid = open_ticket(crm, "x", "--contact", ana)
    t = crm.json("ticket", "edit", str(tid), "--priority", "urgent", "--subject", "Caído")
    assert t["priority"] == "urgent" and t["due_at"] == "2026-03-10T09:00:00Z"
    assert t["subject"] == "Caído"
    t = crm.json("ticket", "edit", str(tid), "--due", "tomorrow 9am")
    assert t["due_at"] == "2026-03-11T08:00:00Z"
    crm.fails("ticket", "edit", str(tid), "--contact", "", "--org", "", code=1)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["ticket", "open", "x", "--contact", "nadie@example.es"], 3),
        (["ticket", "open", "x", "--contact", "99"], 3),
        (["ticket", "open", "x", "--org", "Nadie SL"], 3),
        (["ticket", "open", "x"], 1),
        (["ticket", "open", "  ", "--contact", "ana@example.es"], 1),
        (["ticket", "open", "x", "--contact", "ana@example.es", "--priority", "huge"], 1),
        (["ticket", "open", "x", "--contact", "ana@example.es", "--assign", "nadie"], 3),
        (["ticket", "status", "1", "done"], 1),
        (["ticket", "close", "1", "--satisfaction", "0"], 1),
        (["ticket", "close", "1", "--satisfaction", "6"], 1),
        (["ticket", "close", "1", "--satisfaction", "great"], 1),
        (["ticket", "close", "1", "--satisfaction", "4.5"], 1),
        (["ticket", "comment", "1", "x", "--direction", "sideways"], 1),
        (["ticket", "comment", "1", "   "], 1),
        (["ticket", "comment", "9", "hola"], 3),
        (["ticket", "show", "9"], 3),
        (["ticket", "assign", "9", "tester"], 3),
        (["ticket", "status", "9", "open"], 3),
        (["ticket", "close", "9"], 3),
        (["ticket", "edit", "1", "--priority", "meh"], 1),
        (["ticket", "list", "status:opn"], 1),
        (["ticket", "list", "priority:hi"], 1),
        (["ticket", "list", "nosuch:1"], 1),
        (["ticket", "list", "--sort", "nosuch"], 1),
    ],
)
def test_bad_input_is_one_error_line_and_nothing_written(crm, ana, isolated, args, code):
    open_ticket(crm, "base", "--contact", ana, "--body", "hola")
    before = counts(isolated)
    shown_before = crm.json("ticket", "show", "1")
    crm.fails(*args, code=code)
    assert counts(isolated) == before
    assert crm.json("ticket", "show", "1") == shown_before


def test_non_numeric_id_is_a_usage_error(crm, ana):
    crm.fails("ticket", "show", "abc", code=2)


def test_each_write_is_one_change_set_and_undoable(crm, ana):
    tid = open_ticket(crm, "x", "--contact", ana, "--body", "hola")
    assert crm.json("history")[0]["label"] == "ticket open x"
    crm("ticket", "comment", str(tid), "respuesta")
    before_close = crm.json("ticket", "show", str(tid))
    crm("ticket", "close", str(tid), "--satisfaction", "4")
    assert crm.json("history")[0]["label"] == f"ticket close {tid}"
    assert "ticket close" in crm("undo").stdout
    assert crm.json("ticket", "show", str(tid)) == before_close
    crm("undo")  # the comment: its activity goes and the ticket is new again
    t = crm.json("ticket", "show", str(tid))
    assert t["status"] == "new" and t["first_response_at"] is None and len(t["comments"]) == 1
    crm("undo")  # the opening: ticket and its first comment
    crm.fails("ticket", "show", str(tid), code=3)
    assert crm.json("contact", "show", ana)["activity_count"] == 0


def test_domain_list_and_comments(crm, ana, isolated):
    tid = open_ticket(crm, "x", "--contact", ana)
    db = open_session(str(isolated / "crm.db"), actor="tester")
    aid = tickets.comment(db, tid, "hola", direction="in")
    assert [a.id for a in tickets.comments(db, tid)] == [aid]
    assert [t.id for t in tickets.list_tickets(db, ["status:new"])] == [tid]
    assert tickets.list_tickets(db, ["status:closed"]) == []
    assert tickets.target_seconds(db, "high") == 4 * 3600
    db.close()


def test_multi_line_body_and_comments_keep_newlines_and_tabs(crm, ana, isolated):
    tid = open_ticket(crm, "Factura", "--contact", ana,
                      "--body", "Hola,\r\nla factura:\n\tlínea 1\n\tlínea 2\r\n\nGracias")  # fmt: skip
    crm("ticket", "comment", str(tid), "Revisado.\nTe la reenvío hoy.")
    crm("ticket", "comment", str(tid), "nota:\n- billing", "--internal")
    t = crm.json("ticket", "show", str(tid))
    assert [c["body"] for c in t["comments"]] == [
        "Hola,\nla factura:\n\tlínea 1\n\tlínea 2\n\nGracias",
        "Revisado.\nTe la reenvío hoy.",
        "nota:\n- billing",
    ]
    assert t["subject"] == "Factura"
    shown = crm("ticket", "show", str(tid)).stdout
    assert "Te la reenvío hoy." in shown
    # Other control characters are refused, and subjects stay one line.
    before = counts(isolated)
    r = crm.fails("ticket", "comment", str(tid), "bell\x07", code=1)
    assert "U+0007" in r.stderr
    crm.fails("ticket", "open", "x", "--contact", ana, "--body", "esc\x1b[31m", code=1)
    crm.fails("ticket", "open", "two\nlines", "--contact", ana, code=1)
    crm.fails("ticket", "edit", str(tid), "--subject", "a\nb", code=1)
    crm.fails("ticket", "comment", str(tid), " \n\t\r\n ", code=1)
    assert counts(isolated) == before


def test_tables_show_local_times_and_json_keeps_utc(crm, ana, monkeypatch):
    tid = open_ticket(crm, "x", "--contact", ana, "--priority", "high", "--body", "hola")
    monkeypatch.setenv("CRM_NOW", "2026-03-10T10:30:00+01:00")
    crm("ticket", "comment", str(tid), "respuesta")
    crm("ticket", "status", str(tid), "resolved")
    t = crm.json("ticket", "show", str(tid))
    assert t["due_at"] == "2026-03-10T12:00:00Z" and t["created_at"] == "2026-03-10T08:00:00Z"
    assert t["first_response_at"] == t["resolved_at"] == "2026-03-10T09:30:00Z"
    assert t["comments"][1]["occurred_at"] == "2026-03-10T09:30:00Z"
    assert crm.json("ticket", "list", "--all")[0]["due_at"] == "2026-03-10T12:00:00Z"
    shown = crm("ticket", "show", str(tid)).stdout  # Madrid is UTC+1 in March
    assert "Z" not in "".join(ln for ln in shown.splitlines() if "2026" in ln)
    assert "2026-03-10 13:00" in shown  # due
    assert "2026-03-10 09:00" in shown  # created, and the first comment
    assert "2026-03-10 10:30" in shown  # first response, resolved, the reply
    listed = crm("ticket", "list", "--all").stdout
    assert "2026-03-10 13:00" in listed and "T12:00:00Z" not in listed
    assert "2026-03-10T12:00:00Z" in crm("ticket", "list", "--all", "--csv").stdout


def test_help_is_about_tickets(crm):
    out = " ".join(crm("ticket", "list", "--help").stdout.split())
    assert "status:pending" in out and "'due<now'" in out and "README.md" in out
    assert "ANDed" in out and "tag:vip" not in out
    assert "local" in out
    show = " ".join(crm("ticket", "show", "--help").stdout.split())
    assert "oldest first" in show and "local time" in show
