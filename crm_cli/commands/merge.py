"""crm contact merge / crm org merge: fold duplicates into one kept record."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from crm_cli.commands._common import JsonOpt, YesOpt, confirm_bulk, open_db
from crm_cli.domain import selectors

DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="Show what would move (rows per table) and write nothing."),
]
MOVE_COLUMNS = [("table", "table"), ("column", "column"), ("moved", "move"), ("dropped", "drop")]


def _run(ctx, entity: str, keep: str, others: list[str], dry_run: bool, yes: bool, json_: bool):
    from crm_cli.domain import merge

    resolve = selectors.contacts if entity == "contacts" else selectors.orgs
    db = open_db(ctx, must_exist=True)
    (keep_id,) = resolve(db, keep)
    other_ids = [resolve(db, o)[0] for o in others]
    what = "contacts" if entity == "contacts" else "organizations"
    if not dry_run:
        merge.check(entity, keep_id, other_ids)
        confirm_bulk(len(other_ids), what, yes)
    plan = merge.merge(db, entity, keep_id, other_ids, dry_run=dry_run)
    if dry_run:
        _show_plan(plan, json_)
        return
    if json_:
        from crm_cli.commands._output import emit_object

        if entity == "contacts":
            from crm_cli.domain import contacts as records
        else:
            from crm_cli.domain import orgs as records
        emit_object(records.get(db, keep_id).to_dict(), "json")
    else:
        sys.stdout.write(f"{keep_id}\n")


def _show_plan(plan, json_: bool) -> None:
    from crm_cli.commands._output import emit_list, emit_object, note

    if json_:
        emit_object(plan.to_dict(), "json")
        return
    ids = ", ".join(map(str, plan.others))
    note(f"dry run: would merge {plan.entity} {ids} into {plan.keep}; nothing written")
    rows = [m.to_dict() for m in plan.moves]
    emit_list(rows, MOVE_COLUMNS, "table")
    shown = {k: v for k, v in plan.fields.items() if k not in ("updated_at",)}
    if shown:
        note(f"fields set on {plan.keep}: {', '.join(sorted(shown))}")
    note(f"deleted: {ids}")


def contact_merge_cmd(
    ctx: typer.Context,
    keep: Annotated[str, typer.Argument(help="The contact to keep: id, email or name.")],
    others: Annotated[list[str], typer.Argument(help="Contacts merged into it and then deleted.")],
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    json_: JsonOpt = False,
):
    """Merge duplicate contacts into KEEP: fields, emails, phones, tags and all their records."""
    _run(ctx, "contacts", keep, others, dry_run, yes, json_)


def org_merge_cmd(
    ctx: typer.Context,
    keep: Annotated[str, typer.Argument(help="The organization to keep: id or name.")],
    others: Annotated[
        list[str], typer.Argument(help="Organizations merged into it and then deleted.")
    ],
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    json_: JsonOpt = False,
):
    """Merge duplicate organizations into KEEP: fields, phones, tags, people and all records."""
    _run(ctx, "orgs", keep, others, dry_run, yes, json_)
