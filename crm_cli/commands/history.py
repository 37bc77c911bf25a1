"""crm history / crm undo: every change, who made it, and how to take it back."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from crm_cli.commands._common import CsvOpt, JsonOpt, LimitOpt, NdjsonOpt, open_db


def history_cmd(
    ctx: typer.Context,
    ref: Annotated[
        str | None,
        typer.Argument(
            help='Only changes to this record: contact:ID, org:ID, org:"Acme SL", deal:ID, ticket:ID, order:ID, user:NAME, or a contact selector.'
        ),
    ] = None,
    json_: JsonOpt = False,
    ndjson: NdjsonOpt = False,
    csv_: CsvOpt = False,
    limit: LimitOpt = 20,
):
    """Show change sets, newest first (with --json, each with its row changes)."""
    from crm_cli.commands._output import emit_list, fmt_choice
    from crm_cli.domain import history, selectors

    fmt = fmt_choice(json_, ndjson, csv_)
    db = open_db(ctx, must_exist=True)
    target = selectors.reference(db, ref) if ref else None
    rows = history.sets(db, target, limit=limit)
    if fmt in ("json", "ndjson"):
        emit_list(history.with_changes(db, rows), [], fmt)
        return
    from crm_cli.commands._output import local_time

    for r in rows:
        if fmt == "table":
            r["created_at"] = local_time(r["created_at"])
        state = r["status"]
        if r["reverted_by_set_id"]:
            state = f"undone by {r['reverted_by_set_id']}"
        elif r["reverts_set_id"]:
            state = f"reverts {r['reverts_set_id']}"
        elif not r["undoable"]:
            state += " (not undoable)"
        r["state"] = state
    cols = [("id", "set"), ("created_at", "when"), ("actor", "who"), ("label", "what"),
            ("change_count", "changes"), ("state", "state")]  # fmt: skip
    emit_list(
        rows, cols, fmt, keys=None if fmt == "table" else [k for k in rows[0]] if rows else None
    )


def undo_cmd(
    ctx: typer.Context,
    set_id: Annotated[
        int | None, typer.Argument(help="Change set to revert (default: your latest).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Revert even over later changes to the same records.")
    ] = False,
    json_: JsonOpt = False,
):
    """Revert your latest change set, or a given one (reverting an undo redoes it)."""
    from crm_cli.domain import history

    r = history.undo(open_db(ctx, must_exist=True), set_id, force=force)
    if json_:
        print(json.dumps(asdict(r), ensure_ascii=False, indent=2))
        return
    n = f"{r.changes} change{'s' if r.changes != 1 else ''}"
    if r.was_undo:
        print(f"reverted change set {r.set_id} ({r.label}), so what it had reverted is back:"
              f" {n}, recorded as set {r.undo_set_id}")  # fmt: skip
    else:
        print(
            f"undid change set {r.set_id} ({r.label}): {n} reverted, recorded as set {r.undo_set_id}"
        )
