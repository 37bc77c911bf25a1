"""crm user / crm team: the team members who share the database."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from crm_cli.commands._common import CsvOpt, JsonOpt, NdjsonOpt, noun_app, open_db
from crm_cli.domain import users

app = noun_app("Team members: add, list, edit.")
team_app = noun_app("Teams: add, list.")

COLUMNS = [("id", "id"), ("name", "name"), ("email", "email"), ("role", "role"), ("team", "team"),
           ("manager", "manager")]  # fmt: skip


@app.command("add")
def add_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The member's name (used with --as and --owner).")],
    email: Annotated[str | None, typer.Option("--email", help="Email address.")] = None,
    role: Annotated[
        str | None, typer.Option("--role", help=f"One of {', '.join(users.ROLES)}.")
    ] = None,
    team: Annotated[str | None, typer.Option("--team", help="Team name.")] = None,
    manager: Annotated[
        str | None, typer.Option("--manager", help="Manager's name or email.")
    ] = None,
    json_: JsonOpt = False,
):
    """Add a team member and print its id."""
    u = users.add(open_db(ctx), name, email=email, role=role, team=team, manager=manager)
    print(json.dumps(asdict(u), ensure_ascii=False, indent=2) if json_ else u.id)


@app.command("list")
def list_cmd(
    ctx: typer.Context, json_: JsonOpt = False, ndjson: NdjsonOpt = False, csv_: CsvOpt = False
):
    """List team members."""
    from crm_cli.commands._output import emit_list, fmt_choice

    fmt = fmt_choice(json_, ndjson, csv_)
    emit_list([asdict(u) for u in users.list_users(open_db(ctx, must_exist=True))], COLUMNS, fmt)


@app.command("edit")
def edit_cmd(
    ctx: typer.Context,
    who: Annotated[str, typer.Argument(help="The member's name or email.")],
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    email: Annotated[str | None, typer.Option("--email", help="Email ('' clears).")] = None,
    role: Annotated[str | None, typer.Option("--role", help="Role ('' clears).")] = None,
    team: Annotated[str | None, typer.Option("--team", help="Team ('' clears).")] = None,
    manager: Annotated[str | None, typer.Option("--manager", help="Manager ('' clears).")] = None,
    json_: JsonOpt = False,
):
    """Change a team member."""
    u = users.edit(
        open_db(ctx, must_exist=True),
        who,
        name=name,
        email=email,
        role=role,
        team=team,
        manager=manager,
    )
    print(json.dumps(asdict(u), ensure_ascii=False, indent=2) if json_ else u.id)


@team_app.command("add")
def team_add_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Team name.")],
    json_: JsonOpt = False,
):
    """Add a team and print its id."""
    t = users.add_team(open_db(ctx), name)
    print(json.dumps(t, ensure_ascii=False, indent=2) if json_ else t["id"])


@team_app.command("list")
def team_list_cmd(
    ctx: typer.Context, json_: JsonOpt = False, ndjson: NdjsonOpt = False, csv_: CsvOpt = False
):
    """List teams with their member counts."""
    from crm_cli.commands._output import emit_list, fmt_choice

    fmt = fmt_choice(json_, ndjson, csv_)
    cols = [("id", "id"), ("name", "name"), ("members", "members")]
    emit_list(users.list_teams(open_db(ctx, must_exist=True)), cols, fmt)
