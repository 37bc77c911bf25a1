"""crm hooks: the executables run on add, modify, delete, import and send."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from crm_cli.commands._common import JsonOpt, noun_app, state
from crm_cli.domain import hooks

app = noun_app(
    "Hooks: executables in the config dir's hooks/ folder, run on-add, on-modify, on-delete, "
    "post-import, pre-send and post-send (see README.md)."
)


@app.command("list")
def list_cmd(json_: JsonOpt = False):
    """List the hooks found, by event, and whether they will run (executable)."""
    from crm_cli.commands._output import emit_list

    rows = [{"event": h.event, "name": h.path.name, "path": str(h.path),
             "executable": h.executable} for h in hooks.find()]  # fmt: skip
    if json_:
        print(json.dumps(rows, indent=2))
        return
    emit_list(rows, [("event", "event"), ("name", "hook"), ("executable", "runs")], "table",
              title=f"Hooks in {hooks.folder()}")  # fmt: skip
    if any(not r["executable"] for r in rows):
        print("hooks that are not executable do not run: chmod +x them", file=sys.stderr)


@app.command("test")
def test_cmd(
    ctx: typer.Context,
    event: Annotated[str, typer.Argument(help=f"One of: {', '.join(hooks.EVENTS)}.")],
    json_: JsonOpt = False,
):
    """Run an event's hooks on a made-up input (nothing is changed) and show how each did."""
    from crm_cli.errors import InvalidInput
    from crm_cli.storage.db import resolve_path

    if event not in hooks.EVENTS:
        raise InvalidInput(f"no hook event {event!r}; events: {', '.join(hooks.EVENTS)}")
    path, _ = resolve_path(state(ctx).db_path)
    ran = hooks.test(str(path), event)
    rows = [{"hook": r.hook.path.name, "status": r.status, "ok": r.ok,
             "seconds": round(r.seconds, 3), "output": r.output} for r in ran]  # fmt: skip
    if json_:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        if not ran:
            print(f"no {event} hooks in {hooks.folder()}", file=sys.stderr)
        for r in rows:
            verdict = "ok" if r["ok"] else ("killed (timeout)" if r["status"] is None
                                            else f"exit {r['status']}")  # fmt: skip
            print(f"{r['hook']}: {verdict} in {r['seconds']:.2f} s")
            for line in r["output"].splitlines():
                print(f"  {line}")
    if any(not r.ok for r in ran):
        raise typer.Exit(1)
