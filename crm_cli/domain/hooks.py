"""Hooks: executables in the config dir's ``hooks/`` run on add, modify, delete, import
and send, like taskwarrior's and notmuch's.

Events:

- ``on-add``, ``on-modify``, ``on-delete``: after a command's change set commits, with
  its inserts, updates or deletes (a hook runs only when there are some).
- ``post-import``: once after an import, with the whole import's change set (an import
  fires no ``on-*`` hooks, however many rows it writes).
- ``pre-send``: before a campaign send starts (before its transaction), with the planned
  send; a non-zero exit vetoes it, and the hook's message is the error.
- ``post-send``: after a campaign send run, with its result and the ledger's changes.

A hook is a file named after its event (``on-add``) or starting with it and a ``.`` or
``-`` (``on-add.notify``, ``on-add-slack``): several run in name order. It must be
executable; others are ignored (``crm hooks list`` says so). It gets its input on stdin as
JSON Lines: a first line with the event and the change set
(``{"hook", "set": {id, label, command, actor, at}, …}``), then one line per change as
the change log recorded it (``{"seq", "table", "row_id", "op", "before", "after"}``), so
big imports stream and ``jq -c`` reads them. ``on-`` and ``post-`` hooks run after the
commit: they cannot veto, and a failing or slow one (killed after ``hooks.timeout``
seconds) is a warning on stderr, never a lost change. Environment: ``CRM_HOOK`` (the
event), ``CRM_DB``, ``CRM_SET_ID``. Commands run by a hook fire no hooks (``CRM_IN_HOOK``
is set), so a hook can write back without looping.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crm_cli import config
from crm_cli.errors import CrmError
from crm_cli.storage import hooks as store
from crm_cli.storage.db import Db

EVENTS = ("on-add", "on-modify", "on-delete", "post-import", "pre-send", "post-send")
_OPS = {"on-add": ("insert",), "on-modify": ("update",), "on-delete": ("delete",)}


class Vetoed(CrmError):
    """A pre- hook refused the operation (exit 1)."""


@dataclass(frozen=True, slots=True)
class Hook:
    event: str
    path: Path
    executable: bool


@dataclass(frozen=True, slots=True)
class Ran:
    hook: Hook
    status: int | None  # None: killed after the timeout
    output: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status == 0


def folder() -> Path:
    return config.config_dir() / "hooks"


def _event_of(name: str) -> str | None:
    for event in EVENTS:
        if name == event or (name.startswith(event) and name[len(event)] in ".-"):
            return event
    return None


def find(event: str | None = None) -> list[Hook]:
    """The hooks in the hooks folder (of one event), in name order."""
    d = folder()
    try:
        entries = sorted(d.iterdir(), key=lambda p: p.name)
    except OSError:
        return []
    out = []
    for p in entries:
        ev = _event_of(p.name)
        if ev is None or p.name.endswith("~") or not p.is_file():
            continue
        if event is None or ev == event:
            out.append(Hook(ev, p, os.access(p, os.X_OK)))
    return out


def _enabled() -> bool:
    return not os.environ.get("CRM_IN_HOOK")


def _runnable(event: str) -> list[Hook]:
    if not _enabled():
        return []
    return [h for h in find(event) if h.executable]


def _timeout() -> float:
    return float(config.get("hooks.timeout"))


def _run(hook: Hook, payload, env: dict[str, str]) -> Ran:
    """Run one hook with the payload (a file object) on stdin; kill it at the timeout."""
    import signal

    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            [str(hook.path)], stdin=payload, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, **env, "CRM_IN_HOOK": hook.event}, start_new_session=True,
        )  # fmt: skip
    except OSError as e:
        return Ran(hook, 127, f"cannot run: {e.strerror or e}", 0.0)
    try:
        out, _ = proc.communicate(timeout=_timeout())
        status: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
        out, _ = proc.communicate()
        status = None
    return Ran(hook, status, out.decode("utf-8", "replace").strip(), time.monotonic() - started)


def _payload(first: dict, lines) -> Any:
    """The hook's stdin: a temp file with the first line, then one line per change."""
    f = tempfile.TemporaryFile()
    f.write(json.dumps(first, ensure_ascii=False, sort_keys=True).encode() + b"\n")
    for seq, table, row_id, op, before, after in lines:
        f.write(
            b'{"after":%s,"before":%s,"op":"%s","row_id":%d,"seq":%d,"table":"%s"}\n'
            % (
                (after or "null").encode(),
                (before or "null").encode(),
                op.encode(),
                row_id,
                seq,
                table.encode(),
            )  # fmt: skip
        )
    return f


def _report(r: Ran) -> None:
    """A hook's own words go to stderr (stdout stays the command's data)."""
    name = r.hook.path.name
    if r.status is None:
        print(f"crm: warning: hook {name} killed after {_timeout():g} s", file=sys.stderr)
    elif r.status != 0:
        first = r.output.splitlines()[0] if r.output else ""
        print(f"crm: warning: hook {name} exited {r.status}" + (f": {first}" if first else ""),
              file=sys.stderr)  # fmt: skip
    elif r.output:
        print(r.output, file=sys.stderr)


