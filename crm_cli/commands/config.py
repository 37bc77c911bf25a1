"""crm config: personal settings (a TOML file) and team settings (in the database)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from crm_cli.commands._common import CsvOpt, JsonOpt, NdjsonOpt, noun_app, open_db, state

app = noun_app("Settings: personal (config file) and team-wide (database).")


def _db_if_exists(ctx: typer.Context):
    from crm_cli.storage.db import resolve_path

    path, _ = resolve_path(state(ctx).db_path)
    return open_db(ctx) if path.exists() else None


@app.command("get")
def get_cmd(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Dotted key, e.g. phone.region.")],
    json_: JsonOpt = False,
):
    """Print one setting's value."""
    from crm_cli.domain import settings

    value = settings.get(_db_if_exists(ctx), key)
    if json_:
        print(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, list):
        print(",".join(value))
    elif value is not None:
        print(value)


@app.command("set")
def set_cmd(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Dotted key, e.g. phone.region.")],
    value: Annotated[str, typer.Argument(help="Value (lists comma-separated).")],
):
    """Set a setting: personal keys go to the config file, team keys to the database."""
    from crm_cli.commands._output import note
    from crm_cli.domain import settings

    k, _, where = settings.set_value(lambda: open_db(ctx), key, value)
    note(f"{key} set ({k.scope} setting, stored in {where})")


@app.command("unset")
def unset_cmd(ctx: typer.Context, key: Annotated[str, typer.Argument(help="Dotted key.")]):
    """Remove a setting so its default applies."""
    from crm_cli.commands._output import note
    from crm_cli.domain import settings

    k, _, where = settings.set_value(lambda: open_db(ctx), key, None)
    note(f"{key} unset ({k.scope} setting, {where})")


@app.command("list")
def list_cmd(
    ctx: typer.Context, json_: JsonOpt = False, ndjson: NdjsonOpt = False, csv_: CsvOpt = False
):
    """List every setting with its value, scope (personal or team) and meaning."""
    from crm_cli.commands._output import emit_list, fmt_choice
    from crm_cli.config import config_path
    from crm_cli.domain import settings

    fmt = fmt_choice(json_, ndjson, csv_)
    rows = settings.all_values(_db_if_exists(ctx))
    if fmt == "table":
        from crm_cli.commands._output import note

        note(f"personal settings: {config_path()}; team settings: the database's settings table")
    cols = [("key", "key"), ("value", "value"), ("scope", "scope"), ("help", "meaning")]
    emit_list(rows, cols, fmt)
