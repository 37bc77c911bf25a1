"""`crm dash`: the Textual dashboard — the same domain functions as the CLI, live.

Reads and writes run in the backend's database thread (the interface never blocks on
SQLite); every write is a domain call recorded in the change log under the acting
user, like the CLI's. Every second the app asks SQLite whether another connection has
committed (``PRAGMA data_version``) and redraws what changed, keeping the selection;
modal forms are screens of their own, so a redraw never touches what is being typed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, OptionList, TabbedContent, TabPane

from crm_cli.domain import activities, contacts, followups, tickets
from crm_cli.errors import CrmError
from crm_cli.tui import data
from crm_cli.tui.backend import Backend
from crm_cli.tui.screens import FormField, FormScreen, TextScreen
from crm_cli.tui.views import AgendaView, BoardView, ContactsView

POLL_SECONDS = 1.0

HELP = """crm dash — keys

Anywhere          1 board · 2 agenda · 3 contacts · ctrl+p command palette
                  n new contact · g log an activity · f add a follow-up · t open a ticket
                  r refresh · ? this help · q quit
Board             ←/→ column · ↑/↓ deal · ] next stage · [ previous stage
                  w won · l lost (asks the reason) · enter deal detail · p switch pipeline
Agenda            d done · s snooze (shows the parsed time before saving) · e edit
                  enter go to the contact or deal
Contacts          type to search (words: full-text; org~acme tag:vip created>-30d: filters)
                  ↓ into the list · the detail pane follows the highlighted contact

Changes made elsewhere (another terminal, cron, an import) appear within a second or two.
Everything done here is recorded like the CLI's: `crm history` lists it, `crm undo` undoes it.
"""


class CrmApp(App):
    TITLE = "crm"
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere find it
    BINDINGS = [
        Binding("1", "tab('board')", "Board", id="tab-board"),
        Binding("2", "tab('agenda')", "Agenda", id="tab-agenda"),
        Binding("3", "tab('contacts')", "Contacts", id="tab-contacts"),
        Binding("n", "new_contact", "Contact+", show=False, id="new-contact"),
        Binding("g", "log_activity", "Log", show=False, id="log-activity"),
        Binding("f", "new_followup", "Follow-up+", show=False, id="new-followup"),
        Binding("t", "new_ticket", "Ticket+", show=False, id="new-ticket"),
        Binding("r", "refresh", "Refresh", show=False, id="refresh"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    def __init__(self, path: str | None = None, actor: str | None = None,
                 pipeline: str | None = None):  # fmt: skip
        super().__init__()
        self.backend = Backend(path, actor)
        self.pipeline = pipeline
        self.version: int | None = None
        self.stale: set[str] = set()
        self.search_text = ""
        self.search_generation = 0

    # -- layout -------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with TabbedContent(initial="board-tab"):
            with TabPane("Board", id="board-tab"):
                yield BoardView()
            with TabPane("Agenda", id="agenda-tab"):
                yield AgendaView()
            with TabPane("Contacts", id="contacts-tab"):
                yield ContactsView()
        yield Footer()

    async def on_mount(self) -> None:
        try:
            pid = None
            if self.pipeline is not None:
                from crm_cli.domain import deals

                pid = await self.backend.call(deals.resolve_pipeline, self.pipeline)
            self.query_one(BoardView).pipeline_id = pid
        except CrmError as e:
            self.exit(message=str(e), return_code=1)
            return
        # The version first, then the board, in one trip to the database thread: a commit
        # in between is seen by the first poll instead of being missed.
        view = self.query_one(BoardView)

        def first_board(db):
            return db.data_version(), data.board(db, view.pipeline_id)

        try:
            self.version, found = await self.backend.call(first_board)
            await view.show(found)
        except CrmError as e:
            self.notify(str(e), severity="error")
        self.stale = {"agenda", "contacts"}
        self.set_interval(POLL_SECONDS, self.poll)

    def on_unmount(self) -> None:
        self.backend.close()

    # -- data ----------------------------------------------------------------
    def active(self) -> str:
        return self.query_one(TabbedContent).active.removesuffix("-tab")

    async def refresh_view(self, which: str) -> None:
        """Reload one view from the database (in the database thread)."""
        self.stale.discard(which)
        try:
            if which == "board":
                view = self.query_one(BoardView)
                found = await self.backend.call(data.board, view.pipeline_id,
                                                limits=dict(view.limits))  # fmt: skip
                await view.show(found)
            elif which == "agenda":
                self.query_one(AgendaView).show(await self.backend.call(data.agenda))
            else:
                await self.search_contacts(self.search_text)
                cv = self.query_one(ContactsView)
                if cv.contact_id is not None:
                    await self.show_contact(cv.contact_id)
        except CrmError as e:
            self.notify(str(e), severity="error")

    async def poll(self) -> None:
        """Another process committed? Redraw the view on screen; the others when shown."""
        version = await self.backend.call(self.backend.data_version)
        if version != self.version:
            self.version = version
            self.stale = {"board", "agenda", "contacts"}
            await self.refresh_view(self.active())

    async def after_write(self, message: str | None = None) -> None:
        self.stale = {"board", "agenda", "contacts"}
        await self.refresh_view(self.active())
        if message:
            self.notify(message)

    async def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        which = self.active()
        if which in self.stale:
            await self.refresh_view(which)
        view = {"board": BoardView, "agenda": AgendaView, "contacts": ContactsView}[which]
        target = self.query_one(view).query(OptionList).first(OptionList)
        if which == "contacts":
            self.query_one("#contact-search").focus()
        elif target is not None:
            target.focus()

    async def write(self, fn, *args, ok: str | None = None, **kwargs):
        """A domain write in the database thread; a refused one is told, nothing else."""
        try:
            result = await self.backend.call(fn, *args, **kwargs)
        except CrmError as e:
            self.notify(str(e), severity="error", timeout=6)
            return None
        await self.after_write(ok)
        return result

    # -- board ---------------------------------------------------------------
    async def move_deal(self, deal_id: int | None, step: int) -> None:
        if deal_id is None:
            return
        moved = await self.write(data.move, deal_id, step)
        if moved is None:
            return
        self.notify(f"deal {deal_id} → {moved.stage}")

    async def close_deal(self, deal_id: int | None, status: str) -> None:
        if deal_id is None:
            return
        from crm_cli.domain import deals

        if status == "won":
            await self.write(deals.close, deal_id, "won", ok=f"deal {deal_id} won")
            return

        def lose(db, v):
            return deals.close(db, deal_id, "lost", reason=v["reason"] or None)

        submit = self._submitter(lose, f"deal {deal_id} lost")

        await self.push_screen(FormScreen(f"Deal {deal_id} lost: why?",
                                          [FormField("reason", "Reason", "price, timing, competitor…")],
                                          submit))  # fmt: skip

    async def open_deal(self, deal_id: int | None) -> None:
        if deal_id is None:
            return
        try:
            d = await self.backend.call(data.deal_detail, deal_id)
        except CrmError as e:
            self.notify(str(e), severity="error")
            return
        await self.push_screen(TextScreen(deal_text(d)))

    async def switch_pipeline(self, pipeline_id: int | None = None) -> None:
        """Show another pipeline's board: the given one, else the next."""
        view = self.query_one(BoardView)
        if view.board is None or len(view.board.pipelines) < 2:
            self.notify("there is only one pipeline (crm pipeline add NAME adds another)")
            return
        ids = [pid for pid, _ in view.board.pipelines]
        if pipeline_id is None:
            pipeline_id = ids[(ids.index(view.board.pipeline_id) + 1) % len(ids)]
        view.pipeline_id = pipeline_id
        self.action_tab("board")
        await self.refresh_view("board")

    # -- agenda --------------------------------------------------------------
    async def followup_done(self, f: followups.Followup | None) -> None:
        if f is None:
            return
        if f.kind == "cadence":
            self.notify(f"{f.contact} is due for a touch: log an activity (g) to reset the cadence")
            return
        await self.write(followups.done, [f.id], ok=f"follow-up {f.id} done")

    async def followup_snooze(self, f: followups.Followup | None) -> None:
        if f is None or f.kind != "followup":
            return

        async def preview(text: str) -> str:
            return await self.backend.call(lambda db: data.snooze_preview(text))

        def snooze(db, v):
            return followups.snooze(db, f.id, v["when"])

        submit = self._submitter(snooze, f"follow-up {f.id} snoozed")

        await self.push_screen(FormScreen(f"Snooze: {f.text}",
                                          [FormField("when", "Until when?", "tomorrow 9am, +2h, monday")],
                                          submit, preview))  # fmt: skip

    async def followup_edit(self, f: followups.Followup | None) -> None:
        if f is None or f.kind != "followup":
            return

        def edit(db, v):
            return followups.edit(db, f.id, text=v["text"], due=v["due"] or None)

        submit = self._submitter(edit, f"follow-up {f.id} changed")

        await self.push_screen(FormScreen(f"Edit follow-up {f.id}", [
            FormField("text", "Text", value=f.text),
            FormField("due", "Due (leave empty to keep)", followups.local_text(f.due_at)),
        ], submit))  # fmt: skip

    async def jump_to(self, f: followups.Followup | None) -> None:
        if f is None:
            return
        if f.deal_id is not None:
            await self.open_deal(f.deal_id)
        elif f.contact_id is not None:
            self.query_one(TabbedContent).active = "contacts-tab"
            await self.show_contact(f.contact_id)

    # -- contacts ------------------------------------------------------------
    async def search_contacts(self, text: str) -> None:
        self.search_text = text
        self.search_generation += 1
        mine = self.search_generation

        def find(db):
            if mine != self.search_generation:  # a newer keystroke is queued: skip this one
                return None
            return data.find_contacts(db, text)

        self.backend.interrupt()  # a search still running for an older keystroke stops
        try:
            hits = await self.backend.call_interruptible(find)
            if hits is None:
                return
            note = f"{len(hits)} contact{'s' if len(hits) != 1 else ''}" + (
                f" (first {data.RESULTS})" if len(hits) >= data.RESULTS else ""
            )
        except CrmError as e:
            hits, note = (), str(e)
        if mine == self.search_generation:  # an answer to an older keystroke is dropped
            self.query_one(ContactsView).show_hits(hits, note)

    async def show_contact(self, contact_id: int) -> None:
        try:
            detail = await self.backend.call(data.contact_detail, contact_id)
        except CrmError as e:
            self.notify(str(e), severity="error")
            return
        self.query_one(ContactsView).show_detail(detail)

    # -- quick forms ---------------------------------------------------------
    def _submitter(self, write, ok: str):
        """A form's submit: ``write(db, values)`` in the database thread; its error, if any,
        is what the form shows (the domain wrote nothing), else the views redraw."""

        async def submit(values: dict[str, str]) -> str | None:
            try:
                await self.backend.call(write, values)
            except CrmError as e:
                return str(e)
            await self.after_write(ok)
            return None

        return submit

    def _form(self, title: str, fields: list[FormField], write, ok: str) -> FormScreen:
        return FormScreen(title, fields, self._submitter(write, ok))

    def _about(self) -> str:
        """The contact in view, as a default for forms (its id)."""
        cv = self.query_one(ContactsView)
        return (
            str(cv.contact_id) if cv.contact_id is not None and self.active() == "contacts" else ""
        )

    async def action_new_contact(self) -> None:
        def write(db, v):
            return contacts.add(db, v["name"] or None, emails=_list(v["email"]),
                                phones=_list(v["phone"]), org=v["org"] or None)  # fmt: skip

        await self.push_screen(self._form("New contact", [
            FormField("name", "Name"), FormField("email", "Email(s), comma-separated"),
            FormField("phone", "Phone(s)"), FormField("org", "Organization"),
        ], write, "contact added"))  # fmt: skip

    async def action_log_activity(self) -> None:
        def write(db, v):
            return activities.log(db, v["kind"] or "note", contacts=_list(v["contact"]),
                                  body=v["body"] or None, at=v["at"] or None)  # fmt: skip

        await self.push_screen(self._form("Log an activity", [
            FormField("kind", "Kind (call, email, meeting, chat, visit, social, note)", value="call"),
            FormField("contact", "Contact (id, email or name)", value=self._about()),
            FormField("body", "What happened"), FormField("at", "When (empty: now)", "-2h, yesterday 16:00"),
        ], write, "activity logged"))  # fmt: skip

    async def action_new_followup(self) -> None:
        def write(db, v):
            return followups.add(db, v["text"], v["due"], contact=v["contact"] or None)

        await self.push_screen(self._form("New follow-up", [
            FormField("text", "What to do"), FormField("due", "Due", "tomorrow 9am, friday, +3d"),
            FormField("contact", "Contact (id, email or name; optional)", value=self._about()),
        ], write, "follow-up added"))  # fmt: skip

    async def action_new_ticket(self) -> None:
        def write(db, v):
            return tickets.open_ticket(db, v["subject"], contact=v["contact"] or None,
                                       priority=v["priority"] or "normal", body=v["body"] or None)  # fmt: skip

        await self.push_screen(self._form("Open a ticket", [
            FormField("subject", "Subject"), FormField("contact", "Contact", value=self._about()),
            FormField("priority", "Priority (low, normal, high, urgent)", value="normal"),
            FormField("body", "Description"),
        ], write, "ticket opened"))  # fmt: skip

    # -- the rest ------------------------------------------------------------
    def action_tab(self, which: str) -> None:
        self.query_one(TabbedContent).active = f"{which}-tab"

    async def action_refresh(self) -> None:
        await self.refresh_view(self.active())

    async def action_help(self) -> None:
        await self.push_screen(TextScreen(Text(HELP)))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Board", "The pipeline board", lambda: self.action_tab("board"))
        yield SystemCommand("Agenda", "Follow-ups: overdue, today, upcoming",
                            lambda: self.action_tab("agenda"))  # fmt: skip
        yield SystemCommand("Contacts", "Search contacts", lambda: self.action_tab("contacts"))
        yield SystemCommand("New contact", "Add a contact", self.action_new_contact)
        yield SystemCommand("Log an activity", "A call, email, meeting…", self.action_log_activity)
        yield SystemCommand(
            "New follow-up", "Something to do, with a due time", self.action_new_followup
        )
        yield SystemCommand("Open a ticket", "A support request", self.action_new_ticket)
        yield SystemCommand(
            "Switch pipeline", "Show the next pipeline's board", self.switch_pipeline
        )
        board, agenda = self.query_one(BoardView), self.query_one(AgendaView)
        for pid, name in board.board.pipelines if board.board else ():
            yield SystemCommand(f"Pipeline: {name}", f"The board of the {name} pipeline",
                                lambda pid=pid: self.switch_pipeline(pid))  # fmt: skip
        for title, help, action in [
            ("Deal: next stage", "Move the highlighted deal one stage on", lambda: board.action_move(1)),
            ("Deal: previous stage", "Move the highlighted deal one stage back", lambda: board.action_move(-1)),
            ("Deal: won", "Mark the highlighted deal won", board.action_won),
            ("Deal: lost", "Mark the highlighted deal lost, with a reason", board.action_lost),
            ("Deal: open", "The highlighted deal with its moves and timeline", board.action_open_deal),
            ("Follow-up: done", "Complete the highlighted follow-up", agenda.action_done),
            ("Follow-up: snooze", "Move the highlighted follow-up later", agenda.action_snooze),
            ("Follow-up: edit", "Change the highlighted follow-up", agenda.action_edit),
            ("Follow-up: go to", "Its contact or deal", agenda.action_jump),
        ]:  # fmt: skip
            yield SystemCommand(title, help, action)
        yield SystemCommand("Refresh", "Reload the view from the database", self.action_refresh)
        yield SystemCommand("Keys", "Every key binding", self.action_help)


def _list(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def deal_text(d: data.DealDetail) -> Text:
    from crm_cli.domain import money

    deal = d.deal
    t = Text(f"#{deal.id} {deal.title}", style="bold")
    amount = money.format(deal.amount_minor, deal.currency) + f" {deal.currency}" if (
        deal.amount_minor is not None and deal.currency) else "no amount"  # fmt: skip
    rows = [("pipeline", f"{deal.pipeline} · {deal.stage} ({deal.probability}%)"),
            ("status", deal.status + (f": {deal.lost_reason}" if deal.lost_reason else "")),
            ("amount", amount), ("organization", deal.org), ("contact", deal.contact),
            ("owner", deal.owner), ("expected close", deal.expected_close_date),
            ("in stage since", followups.local_text(deal.stage_entered_at)),
            ("tags", ", ".join(deal.tags) or None)]  # fmt: skip
    for k, v in rows:
        if v:
            t.append(f"\n{k}: ", style="dim")
            t.append(str(v))
    t.append("\n\nMoves", style="bold underline")
    for m in d.moves:
        t.append(f"\n{followups.local_text(m['moved_at'])} ", style="dim")
        t.append(f"{m['from_stage'] or '—'} → {m['to_stage']}")
        if m["to_status"] != m["from_status"] and m["to_status"] != "open":
            t.append(f" ({m['to_status']})")
        if m.get("actor"):
            t.append(f" by {m['actor']}", style="dim")
    t.append(f"\n\nTimeline ({len(d.timeline)} latest)", style="bold underline")
    for a in d.timeline:
        t.append(f"\n{followups.local_text(a.occurred_at)} ", style="dim")
        t.append(f"{a.kind} ")
        t.append(a.subject or (a.body or "").split("\n")[0][:80])
    t.append("\n\nescape to close", style="dim")
    return t
