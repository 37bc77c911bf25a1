"""crm followup and crm contact cadence: due dates in words, recurrence, groups, undo, errors."""

from __future__ import annotations

import pytest

# conftest fixes the clock at 2026-03-10T09:00:00+01:00 (a Tuesday) in Europe/Madrid.


def _add(crm, *args) -> int:
    out = crm("followup", "add", *args).stdout.strip()
    assert out.isdigit(), out
    return int(out)


def _ana(crm) -> int:
    return int(
        crm(
            "contact", "add", "Ana García", "--email", "ana@example.es", "--org", "Acme SL"
        ).stdout.strip()
    )


def _items(crm, *args):
    return {i["id"]: i for i in crm.json("followup", "list", *args) if i["kind"] == "followup"}


@pytest.mark.parametrize(
    ("when", "due_at"),
    [
        ("tomorrow 9am", "2026-03-11T08:00:00Z"),
        ("+3d", "2026-03-13T08:00:00Z"),
        ("next friday", "2026-03-19T23:00:00Z"),  # local midnight, CET
        ("in 2 weeks", "2026-03-24T08:00:00Z"),
        ("2026-12-01 10:00", "2026-12-01T09:00:00Z"),
        ("2026-04-01 10:00", "2026-04-01T08:00:00Z"),  # CEST by then
        ("2026-03-10T12:00:00Z", "2026-03-10T12:00:00Z"),
    ],
)
def test_due_dates_in_plain_words(crm, when, due_at):
    fid = _add(crm, "Llamar", "--due", when)
    assert crm.json("followup", "show", str(fid))["due_at"] == due_at


def test_add_with_links_and_json_shape(crm):
    _ana(crm)
    item = crm.json("followup", "add", "Llamar a Ana", "--due", "tomorrow 9am", "--contact",
                    "ana@example.es", "--org", "Acme SL")  # fmt: skip
    for key in ("id", "text", "due_at", "group", "status", "rule", "contact_id", "contact",
                "org_id", "org", "deal_id", "assignee", "kind"):  # fmt: skip
        assert key in item
    assert item["contact"] == "Ana García" and item["org"] == "Acme SL"
    assert item["assignee"] == "tester" and item["status"] == "open" and item["kind"] == "followup"
    assert item["group"] == "upcoming"


def test_groups_and_local_times_in_table(crm):
    _add(crm, "Old", "--due", "2026-03-01 09:00")
    _add(crm, "Later today", "--due", "today 18:00")
    _add(crm, "Next week", "--due", "+1w")
    groups = {i["text"]: i["group"] for i in crm.json("followup", "list")}
    assert groups == {"Old": "overdue", "Later today": "today", "Next week": "upcoming"}
    out = crm("followup", "list").stdout
    assert out.index("Overdue (1)") < out.index("Today (1)") < out.index("Upcoming (1)")
    assert "Tue 2026-03-10 18:00" in out  # local time, not UTC 17:00


def test_a_date_without_time_is_due_all_that_day(crm, monkeypatch):
    fid = _add(crm, "Whole day", "--due", "friday")
    monkeypatch.setenv("CRM_NOW", "2026-03-13T15:00:00+01:00")  # that Friday afternoon
    assert crm.json("followup", "show", str(fid))["group"] == "today"
    monkeypatch.setenv("CRM_NOW", "2026-03-14T00:00:00+01:00")
    assert crm.json("followup", "show", str(fid))["group"] == "overdue"


def test_assignees_and_filters(crm):
    crm("user", "add", "bea")
    _ana(crm)
    mine = _add(crm, "Mine", "--due", "+1d", "--contact", "Ana García")
    hers = _add(crm, "Hers", "--due", "+1d", "--assign", "bea")
    assert set(_items(crm)) == {mine, hers}
    assert set(_items(crm, "--mine")) == {mine}
    assert set(_items(crm, "--for", "bea")) == {hers}
    assert set(_items(crm, "--contact", "ana@example.es")) == {mine}
    assert set(_items(crm, "--org", "Acme SL")) == {mine}  # through Ana's organization
    crm.fails("followup", "add", "X", "--due", "+1d", "--assign", "nobody", code=3)
    crm.fails("followup", "list", "--for", "nobody", code=3)


