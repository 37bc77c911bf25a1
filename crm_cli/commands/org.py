"""crm org: organizations (companies) and their people."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from crm_cli.commands._common import (
    CsvOpt,
    FilterArgs,
    JsonOpt,
    LimitOpt,
    NdjsonOpt,
    SortOpt,
    YesOpt,
    confirm_bulk,
    noun_app,
    open_db,
    parse_sort,
)
from crm_cli.commands.dupes import org_dupes_cmd
from crm_cli.commands.merge import org_merge_cmd
from crm_cli.domain import orgs, selectors

app = noun_app("Organizations: add, show, list, edit, dupes, merge, delete.")

LIST_COLUMNS = [("id", "id"), ("name", "name"), ("domain", "domain"), ("industry", "industry"),
                ("size", "size"), ("city", "city"), ("people_count", "people"), ("tags", "tags"),
                ("owner", "owner")]  # fmt: skip
Multi = list[str] | None


def _opt(*names: str, help: str):
    return typer.Option(*names, help=help)


@app.command("add")
def add_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Organization name.")],
    domain: Annotated[str | None, _opt("--domain", help="Web domain, e.g. acme.es.")] = None,
    phone: Annotated[
        Multi, _opt("--phone", "-p", help="Phone, optionally LABEL=number. Repeatable.")
    ] = None,
    industry: Annotated[str | None, _opt("--industry", help="Industry.")] = None,
    size: Annotated[str | None, _opt("--size", help="Size, e.g. 11-50.")] = None,
    street: Annotated[str | None, _opt("--street", help="Street address.")] = None,
    city: Annotated[str | None, _opt("--city", help="City.")] = None,
    region: Annotated[str | None, _opt("--region", help="Region.")] = None,
    postal_code: Annotated[str | None, _opt("--postal-code", help="Postal code.")] = None,
    country: Annotated[str | None, _opt("--country", help="Country.")] = None,
    tag: Annotated[Multi, _opt("--tag", "-t", help="Tag. Repeatable.")] = None,
    owner: Annotated[str | None, _opt("--owner", help="Owning user (default: you).")] = None,
    field: Annotated[
        Multi, _opt("--field", "-f", help="Custom field KEY=VALUE. Repeatable.")
    ] = None,
    json_: JsonOpt = False,
):
    """Add an organization and print its id."""
    db = open_db(ctx)
    o = orgs.add(
        db, name, domain=domain, phones=phone or (), tags=tag or (), owner=owner, fields=field or (),
        industry=industry, size=size, street=street, city=city, region=region,
        postal_code=postal_code, country=country,
    )  # fmt: skip
    print(json.dumps(o.to_dict(), ensure_ascii=False, indent=2) if json_ else o.id)


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    selector: Annotated[
        str, typer.Argument(help="Id, name, domain, or a filter matching one organization.")
    ],
    json_: JsonOpt = False,
    ndjson: NdjsonOpt = False,
    csv_: CsvOpt = False,
):
    """Show one organization with its people."""
    from crm_cli.commands._output import emit_object, fmt_choice

    fmt = fmt_choice(json_, ndjson, csv_)
    db = open_db(ctx, must_exist=True)
    (oid,) = selectors.orgs(db, selector)
    o = orgs.get(db, oid).to_dict()
    people = orgs.people(db, oid)
    o["people"] = people
    if fmt != "table":
        emit_object(o, fmt)
        return
    o.pop("people")
    cols = [("id", "id"), ("name", "name"), ("title", "title"), ("email", "email")]
    emit_object(o, "table", sections=[(f"People ({len(people)})", people, cols)])


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    filters: FilterArgs = None,
    json_: JsonOpt = False,
    ndjson: NdjsonOpt = False,
    csv_: CsvOpt = False,
    limit: LimitOpt = None,
    sort: SortOpt = None,
):
    """List organizations matching the filters (ANDed)."""
    from crm_cli.commands._output import emit_list, fmt_choice

    fmt = fmt_choice(json_, ndjson, csv_)
    db = open_db(ctx, must_exist=True)
    rows = orgs.list_orgs(db, filters, sort=parse_sort(sort), limit=limit)
    emit_list([o.to_dict() for o in rows], LIST_COLUMNS, fmt, keys=orgs.JSON_KEYS)


@app.command("edit")
def edit_cmd(
    ctx: typer.Context,
    selector: Annotated[str, typer.Argument(help="Id, name, domain, or a filter (bulk edit).")],
    name: Annotated[str | None, _opt("--name", help="New name.")] = None,
    domain: Annotated[str | None, _opt("--domain", help="Web domain ('' clears).")] = None,
    add_phone: Annotated[Multi, _opt("--add-phone", help="Add a phone (LABEL=number).")] = None,
    remove_phone: Annotated[Multi, _opt("--remove-phone", help="Remove a phone.")] = None,
    industry: Annotated[str | None, _opt("--industry", help="Industry.")] = None,
    size: Annotated[str | None, _opt("--size", help="Size.")] = None,
    street: Annotated[str | None, _opt("--street", help="Street address.")] = None,
    city: Annotated[str | None, _opt("--city", help="City.")] = None,
    region: Annotated[str | None, _opt("--region", help="Region.")] = None,
    postal_code: Annotated[str | None, _opt("--postal-code", help="Postal code.")] = None,
    country: Annotated[str | None, _opt("--country", help="Country.")] = None,
    tag: Annotated[Multi, _opt("--tag", "-t", help="Add a tag.")] = None,
    untag: Annotated[Multi, _opt("--untag", help="Remove a tag.")] = None,
    owner: Annotated[str | None, _opt("--owner", help="Owning user ('' clears).")] = None,
    field: Annotated[
        Multi, _opt("--field", "-f", help="Custom field KEY=VALUE (KEY= removes).")
    ] = None,
    yes: YesOpt = False,
    json_: JsonOpt = False,
):
    """Change organizations."""
    db = open_db(ctx, must_exist=True)
    ids = selectors.orgs(db, selector, many=True)
    confirm_bulk(len(ids), "organizations", yes)
    changed = orgs.edit(
        db, ids, name=name, owner=owner, add_phones=add_phone or (), remove_phones=remove_phone or (),
        add_tags=tag or (), remove_tags=untag or (), fields=field or (), domain=domain,
        industry=industry, size=size, street=street, city=city, region=region,
        postal_code=postal_code, country=country,
    )  # fmt: skip
    if json_:
        print(json.dumps([o.to_dict() for o in changed], ensure_ascii=False, indent=2))
    else:
        sys.stdout.write("".join(f"{o.id}\n" for o in changed))


@app.command("delete")
def delete_cmd(
    ctx: typer.Context,
    selector: Annotated[str, typer.Argument(help="Id, name, domain, or a filter.")],
    cascade: Annotated[
        bool, _opt("--cascade", help="Also delete its people and other records referring to it.")
    ] = False,
    yes: YesOpt = False,
):
    """Delete organizations (refuses while people refer to them, unless --cascade)."""
    db = open_db(ctx, must_exist=True)
    ids = selectors.orgs(db, selector, many=True)
    confirm_bulk(len(ids), "organizations", yes)
    orgs.delete(db, ids, cascade=cascade)
    sys.stdout.write("".join(f"{i}\n" for i in ids))


app.command("dupes")(org_dupes_cmd)
app.command("merge")(org_merge_cmd)
