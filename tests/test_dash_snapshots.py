"""crm dash as the user sees it: SVG snapshots of the board, the agenda and a contact.

Fixed demo data written through the CLI at fixed times (CRM_NOW moves with the story),
then the dashboard drawn at 2026-03-10 09:00 Madrid. A change in what these screens
show fails here with a side-by-side diff (`pytest --snapshot-report`); when the change
is meant, accept it with `pytest tests/test_dash_snapshots.py --snapshot-update` and
look at the new SVGs under tests/__snapshots__/ before committing them.
"""

from __future__ import annotations

import os

import pytest

from crm_cli.tui.app import CrmApp
from crm_cli.tui.views import ContactsView

NOW = "2026-03-10T09:00:00+01:00"


@pytest.fixture
def demo(crm, monkeypatch):
    """A small sales team's month: organizations, people, deals in every stage,
    calls, emails and meetings, follow-ups overdue, today and later, and a ticket."""

    def at(when: str):
        monkeypatch.setenv("CRM_NOW", when)

    at("2026-02-02T10:00:00+01:00")
    crm("org", "add", "Acme SL", "--industry", "retail", "--city", "Madrid")
    crm("org", "add", "Nordwind GmbH", "--industry", "logistics", "--city", "Hamburg")
    crm("contact", "add", "Ana García", "--email", "ana@acme.es", "--phone", "+34 612 345 678",
        "--org", "Acme SL", "--title", "Head of Purchasing", "--tag", "vip", "--city", "Madrid",
        "--country", "ES", "--source", "referral")  # fmt: skip
    crm("contact", "add", "Bob Stone", "--email", "bob@example.com", "--org", "Nordwind GmbH",
        "--title", "CFO")  # fmt: skip
    crm("contact", "add", "Chloé Martin", "--email", "chloe@martin.fr", "--tag", "partner")
    crm("deal", "add", "Acme store rollout", "--amount", "48000", "--contact", "ana@acme.es",
        "--close", "2026-04-30")  # fmt: skip
    crm("deal", "add", "Nordwind fleet tracking", "--amount", "125000",
        "--contact", "bob@example.com", "--stage", "proposal")  # fmt: skip
    at("2026-02-20T11:30:00+01:00")
    crm("deal", "add", "Chloé consulting retainer", "--amount", "6500",
        "--contact", "chloe@martin.fr")  # fmt: skip
    crm("deal", "add", "Acme loyalty app with a long name that will not fit on one card",
        "--amount", "21000", "--org", "Acme SL", "--stage", "qualified")  # fmt: skip
    crm("deal", "add", "Nordwind spare parts", "--amount", "9800 USD", "--org", "Nordwind GmbH",
        "--stage", "negotiation")  # fmt: skip
    crm("log", "call", "Kick-off", "--contact", "ana@acme.es", "--duration", "30m",
        "--body", "Wants the rollout before summer.")  # fmt: skip
    at("2026-03-02T16:00:00+01:00")
    crm("log", "email", "Proposal sent", "--contact", "ana@acme.es", "--direction", "out")
    crm("deal", "move", "1", "qualified")
    crm("ticket", "open", "Invoice shows the wrong VAT", "--contact", "ana@acme.es",
        "--priority", "high")  # fmt: skip
    at("2026-03-06T09:00:00+01:00")
    crm("log", "meeting", "Store visit in Alcalá", "--contact", "ana@acme.es",
        "--at", "2026-03-05 10:00")  # fmt: skip
    crm("followup", "add", "Call Ana about the pilot stores", "--due", "2026-03-09 10:00",
        "--contact", "ana@acme.es")  # fmt: skip
    crm("followup", "add", "Send Bob the revised quote", "--due", "2026-03-10 15:00",
        "--contact", "bob@example.com")  # fmt: skip
    crm("followup", "add", "Quarterly review with Chloé", "--due", "2026-03-16 11:00",
        "--contact", "chloe@martin.fr", "--every", "3 months")  # fmt: skip
    crm("followup", "add", "Renewal reminder", "--due", "2026-05-01 09:00", "--deal", "1")
    at(NOW)
    return crm


def app() -> CrmApp:
    return CrmApp(os.environ["CRM_DB"], None)


async def settled(pilot) -> None:
    """Let the database thread answer and the screen redraw."""
    for _ in range(3):
        await pilot.pause(0.1)
        await pilot.app.workers.wait_for_complete()


def test_the_board(demo, snap_compare):
    assert snap_compare(app(), terminal_size=(120, 30), run_before=settled)


def test_the_board_in_80x24_light(demo, snap_compare):
    async def light(pilot):
        pilot.app.theme = "textual-light"
        await settled(pilot)

    assert snap_compare(app(), terminal_size=(80, 24), run_before=light)


def test_the_agenda(demo, snap_compare):
    async def agenda(pilot):
        await settled(pilot)
        await pilot.press("2")
        await settled(pilot)

    assert snap_compare(app(), terminal_size=(100, 24), run_before=agenda)


def test_a_contact_with_its_deals_tickets_and_timeline(demo, snap_compare):
    async def contact(pilot):
        await settled(pilot)
        await pilot.press("3")
        await settled(pilot)
        await pilot.press(*"ana")
        await settled(pilot)
        assert [h.name for h in pilot.app.query_one(ContactsView).hits] == ["Ana García"]
        # The search box's cursor blinks: drawn on or off depending on when the picture is
        # taken (a loaded machine took it in the off phase). Hold it still.
        from textual.widgets import Input

        for box in pilot.app.query(Input):
            box.cursor_blink = False
        await settled(pilot)

    assert snap_compare(app(), terminal_size=(120, 36), run_before=contact)