def test_recurring_done_creates_next_in_one_undoable_step(crm):
    fid = _add(crm, "Informe mensual", "--due", "2026-12-01 10:00", "--every", "monthly")
    r = crm("followup", "done", str(fid))
    assert r.stdout.strip() == str(fid)
    assert "next: follow-up" in r.stderr
    items = _items(crm, "--all")
    nxt = next(i for i in items.values() if i["previous_id"] == fid)
    assert items[fid]["status"] == "done" and items[fid]["done_at"] == "2026-03-10T08:00:00Z"
    assert nxt["due_at"] == "2027-01-01T09:00:00Z" and nxt["rule"] == "FREQ=MONTHLY"
    assert nxt["text"] == "Informe mensual" and nxt["assignee"] == "tester"
    crm("undo")
    items = _items(crm, "--all")
    assert set(items) == {fid} and items[fid]["status"] == "open"


def test_overdue_recurring_skips_to_the_first_occurrence_after_now(crm):
    fid = _add(crm, "Weekly", "--due", "2026-02-02 09:00", "--every", "weekly")  # a Monday
    res = crm.json("followup", "done", str(fid))
    assert res["next"]["due_at"] == "2026-03-16T08:00:00Z"  # next Monday 09:00 after now


def test_recurrence_keeps_wall_clock_across_dst(crm):
    fid = _add(crm, "Standup", "--due", "2026-03-23 09:00", "--every", "weekly")
    res = crm.json("followup", "done", str(fid))
    assert res["next"]["due_at"] == "2026-03-30T07:00:00Z"  # 09:00 CEST


def test_undo_after_add_removes_it(crm):
    fid = _add(crm, "Llamar", "--due", "+1d")
    crm("undo")
    crm.fails("followup", "show", str(fid), code=3)


def test_snooze_edit_delete(crm):
    fid = _add(crm, "Llamar", "--due", "2026-03-01 09:00")
    assert crm("followup", "snooze", str(fid), "2h").stdout.strip() == str(fid)
    assert crm.json("followup", "show", str(fid))["due_at"] == "2026-03-10T10:00:00Z"
    crm("followup", "snooze", str(fid), "tomorrow 9am")
    assert crm.json("followup", "show", str(fid))["due_at"] == "2026-03-11T08:00:00Z"
    edited = crm.json("followup", "edit", str(fid), "--text", "Call", "--every", "every friday")
    assert edited["text"] == "Call" and edited["rule"] == "FREQ=WEEKLY;BYDAY=FR"
    assert edited["every"] == "weekly on Fri"
    assert crm.json("followup", "edit", str(fid), "--every", "none")["rule"] is None
    assert crm("followup", "delete", str(fid)).stdout.strip() == str(fid)
    crm.fails("followup", "show", str(fid), code=3)
    crm("undo")
    assert crm.json("followup", "show", str(fid))["text"] == "Call"


def test_delete_keeps_the_series_chain(crm):
    first = _add(crm, "Weekly", "--due", "2026-03-09 09:00", "--every", "weekly")
    second = crm.json("followup", "done", str(first))["next"]["id"]
    crm("followup", "delete", str(first))
    assert crm.json("followup", "show", str(second))["previous_id"] is None
    crm("undo")
    assert crm.json("followup", "show", str(second))["previous_id"] == first