def _fire(db: Db, event: str, first: dict, set_id: int | None, ops: tuple[str, ...]) -> list[Ran]:
    hooks = _runnable(event)
    if not hooks:
        return []
    ran = []
    for hook in hooks:
        lines = store.changes(db, set_id, ops) if set_id is not None else ()
        with _payload(first, lines) as payload:
            payload.seek(0)
            r = _run(hook, payload, {"CRM_HOOK": event, "CRM_DB": str(db.path),
                                     "CRM_SET_ID": str(set_id or "")})  # fmt: skip
        _report(r)
        ran.append(r)
    return ran


def _set(db: Db, set_id: int) -> dict | None:
    s = store.change_set(db, set_id)
    if s is not None:
        s["undoable"] = bool(s["undoable"])
    return s


def after_commit(db: Db, set_id: int) -> None:
    """on-add / on-modify / on-delete for a command's committed change set."""
    if not _enabled() or getattr(db, "hook_event", None) is not None:
        return  # an import or a send fires its own post- hook
    if not any(h.executable for h in find()):
        return
    s = _set(db, set_id)
    if s is None or not s["undoable"]:
        return  # claims, ledgers, the first user: records of outside events, not edits
    counts = store.op_counts(db, set_id)
    for event, ops in _OPS.items():
        n = sum(counts.get(op, 0) for op in ops)
        if n:
            _fire(db, event, {"hook": event, "set": s, "changes": n}, set_id, ops)


def post(db: Db, event: str, set_id: int | None, extra: dict) -> list[Ran]:
    """A post- hook (post-import, post-send) with the run's change set, after it committed."""
    if not _runnable(event):
        return []
    s = _set(db, set_id) if set_id is not None else None
    n = sum(store.op_counts(db, set_id).values()) if set_id is not None else 0
    return _fire(db, event, {"hook": event, "set": s, "changes": n, **extra}, set_id,
                 ("insert", "update", "delete"))  # fmt: skip


def pre(db: Db, event: str, planned: dict) -> None:
    """Run the pre- hooks of an operation before it starts; the first that exits non-zero
    (or times out) vetoes it with its message."""
    for hook in _runnable(event):
        with _payload({"hook": event, **planned}, ()) as payload:
            payload.seek(0)
            r = _run(hook, payload, {"CRM_HOOK": event, "CRM_DB": str(db.path)})
        if r.ok:
            if r.output:
                print(r.output, file=sys.stderr)
            continue
        why = (r.output.splitlines()[0] if r.output else "") or (
            f"killed after {_timeout():g} s" if r.status is None else f"exit {r.status}"
        )
        raise Vetoed(f"hook {hook.path.name} refused: {why}")


class paused:
    """Inside: the database's commits fire no on- hooks (an import, a send: they fire
    their own post- hook once at the end)."""

    def __init__(self, db: Db, event: str):
        self.db, self.event = db, event

    def __enter__(self):
        self.prev = getattr(self.db, "hook_event", None)
        self.db.hook_event = self.event
        return self

    def __exit__(self, *exc):
        self.db.hook_event = self.prev


def sample(event: str) -> tuple[dict, list[tuple]]:
    """A made-up input for ``crm hooks test``: a contact added (or changed, deleted)."""
    row = {
        "id": 0,
        "name": "Test Contact",
        "consent": "unknown",
        "created_at": "2026-01-01T00:00:00Z",
    }
    op = {"on-modify": "update", "on-delete": "delete"}.get(event, "insert")
    before = json.dumps(row) if op != "insert" else None
    after = json.dumps({**row, "name": "Test Contact (changed)"} if op == "update" else row)
    change = (1, "contacts", 0, op, before, None if op == "delete" else after)
    s = {"id": 0, "label": "hooks test", "command": "crm hooks test", "actor": "test",
         "at": "2026-01-01T00:00:00Z", "undoable": True, "reverts_set_id": None}  # fmt: skip
    if event == "pre-send":
        return {"campaign": {"name": "test"}, "channel": "email", "via": "outbox /tmp/test",
                "to_send": 1}, []  # fmt: skip
    if event == "post-send":
        return {"set": s, "changes": 1, "result": {"campaign": "test", "sent": 1}}, [change]
    if event == "post-import":
        return {"set": s, "changes": 1, "import": {"kind": "contacts", "created": 1}}, [change]
    return {"set": s, "changes": 1}, [change]


def test(db_path: str, event: str) -> list[Ran]:
    """Run the hooks of an event on a sample input, reporting each one's outcome."""
    first, lines = sample(event)
    out = []
    for hook in find(event):
        if not hook.executable:
            out.append(Ran(hook, 126, "not executable (chmod +x it)", 0.0))
            continue
        with _payload({"hook": event, **first}, lines) as payload:
            payload.seek(0)
            out.append(_run(hook, payload, {"CRM_HOOK": event, "CRM_DB": db_path,
                                            "CRM_SET_ID": "0"}))  # fmt: skip
    return out
