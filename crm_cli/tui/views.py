"""The dashboard's three views: the pipeline board, the agenda, the contacts."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, HorizontalScroll, Vertical, VerticalScroll
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from crm_cli.domain import followups
from crm_cli.tui import data


def _amounts(amounts: dict[str, str]) -> str:
    return " + ".join(f"{v} {c}" for c, v in amounts.items()) or "—"


# ---------------------------------------------------------------- board


def card_text(c: data.Card) -> Text:
    t = Text(c.title, style="bold")  # one line each: the list's CSS cuts with an ellipsis
    t.append(f"\n{c.org or c.contact or '—'}", style="dim")
    t.append(f"\n{c.amount or 'no amount'} · {c.days_in_stage}d")
    return t


class StageColumn(Vertical):
    """One stage: its name, totals over every open deal, and its biggest deals as cards."""

    def __init__(self, column: data.Column):
        super().__init__(id=f"stage-{column.stage_id}")
        self.column = column

    def compose(self) -> ComposeResult:
        yield Label("", classes="stage-name")
        yield Static("", classes="stage-totals")
        yield OptionList(id=f"cards-{self.column.stage_id}")

    def on_mount(self) -> None:
        self.show(self.column)

    def show(self, column: data.Column, keep: int | None = None) -> None:
        self.column = column
        self.query_one(".stage-name", Label).update(f"{column.name} {column.probability}%")
        self.query_one(".stage-totals", Static).update(
            f"{column.count} deal{'' if column.count == 1 else 's'}\n{_amounts(column.amounts)}"
            f"\n{_amounts(column.weighted)} weighted"
        )
        cards = self.query_one(OptionList)
        old = cards.highlighted
        cards.clear_options()
        options: list[Option] = [Option(card_text(c), id=f"deal-{c.id}") for c in column.cards]
        if column.more:
            options.append(Option(Text(f"+{column.more} more: enter shows {min(column.more, data.PER_STAGE)}",
                                       style="dim italic"), id=f"more-{column.stage_id}"))  # fmt: skip
        cards.add_options(options)
        ids = [c.id for c in column.cards]
        if keep is not None and keep in ids:
            cards.highlighted = ids.index(keep)
        elif ids:  # where the cursor was (after "more": the first card of the new page)
            cards.highlighted = min(old or 0, len(ids) - 1)

    def highlight(self, deal_id: int) -> bool:
        """Focus this column on a deal; False when it is not drawn here."""
        ids = [c.id for c in self.column.cards]
        if deal_id not in ids:
            return False
        cards = self.query_one(OptionList)
        cards.highlighted = ids.index(deal_id)
        cards.focus()
        return True

    def selected_deal(self) -> int | None:
        cards = self.query_one(OptionList)
        if cards.highlighted is None or cards.highlighted >= len(self.column.cards):
            return None
        return self.column.cards[cards.highlighted].id


class BoardView(Vertical):
    BINDINGS = [
        Binding("left", "column(-1)", "←col", show=False, id="board.column-left"),
        Binding("right", "column(1)", "col→", show=False, id="board.column-right"),
        Binding("]", "move(1)", "Next stage", id="board.next-stage"),
        Binding("[", "move(-1)", "Prev stage", id="board.previous-stage"),
        Binding("w", "won", "Won", id="board.won"),
        Binding("l", "lost", "Lost", id="board.lost"),
        Binding("enter", "open_deal", "Open", show=False, id="board.open-deal"),
        Binding("p", "switch_pipeline", "Pipeline", id="board.switch-pipeline"),
    ]

    def __init__(self) -> None:
        super().__init__(id="board")
        self.board: data.Board | None = None
        self.pipeline_id: int | None = None
        self.limits: dict[int, int] = {}  # stage id -> cards drawn, where "more" was asked
        self.follow: int | None = None  # a deal just moved: focus goes with it

    def compose(self) -> ComposeResult:
        yield Label("loading the board…", id="board-title")
        yield HorizontalScroll(id="columns")

    async def show(self, board: data.Board) -> None:
        """Draw the board, keeping the focused column and the highlighted deal."""
        keep_col, keep_deal = self.focused_column(), None
        if keep_col is not None:
            keep_deal = keep_col.selected_deal()
        same = self.board is not None and [c.stage_id for c in self.board.columns] == [
            c.stage_id for c in board.columns
        ]
        self.board, self.pipeline_id = board, board.pipeline_id
        self.query_one("#board-title", Label).update(
            f"Pipeline {board.pipeline}  ·  {sum(c.count for c in board.columns)} open deals"
            + ("  ·  p: switch pipeline" if len(board.pipelines) > 1 else "")
        )
        holder = self.query_one("#columns", HorizontalScroll)
        if same:
            for col in board.columns:
                self.query_one(f"#stage-{col.stage_id}", StageColumn).show(col, keep_deal)
            if self.follow is not None:
                for col in self.columns():
                    if col.highlight(self.follow):
                        col.scroll_visible()
                        break
            return
        self.limits = {}
        await holder.remove_children()
        await holder.mount_all([StageColumn(c) for c in board.columns])
        first = self.query(StageColumn).first(StageColumn) if board.columns else None
        if first is not None and (keep_col is not None or self.app.focused is None):
            first.query_one(OptionList).focus()  # the focused column was just replaced

    def columns(self) -> list[StageColumn]:
        return list(self.query(StageColumn))

    def focused_column(self) -> StageColumn | None:
        focused = self.app.focused
        for col in self.columns():
            if focused is not None and focused in col.query(OptionList):
                return col
        return None

    def selected_deal(self) -> int | None:
        col = self.focused_column()
        return col.selected_deal() if col is not None else None

    def action_column(self, step: int) -> None:
        cols = self.columns()
        if not cols:
            return
        here = self.focused_column()
        i = cols.index(here) + step if here is not None else 0
        cols[max(0, min(len(cols) - 1, i))].query_one(OptionList).focus()

    async def action_move(self, step: int) -> None:
        deal_id = self.selected_deal()
        self.follow = deal_id
        try:
            await self.app.move_deal(deal_id, step)
        finally:
            self.follow = None

    async def action_won(self) -> None:
        await self.app.close_deal(self.selected_deal(), "won")

    async def action_lost(self) -> None:
        await self.app.close_deal(self.selected_deal(), "lost")

    async def action_open_deal(self) -> None:
        await self.app.open_deal(self.selected_deal())

    async def action_switch_pipeline(self) -> None:
        await self.app.switch_pipeline()

    async def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id and event.option.id.startswith("more-"):
            stage_id = int(event.option.id.removeprefix("more-"))
            self.limits[stage_id] = self.limits.get(stage_id, data.PER_STAGE) + data.PER_STAGE
            await self.app.refresh_view("board")
            return
        await self.action_open_deal()


# ---------------------------------------------------------------- agenda


def agenda_text(f: followups.Followup) -> Text:
    t = Text(f"{followups.local_text(f.due_at)}  ", style="bold" if f.group == "overdue" else "")
    t.append(f.text)
    about = f.deal or f.contact or f.org
    if about:
        t.append(f"  ({about})", style="dim")
    if f.every:
        t.append(f"  ↻ {f.every}", style="dim")
    return t


class AgendaView(Vertical):
    BINDINGS = [
        Binding("d", "done", "Done", id="agenda.done"),
        Binding("s", "snooze", "Snooze", id="agenda.snooze"),
        Binding("e", "edit", "Edit", id="agenda.edit"),
        Binding("enter", "jump", "Go to", show=False, id="agenda.go-to"),
    ]

    def __init__(self) -> None:
        super().__init__(id="agenda")
        self.items: list[followups.Followup] = []

    def compose(self) -> ComposeResult:
        yield Label("loading the agenda…", id="agenda-title")
        yield OptionList(id="agenda-list")

    def show(self, agenda: data.Agenda) -> None:
        lst = self.query_one("#agenda-list", OptionList)
        keep = self.selected()
        old = lst.highlighted
        lst.clear_options()
        self.items, options, index = [], [], {}
        for group in ("overdue", "today", "upcoming"):
            mine = [f for f in agenda.items if f.group == group]
            if not mine:
                continue
            options.append(Option(Text(f"{group.upper()} ({len(mine)})", style="bold underline"),
                                  disabled=True))  # fmt: skip
            self.items.append(None)  # type: ignore[arg-type]  # the header's slot
            for f in mine:
                index[(f.kind, f.id)] = len(options)
                options.append(Option(agenda_text(f), id=f"{f.kind}-{f.id}"))
                self.items.append(f)
        lst.add_options(options)
        self.query_one("#agenda-title", Label).update(
            f"Agenda · {sum(1 for f in self.items if f)} due in the next 14 days"
            + (f" · {agenda.later} later" if agenda.later else "")
        )
        if keep is not None and (keep.kind, keep.id) in index:
            lst.highlighted = index[(keep.kind, keep.id)]
        elif options:
            first = next((i for i, f in enumerate(self.items) if f), None)
            if old is not None and old < len(self.items) and self.items[old]:
                lst.highlighted = old
            else:
                lst.highlighted = first

    def selected(self) -> followups.Followup | None:
        lst = self.query_one("#agenda-list", OptionList)
        if lst.highlighted is None or lst.highlighted >= len(self.items):
            return None
        return self.items[lst.highlighted]

    async def action_done(self) -> None:
        await self.app.followup_done(self.selected())

    async def action_snooze(self) -> None:
        await self.app.followup_snooze(self.selected())

    async def action_edit(self) -> None:
        await self.app.followup_edit(self.selected())

    async def action_jump(self) -> None:
        await self.app.jump_to(self.selected())

    async def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        await self.action_jump()


# ---------------------------------------------------------------- contacts


class ContactsView(Horizontal):
    BINDINGS = [Binding("down", "into_list", "List", show=False, id="contacts.into-list")]

    def __init__(self) -> None:
        super().__init__(id="contacts")
        self.hits: tuple[data.Hit, ...] = ()
        self.contact_id: int | None = None
        self.generation = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="contact-side"):
            yield Input(placeholder="search names, emails, phones… or a filter: org~acme tag:vip",
                        id="contact-search")  # fmt: skip
            yield Static("", id="contact-status")
            yield OptionList(id="contact-list")
        with VerticalScroll(id="contact-detail"):
            yield Static("Pick a contact to see their details and timeline.", id="contact-body")

    def show_hits(self, hits: tuple[data.Hit, ...], note: str) -> None:
        lst = self.query_one("#contact-list", OptionList)
        keep = self.contact_id
        self.hits = hits
        lst.clear_options()
        lst.add_options([
            Option(Text(h.name, style="bold").append(f"  {h.org or h.email or ''}", style="dim"),
                   id=f"contact-{h.id}")
            for h in hits
        ])  # fmt: skip
        ids = [h.id for h in hits]
        if keep in ids:
            lst.highlighted = ids.index(keep)
        elif ids:
            lst.highlighted = 0  # the detail pane follows (OptionHighlighted)
        self.query_one("#contact-status", Static).update(note)

    def show_detail(self, detail: data.ContactDetail) -> None:
        self.contact_id = detail.contact.id
        self.query_one("#contact-body", Static).update(contact_text(detail))

    def selected(self) -> int | None:
        lst = self.query_one("#contact-list", OptionList)
        if lst.highlighted is None or lst.highlighted >= len(self.hits):
            return None
        return self.hits[lst.highlighted].id

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "contact-search":
            event.stop()
            # A worker, so keystrokes never queue behind searches: a new one cancels the
            # previous (and the database thread skips any it has not started).
            self.run_worker(self.app.search_contacts(event.value), group="search",
                            exclusive=True)  # fmt: skip

    def action_into_list(self) -> None:
        self.query_one("#contact-list", OptionList).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "contact-search":
            event.stop()
            self.query_one("#contact-list", OptionList).focus()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        cid = self.selected()
        if cid is not None and cid != self.contact_id:
            self.run_worker(self.app.show_contact(cid), group="detail", exclusive=True)

    async def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        cid = self.selected()
        if cid is not None:
            await self.app.show_contact(cid)


def contact_text(d: data.ContactDetail) -> Text:
    c = d.contact
    t = Text(c.name, style="bold")
    if c.title or c.org:
        t.append(f"\n{' · '.join(x for x in (c.title, c.org) if x)}")
    for e in c.emails:
        t.append(f"\n✉ {e.value}")
    for p in c.phones:
        t.append(f"\n☎ {p.raw or p.value}")
    facts = [("stage", c.stage), ("owner", c.owner), ("tags", ", ".join(c.tags) or None),
             ("city", ", ".join(x for x in (c.city, c.country) if x) or None),
             ("source", c.source), ("consent", c.consent)]  # fmt: skip
    facts += [(k, str(v)) for k, v in sorted(c.custom.items())]
    for k, v in facts:
        if v:
            t.append(f"\n{k}: ", style="dim")
            t.append(str(v))
    t.append(f"\n\nDeals ({len(d.deals)})", style="bold underline")
    for deal in d.deals:
        t.append(f"\n#{deal.id} {deal.title} · {deal.stage} · {deal.status}")
    t.append(f"\n\nOpen tickets ({len(d.tickets)})", style="bold underline")
    for tk in d.tickets:
        t.append(f"\n#{tk.id} {tk.subject} · {tk.priority} · {tk.status}")
    t.append(f"\n\nFollow-ups ({len(d.followups)})", style="bold underline")
    for f in d.followups:
        t.append(f"\n{followups.local_text(f.due_at)} {f.text}")
    t.append(f"\n\nTimeline ({len(d.timeline)} latest)", style="bold underline")
    for a in d.timeline:
        t.append(f"\n{followups.local_text(a.occurred_at)} ", style="dim")
        t.append(f"{a.kind}{' ' + a.direction if a.direction else ''} ")
        t.append(a.subject or (a.body or "").split("\n")[0][:80])
    return t
