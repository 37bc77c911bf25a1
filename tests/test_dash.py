"""crm dash: real key presses over a temporary database (Textual's pilot)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from crm_cli.tui.app import CrmApp
from crm_cli.tui.screens import FormScreen
from crm_cli.tui.views import AgendaView, BoardView, ContactsView


@pytest.fixture
def sales(crm):
    """Two contacts, three deals in the default pipeline, two follow-ups."""
    crm("contact", "add", "Ana García", "--email", "ana@example.es", "--org", "Acme SL")
    crm("contact", "add", "Bob Stone", "--email", "bob@example.com")
    crm(
        "deal",
        "add",
        "Big renewal",
        "--amount",
        "5000",
        "--org",
        "Acme SL",
        "--contact",
        "ana@example.es",
    )
    crm("deal", "add", "Small pilot", "--amount", "800", "--contact", "bob@example.com")
    crm("deal", "add", "Training", "--amount", "1200", "--stage", "proposal")
    crm("followup", "add", "Call Ana back", "--due", "-1d", "--contact", "ana@example.es")
    crm("followup", "add", "Send the quote", "--due", "+2d", "--contact", "bob@example.com")
    return crm


def deal(crm, title):
    return next(d for d in crm.json("deal", "list", "--all") if d["title"] == title)


async def settle(pilot, app, seconds=0.15):
    """Let the database thread answer and the interface redraw."""
    for _ in range(3):
        await pilot.pause(seconds)
        await app.workers.wait_for_complete()


def make_app():
    return CrmApp(os.environ["CRM_DB"], None)


async def test_move_a_deal_to_the_next_stage_and_back(sales):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        board = app.query_one(BoardView)
        assert board.selected_deal() == deal(sales, "Big renewal")["id"]  # biggest first
        await pilot.press("]")
        await settle(pilot, app)
        assert deal(sales, "Big renewal")["stage"] == "qualified"
        counts = {c.name: c.count for c in board.board.columns}
        assert counts == {"lead": 1, "qualified": 1, "proposal": 1, "negotiation": 0}
        await pilot.press("[")  # the focus followed the deal into its new column
        await settle(pilot, app)
    assert deal(sales, "Big renewal")["stage"] == "lead"
    moves = sales("history").stdout
    assert "deal move" in moves


async def test_mark_a_deal_lost_with_a_reason(sales):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press("l")
        await settle(pilot, app)
        assert isinstance(app.screen, FormScreen)
        await pilot.press(*"price", "enter")
        await settle(pilot, app)
        assert not isinstance(app.screen, FormScreen)
    d = deal(sales, "Big renewal")
    assert (d["status"], d["lost_reason"]) == ("lost", "price")


async def test_complete_and_snooze_follow_ups_in_the_agenda(sales):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press("2")
        await settle(pilot, app)
        agenda = app.query_one(AgendaView)
        assert agenda.selected().text == "Call Ana back"  # overdue comes first
        await pilot.press("d")
        await settle(pilot, app)
        assert agenda.selected().text == "Send the quote"
        await pilot.press("s")
        await settle(pilot, app)
        await pilot.press(*"2026-03-20 9am")
        await settle(pilot, app)
        preview = str(app.screen.query_one("#preview").render())
        assert "2026-03-20 09:00" in preview  # the parsed time, before saving
        await pilot.press("enter")
        await settle(pilot, app)
    items = {f["text"]: f for f in sales.json("followup", "list", "--all")}
    assert items["Call Ana back"]["status"] == "done"
    assert items["Send the quote"]["due_at"] == "2026-03-20T08:00:00Z"  # Madrid, UTC+1


async def test_search_as_you_type_and_open_a_contact(sales):
    sales("log", "call", "--contact", "ana@example.es", "--body", "Talked about the renewal")
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press("3")
        await settle(pilot, app)
        await pilot.press(*"garc")
        await settle(pilot, app)
        view = app.query_one(ContactsView)
        assert [h.name for h in view.hits] == ["Ana García"]
        body = str(app.query_one("#contact-body").render())
        assert "ana@example.es" in body and "Big renewal" in body
        assert "Talked about the renewal" in body and "Call Ana back" in body
        # The filter language works in the same box.
        await pilot.press(*(["backspace"] * 4), *"org~acme")
        await settle(pilot, app)
        assert app.query_one("#contact-search").value == "org~acme"
        assert [h.name for h in view.hits] == ["Ana García"], app.query_one(
            "#contact-status"
        ).render()
        await pilot.press(*(["backspace"] * 8), *"nosuchfield:2")  # told, not a crash
        await settle(pilot, app)
        assert "unknown" in str(app.query_one("#contact-status").render()).lower()


async def test_a_form_with_a_bad_email_shows_the_error_and_saves_nothing(sales):
    before = len(sales.json("contact", "list"))
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press("n")
        await settle(pilot, app)
        await pilot.press(*"Carla Ruiz", "enter", *"carla@@example", "enter", "enter", "enter")
        await settle(pilot, app)
        assert isinstance(app.screen, FormScreen)  # still open, with what was typed
        error = str(app.screen.query_one("#error").render())
        assert "invalid email address" in error
        assert app.screen.values()["name"] == "Carla Ruiz"
        await pilot.press("escape")
        await settle(pilot, app)
    assert len(sales.json("contact", "list")) == before


async def test_a_change_from_another_process_appears_on_the_board(sales):
    big = deal(sales, "Big renewal")["id"]
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        board = app.query_one(BoardView)
        assert {c.name: c.count for c in board.board.columns}["negotiation"] == 0
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "crm_cli", "deal", "move", str(big), "negotiation",
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        _, err = await proc.communicate()
        assert proc.returncode == 0, err
        for _ in range(30):  # the board polls every second: within two, it shows
            await pilot.pause(0.1)
            if {c.name: c.count for c in board.board.columns}["negotiation"] == 1:
                break
        assert {c.name: c.count for c in board.board.columns}["negotiation"] == 1
        assert board.selected_deal() is not None  # the selection survived the redraw


def test_dash_without_a_database_is_one_error_line(crm):
    assert "no database at" in crm.fails("dash", code=3).stderr  # exit 3: not found


def test_dash_with_an_unknown_pipeline_is_one_error_line(sales):
    assert "pipeline" in sales.fails("dash", "--pipeline", "nope").stderr


async def test_edit_a_follow_up_from_the_agenda(sales):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press("2")
        await settle(pilot, app)
        await pilot.press("e")
        await settle(pilot, app)
        await pilot.press("end", *" today", "ctrl+s")
        await settle(pilot, app)
        assert not isinstance(app.screen, FormScreen)
    texts = {f["text"] for f in sales.json("followup", "list")}
    assert "Call Ana back today" in texts


async def test_focus_follows_a_moved_deal_so_it_can_move_again(sales):
    big = deal(sales, "Big renewal")["id"]
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        board = app.query_one(BoardView)
        await pilot.press("]")
        await settle(pilot, app)
        assert board.focused_column().column.name == "qualified"
        assert board.selected_deal() == big
        await pilot.press("]")  # again: the same deal, one stage further
        await settle(pilot, app)
        assert board.focused_column().column.name == "proposal"
        assert board.selected_deal() == big
    assert deal(sales, "Big renewal")["stage"] == "proposal"


async def test_a_stage_with_more_deals_than_cards_pages_on_enter(crm, tmp_path):
    ndjson = tmp_path / "deals.ndjson"
    ndjson.write_text(
        "".join(f'{{"title": "Deal {i:03d}", "amount": "{1000 + i}"}}\n' for i in range(120)),
        encoding="utf-8",
    )
    crm("import", "deals", str(ndjson))
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        board = app.query_one(BoardView)
        lead = board.focused_column()
        assert lead.column.count == 120 and len(lead.column.cards) == 50
        assert lead.column.cards[0].title == "Deal 119"  # biggest first
        cards = lead.query_one("OptionList")
        await pilot.press("end")  # the last option: "+70 more"
        await settle(pilot, app)
        assert "70 more" in str(cards.get_option_at_index(cards.highlighted).prompt)
        await pilot.press("enter")
        await settle(pilot, app)
        lead = board.focused_column()
        assert len(lead.column.cards) == 100
        assert board.selected_deal() == deal(crm, "Deal 069")["id"]  # the first new card
        assert lead.column.count == 120  # totals always count every open deal


def test_cards_name_the_currency_only_where_a_stage_mixes_them(sales):
    from crm_cli.domain.session import open_session
    from crm_cli.tui import data

    sales("deal", "add", "Export order", "--amount", "12345.60 USD", "--stage", "proposal")
    db = open_session(os.environ["CRM_DB"], command="test")
    try:
        cols = {c.name: c for c in data.board(db).columns}
    finally:
        db.close()
    assert [c.amount for c in cols["lead"].cards] == ["5,000", "800"]
    assert cols["lead"].amounts == {"EUR": "5,800"} and cols["lead"].weighted == {"EUR": "580"}
    assert [c.amount for c in cols["proposal"].cards] == ["12,345.60 USD", "1,200 EUR"]


async def test_the_command_palette_runs_the_actions_on_the_highlighted_deal(sales):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press("ctrl+p")
        await settle(pilot, app)
        await pilot.press(*"deal: next stage")
        await settle(pilot, app)
        await pilot.press("enter")
        await settle(pilot, app)
    assert deal(sales, "Big renewal")["stage"] == "qualified"


async def test_an_open_form_survives_a_change_from_another_process(sales):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press("n")
        await settle(pilot, app)
        await pilot.press(*"Dana Half")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "crm_cli", "deal", "move", str(deal(sales, "Big renewal")["id"]),
            "negotiation", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert (await proc.wait()) == 0
        board = app.query_one(BoardView)
        for _ in range(30):
            await pilot.pause(0.1)
            if {c.name: c.count for c in board.board.columns}["negotiation"] == 1:
                break
        assert {c.name: c.count for c in board.board.columns}["negotiation"] == 1  # redrawn
        assert isinstance(app.screen, FormScreen)  # ...under the form, which kept its text
        assert app.screen.values()["name"] == "Dana Half"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
    assert "Dana Half" in {c["name"] for c in sales.json("contact", "list")}


async def test_switch_pipelines_with_p_and_by_name_in_the_palette(sales):
    sales("pipeline", "add", "Renewals", "--stage", "contacted:20", "--stage", "quoted:60%")
    sales("deal", "add", "Renew Acme", "--amount", "900", "--pipeline", "Renewals")
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        board = app.query_one(BoardView)
        assert board.board.pipeline == "sales"
        await pilot.press("p")
        await settle(pilot, app)
        assert board.board.pipeline == "Renewals"
        assert [c.name for c in board.board.columns] == ["contacted", "quoted"]
        assert board.selected_deal() == deal(sales, "Renew Acme")["id"]
        await pilot.press("ctrl+p", *"pipeline: sales")
        await settle(pilot, app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert board.board.pipeline == "sales"


async def test_enter_on_a_follow_up_goes_to_its_contact(sales):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press("2")
        await settle(pilot, app)
        await pilot.press("enter")  # "Call Ana back": about Ana
        await settle(pilot, app)
        assert app.active() == "contacts"
        assert "ana@example.es" in str(app.query_one("#contact-body").render())


async def test_a_stale_search_is_interrupted_and_writes_never_are(sales):
    from crm_cli.tui.backend import Backend

    backend = Backend(os.environ["CRM_DB"], None)
    slow = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000)"
            " SELECT count(*) FROM n")  # fmt: skip
    try:
        running = asyncio.ensure_future(
            backend.call_interruptible(lambda db: db.conn.execute(slow).fetchone())
        )
        await asyncio.sleep(0.3)
        backend.interrupt()
        assert await asyncio.wait_for(running, 5) is None  # stopped, answered None
        backend.interrupt()  # nothing interruptible runs: a no-op for the next call
        assert await backend.call(lambda db: db.conn.execute("SELECT 42").fetchone()[0]) == 42
    finally:
        backend.close()
