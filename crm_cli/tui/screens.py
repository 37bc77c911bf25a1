"""Modal screens: a one-line prompt (with a live preview), quick forms, details, help."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

# An action's answer: None when it worked, else the error to show (nothing was saved).
Submit = Callable[[dict[str, str]], Awaitable[str | None]]
Preview = Callable[[str], Awaitable[str]]


@dataclass(frozen=True)
class FormField:
    key: str
    label: str
    placeholder: str = ""
    value: str = ""


class FormScreen(ModalScreen[bool]):
    """A small form: fields, a live preview of the first field (optional), an inline error.

    Enter moves to the next field and submits on the last one; the submit callback runs
    the domain function, and its error (if any) stays on screen with the form as typed.
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        Binding("ctrl+s", "submit", "Save", priority=True, id="form.save"),
    ]

    def __init__(self, title: str, fields: list[FormField], submit: Submit,
                 preview: Preview | None = None):  # fmt: skip
        super().__init__()
        self.form_title, self.fields, self.submit, self.preview = title, fields, submit, preview

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.form_title, classes="title")
            for f in self.fields:
                yield Label(f.label, classes="field-label")
                yield Input(value=f.value, placeholder=f.placeholder, id=f"f-{f.key}")
            yield Static("", id="preview")
            yield Static("", id="error")
            yield Label("enter: next / save   ctrl+s: save   esc: cancel", classes="field-label")

    def values(self) -> dict[str, str]:
        return {f.key: self.query_one(f"#f-{f.key}", Input).value for f in self.fields}

    async def on_input_changed(self, event: Input.Changed) -> None:
        if self.preview is None or event.input.id != f"f-{self.fields[0].key}":
            return
        out = self.query_one("#preview", Static)
        if not event.value.strip():
            out.update("")
            return
        try:
            out.update(Text(f"→ {await self.preview(event.value)}"))
        except Exception as e:  # noqa: BLE001 - a preview only explains, never fails
            out.update(Text(f"? {e}"))

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        i = inputs.index(event.input)
        if i + 1 < len(inputs):
            inputs[i + 1].focus()
        else:
            await self.action_submit()

    async def action_submit(self) -> None:
        error = await self.submit(self.values())
        if error:
            self.query_one("#error", Static).update(Text(error))
        else:
            self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class TextScreen(ModalScreen[None]):
    """Read-only text (a deal's detail, the help): scroll, then escape."""

    BINDINGS = [Binding("escape,q", "close", "Close", id="text.close")]

    def __init__(self, body: Text, *, name: str | None = None):
        super().__init__(name=name)
        self.body = body

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self.body, id="text")

    def action_close(self) -> None:
        self.dismiss(None)