def test_bad_inputs(crm):
    fid = _add(crm, "Llamar", "--due", "+1d")
    r = crm.fails("followup", "add", "x", "--due", "the day after the blue moon", code=1)
    assert "the day after the blue moon" in r.stderr
    r = crm.fails("followup", "add", "x", "--due", "+1d", "--every", "fortnight-ish", code=1)
    assert "fortnight-ish" in r.stderr
    crm.fails("followup", "add", "  ", "--due", "+1d", code=1)
    crm.fails("followup", "add", "x", "--due", "+1d", "--contact", "nobody@example.com", code=3)
    crm.fails("followup", "add", "x", "--due", "+1d", "--deal", "999", code=3)
    crm.fails("followup", "done", "999", code=3)
    crm.fails("followup", "show", "999", code=3)
    crm.fails("followup", "snooze", "999", "2h", code=3)
    crm.fails("followup", "edit", "999", "--text", "x", code=3)
    crm.fails("followup", "delete", "999", code=3)
    crm.fails("followup", "snooze", str(fid), "someday", code=1)
    crm.fails("followup", "snooze", str(fid), "yesterday", code=1)
    crm.fails("followup", "edit", str(fid), code=1)
    crm.fails("followup", "edit", str(fid), "--due", "blue moon", code=1)
    crm("followup", "done", str(fid))
    r = crm.fails("followup", "done", str(fid), code=1)
    assert "already done" in r.stderr
    r = crm.fails("followup", "snooze", str(fid), "+1d", code=1)
    assert "done" in r.stderr
    # Nothing half-written: a bad id among good ones changes nothing.
    other = _add(crm, "Other", "--due", "+1d")
    crm.fails("followup", "done", str(other), "999", code=3)
    assert crm.json("followup", "show", str(other))["status"] == "open"
    assert len(crm.json("followup", "list")) == 1


def test_cadence_appears_and_activity_resets_it(crm, monkeypatch):
    cid = _ana(crm)
    assert crm("contact", "cadence", "ana@example.es", "--every", "30d").stdout.strip() == str(cid)
    assert crm.json("contact", "show", str(cid))["cadence_days"] == 30
    assert [i for i in crm.json("followup", "list") if i["kind"] == "cadence"] == []
    monkeypatch.setenv("CRM_NOW", "2026-04-20T09:00:00+02:00")
    (item,) = [i for i in crm.json("followup", "list") if i["kind"] == "cadence"]
    assert item["id"] == cid and item["contact"] == "Ana García" and item["group"] == "overdue"
    assert item["due_at"] == "2026-04-09T08:00:00Z" and item["assignee"] == "tester"
    assert "contact:" in crm("followup", "list").stdout
    assert [i for i in crm.json("followup", "list", "--no-cadence")] == []
    # A logged activity (written directly, as crm log would) resets the clock.
    from crm_cli.domain.session import open_session
    from crm_cli.storage.db import transaction

    db = open_session()
    with transaction(db, "log call") as tx:
        aid = tx.insert("activities", {"kind": "call", "occurred_at": "2026-04-19T10:00:00Z",
                                       "created_at": tx.at, "updated_at": tx.at})  # fmt: skip
        tx.insert("activity_participants", {"activity_id": aid, "contact_id": cid,
                                            "occurred_at": "2026-04-19T10:00:00Z"})  # fmt: skip
    db.close()
    assert [i for i in crm.json("followup", "list") if i["kind"] == "cadence"] == []
    monkeypatch.setenv("CRM_NOW", "2026-05-20T09:00:00+02:00")
    (item,) = [i for i in crm.json("followup", "list") if i["kind"] == "cadence"]
    assert item["due_at"] == "2026-05-19T10:00:00Z"


def test_cadence_clear_bulk_and_bad_input(crm):
    for n in ("A", "B", "C", "D"):
        crm("contact", "add", n, "--tag", "vip")
    crm.fails("contact", "cadence", "tag:vip", "--every", "2w", code=1)  # 4 > 3 without --yes
    out = crm("contact", "cadence", "tag:vip", "--every", "2w", "--yes").stdout.split()
    assert len(out) == 4
    assert {c["cadence_days"] for c in crm.json("contact", "list")} == {14}
    crm("contact", "cadence", "A", "--clear")
    crm("contact", "cadence", "B", "--every", "none")
    assert [c["cadence_days"] for c in crm.json("contact", "list", "--sort", "name")] == [
        None, None, 14, 14,
    ]  # fmt: skip
    crm("undo")
    assert crm.json("contact", "show", "B")["cadence_days"] == 14
    for bad in ("monthly", "0d", "3mo", "forever"):
        r = crm.fails("contact", "cadence", "C", "--every", bad, code=1)
        assert bad in r.stderr or "cadence" in r.stderr
    crm.fails("contact", "cadence", "C", code=1)
    crm.fails("contact", "cadence", "C", "--every", "2w", "--clear", code=1)
    crm.fails("contact", "cadence", "Nobody", "--every", "2w", code=3)


def test_upcoming_stops_at_the_horizon_unless_asked(crm):
    near = _add(crm, "Pronto", "--due", "+13d")
    edge = _add(crm, "Borde", "--due", "2026-03-24 23:30")  # the 14th day, late evening
    far = _add(crm, "Lejos", "--due", "+30d")
    old = _add(crm, "Vencida", "--due", "2020-01-01 09:00")
    r = crm("followup", "list", "--json")
    assert set(_items(crm)) == {near, edge, old}
    assert "1 more upcoming after the next 14 days" in r.stderr
    assert set(_items(crm, "--days", "40")) == {near, edge, far, old}
    assert set(_items(crm, "--days", "0")) == {old}
    assert set(_items(crm, "--all")) == {near, edge, far, old}
    crm.fails("followup", "list", "--days", "-1", code=2)


def test_moving_one_occurrence_keeps_the_series_count_and_time(crm):
    first = _add(crm, "c", "--due", "2026-03-11 09:00", "--every", "FREQ=DAILY;COUNT=3")
    done = crm.json("followup", "done", str(first))
    second = done["next"]["id"]
    crm("followup", "edit", str(second), "--due", "2026-03-12 10:00")
    third = crm.json("followup", "done", str(second))["next"]
    assert third["due_at"] == "2026-03-13T08:00:00Z"  # 09:00 Madrid: the series' own time
    last = crm.json("followup", "done", str(third["id"]))
    assert last["next"] is None  # COUNT=3: three occurrences in all


def test_until_as_a_date_includes_that_day_and_must_not_end_before_the_start(crm):
    fid = _add(crm, "d", "--due", "2026-03-11 09:00", "--every", "FREQ=DAILY;UNTIL=20260312")
    nxt = crm.json("followup", "done", str(fid))["next"]
    assert nxt is not None and nxt["due_at"] == "2026-03-12T08:00:00Z"
    assert crm.json("followup", "done", str(nxt["id"]))["next"] is None
    err = crm.fails("followup", "add", "e", "--due", "2026-03-11 09:00",
                    "--every", "FREQ=DAILY;UNTIL=20200101", code=1)  # fmt: skip
    assert "no occurrence" in err.stderr


def test_a_done_followup_keeps_its_due_time(crm):
    fid = _add(crm, "x", "--due", "+1d")
    crm("followup", "done", str(fid))
    crm.fails("followup", "edit", str(fid), "--due", "+2d", code=1)
    crm("followup", "edit", str(fid), "--text", "x (called)")


def test_list_takes_the_filter_language(crm):
    _ana(crm)
    call = _add(crm, "Llamar a Ana", "--due", "+1d", "--contact", "ana@example.es")
    weekly = _add(crm, "Informe", "--due", "+2d", "--every", "weekly")
    done = _add(crm, "Hecho", "--due", "-1d")
    crm("followup", "done", str(done))
    assert set(_items(crm, "text~ana")) == {call}
    assert set(_items(crm, "has:every")) == {weekly}
    assert set(_items(crm, "contact~garc")) == {call}
    assert set(_items(crm, "status:done")) == {done}
    assert set(_items(crm, "due<+36h")) == {call}
    crm.fails("followup", "list", "status:dne", code=1)
    crm.fails("followup", "list", "nosuch:1", code=1)
