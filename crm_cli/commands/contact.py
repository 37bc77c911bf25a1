"""crm contact: people, B2B (with an organization) or B2C (without)."""

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
from crm_cli.commands.dupes import contact_dupes_cmd
from crm_cli.commands.merge import contact_merge_cmd
from crm_cli.domain import contacts, selectors
from crm_cli.errors import InvalidInput

app = noun_app("People: add, show, list, edit, tag, cadence, dupes, merge, delete.")

LIST_COLUMNS = [("id", "id"), ("name", "name"), ("org", "org"), ("emails", "email"),
                ("phones", "phone"), ("stage", "stage"), ("tags", "tags"), ("owner", "owner")]  # fmt: skip

Multi = list[str] | None


def _opt(*names: str, help: str, metavar: str | None = None):
    return typer.Option(*names, help=help, metavar=metavar)


@app.command("add")
def add_cmd(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(help="Full name ('Ana García'), split into first and last.")
    ] = None,
    first: Annotated[str | None, _opt("--first", help="First name.")] = None,
    last: Annotated[str | None, _opt("--last", help="Last name(s).")] = None,
    email: Annotated[
        Multi, _opt("--email", "-e", help="Email, optionally LABEL=address. Repeatable.")
    ] = None,
    phone: Annotated[
        Multi, _opt("--phone", "-p", help="Phone, optionally LABEL=number. Repeatable.")
    ] = None,
    title: Annotated[str | None, _opt("--title", help="Job title.")] = None,
    org: Annotated[
        str | None, _opt("--org", help="Organization name (created if new) or id.")
    ] = None,
    tag: Annotated[Multi, _opt("--tag", "-t", help="Tag. Repeatable.")] = None,
    source: Annotated[str | None, _opt("--source", help="Where the contact came from.")] = None,
    owner: Annotated[str | None, _opt("--owner", help="Owning user (default: you).")] = None,
    stage: Annotated[
        str | None, _opt("--stage", help="Lifecycle stage (default: the first).")
    ] = None,
    consent: Annotated[str | None, _opt("--consent", help="granted, opted-out or unknown.")] = None,
    birthday: Annotated[str | None, _opt("--birthday", help="YYYY-MM-DD or --MM-DD.")] = None,
    street: Annotated[str | None, _opt("--street", help="Street address.")] = None,
    city: Annotated[str | None, _opt("--city", help="City.")] = None,
    region: Annotated[str | None, _opt("--region", help="Region / province / state.")] = None,
    postal_code: Annotated[str | None, _opt("--postal-code", help="Postal code.")] = None,
    country: Annotated[str | None, _opt("--country", help="Country.")] = None,
    field: Annotated[
        Multi, _opt("--field", "-f", help="Custom field KEY=VALUE. Repeatable.")
    ] = None,
    social: Annotated[
        Multi, _opt("--social", help="Social handle NETWORK=HANDLE. Repeatable.")
    ] = None,
    from_ndjson: Annotated[
        str | None,
        _opt(
            "--from-ndjson",
            metavar="FILE",
            help="Add many contacts from NDJSON ('-' for stdin), one change set.",
        ),
    ] = None,
    json_: JsonOpt = False,
):
    """Add a contact and print its id."""
    if from_ndjson is not None:
        given = [
            k
            for k, v in ctx.params.items()
            if v not in (None, [], (), False) and k not in ("from_ndjson", "json_")
        ]
        if given:
            raise InvalidInput(
                f"--from-ndjson takes every value from the file; drop {', '.join(sorted(given))}"
            )
        if not from_ndjson.strip():
            raise InvalidInput("--from-ndjson needs a file, or - for stdin")
        records, positions = _read_ndjson(from_ndjson)
        ids = contacts.add_many(open_db(ctx), records, positions=positions)
        if json_:
            print(json.dumps(ids))
        else:
            sys.stdout.write("".join(f"{i}\n" for i in ids))
        print(f"added {len(ids)} contacts", file=sys.stderr)
        return
    c = contacts.add(
        open_db(ctx), name, first_name=first, last_name=last, emails=email or (), phones=phone or (), title=title,
        org=org, tags=tag or (), source=source, owner=owner, stage=stage, consent=consent,
        birthday=birthday, street=street, city=city, region=region, postal_code=postal_code,
        country=country, fields=field or (), social=social or (),
    )  # fmt: skip
    if json_:
        print(json.dumps(c.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(c.id)


def _read_ndjson(path: str) -> tuple[list, list[str]]:
    """Read NDJSON records and where each came from ('FILE:LINE'); blank lines are skipped."""
    name = "stdin" if path == "-" else path
    try:
        data = sys.stdin.buffer.read() if path == "-" else _read_bytes(path)
    except OSError as e:
        raise InvalidInput(f"cannot read {name}: {e.strerror}") from None
    records, positions = [], []
    for n, raw in enumerate(data.splitlines(), 1):
        try:
            line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"{name}:{n}: not UTF-8 text") from None
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise InvalidInput(f"{name}:{n}: not JSON: {e.msg}") from None
        positions.append(f"{name}:{n}")
    return records, positions


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    selector: Annotated[
        str, typer.Argument(help="Id, email, name, or a filter matching one contact.")
    ],
    json_: JsonOpt = False,
    ndjson: NdjsonOpt = False,
    csv_: CsvOpt = False,
):
    """Show one contact; the table adds open deals, follow-ups and latest activities."""
    from crm_cli.commands._output import emit_object, fmt_choice, local_time

    fmt = fmt_choice(json_, ndjson, csv_)
    db = open_db(ctx, must_exist=True)
    (cid,) = selectors.contacts(db, selector)
    c = contacts.get(db, cid)
    if fmt != "table":
        emit_object(c.to_dict(), fmt)
        return
    from crm_cli.domain import activities, deals, followups

    open_deals = [d.to_dict() for d in deals.list_deals(db, [f"contact_id:{cid}"])]
    todo = [
        {"due": local_time(f.due_at), "text": f.text, "group": f.group}
        for f in followups.agenda(db, contact=str(cid), cadence=False, days=None, limit=10)
    ]
    latest = [
        {"when": local_time(a.occurred_at), "kind": a.kind,
         "subject": a.subject or a.outcome or (a.body or "")[:60], "by": a.actor}
        for a in activities.timeline(db, ("contacts", cid), limit=5)
    ]  # fmt: skip
    obj = c.to_dict()
    for key in ("created_at", "updated_at", "consent_at", "last_activity_at"):
        obj[key] = local_time(obj[key]) if obj.get(key) else obj.get(key)
    emit_object(
        obj,
        fmt,
        sections=[
            ("open deals", open_deals, [("id", "id"), ("title", "title"), ("amount", "amount"),
                                        ("currency", "cur"), ("stage", "stage")]),
            ("follow-ups", todo, [("due", "due"), ("text", "text"), ("group", "")]),
            ("latest activities", latest, [("when", "when"), ("kind", "kind"),
                                           ("subject", "subject"), ("by", "by")]),
        ],
    )  # fmt: skip


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
    """List contacts matching the filters (ANDed)."""
    from crm_cli.commands._output import emit_list, fmt_choice

    fmt = fmt_choice(json_, ndjson, csv_)
    db = open_db(ctx, must_exist=True)
    rows = contacts.list_contacts(db, filters, sort=parse_sort(sort), limit=limit)
    emit_list([c.to_dict() for c in rows], LIST_COLUMNS, fmt, keys=contacts.JSON_KEYS)


@app.command("edit")
def edit_cmd(
    ctx: typer.Context,
    selector: Annotated[str, typer.Argument(help="Id, email, name, or a filter (bulk edit).")],
    name: Annotated[str | None, _opt("--name", help="Full name.")] = None,
    first: Annotated[str | None, _opt("--first", help="First name.")] = None,
    last: Annotated[str | None, _opt("--last", help="Last name(s).")] = None,
    add_email: Annotated[
        Multi, _opt("--add-email", help="Add an email (LABEL=address). Repeatable.")
    ] = None,
    remove_email: Annotated[
        Multi, _opt("--remove-email", help="Remove an email. Repeatable.")
    ] = None,
    add_phone: Annotated[
        Multi, _opt("--add-phone", help="Add a phone (LABEL=number). Repeatable.")
    ] = None,
    remove_phone: Annotated[
        Multi, _opt("--remove-phone", help="Remove a phone. Repeatable.")
    ] = None,
    title: Annotated[str | None, _opt("--title", help="Job title ('' clears).")] = None,
    org: Annotated[str | None, _opt("--org", help="Organization name or id ('' unlinks).")] = None,
    tag: Annotated[Multi, _opt("--tag", "-t", help="Add a tag. Repeatable.")] = None,
    untag: Annotated[Multi, _opt("--untag", help="Remove a tag. Repeatable.")] = None,
    source: Annotated[str | None, _opt("--source", help="Source ('' clears).")] = None,
    owner: Annotated[str | None, _opt("--owner", help="Owning user ('' clears).")] = None,
    stage: Annotated[str | None, _opt("--stage", help="Lifecycle stage.")] = None,
    consent: Annotated[str | None, _opt("--consent", help="granted, opted-out or unknown.")] = None,
    birthday: Annotated[
        str | None, _opt("--birthday", help="YYYY-MM-DD or --MM-DD ('' clears).")
    ] = None,
    street: Annotated[str | None, _opt("--street", help="Street address.")] = None,
    city: Annotated[str | None, _opt("--city", help="City.")] = None,
    region: Annotated[str | None, _opt("--region", help="Region.")] = None,
    postal_code: Annotated[str | None, _opt("--postal-code", help="Postal code.")] = None,
    country: Annotated[str | None, _opt("--country", help="Country.")] = None,
    field: Annotated[
        Multi, _opt("--field", "-f", help="Custom field KEY=VALUE (KEY= removes).")
    ] = None,
    social: Annotated[
        Multi, _opt("--social", help="Social handle NETWORK=HANDLE (NETWORK= removes).")
    ] = None,
    email_status: Annotated[
        Multi,
        _opt(
            "--email-status",
            help="Set an address's delivery status: ADDRESS=ok|deferred|bounced|complained.",
        ),
    ] = None,
    yes: YesOpt = False,
    json_: JsonOpt = False,
):
    """Change contacts; with no field options, edit one in $EDITOR as TOML."""
    e = contacts.Edit(
        name=name, first_name=first, last_name=last, title=title, org=org,
        add_emails=add_email or [], remove_emails=remove_email or [], add_phones=add_phone or [],
        remove_phones=remove_phone or [], add_tags=tag or [], remove_tags=untag or [], source=source,
        owner=owner, stage=stage, consent=consent, birthday=birthday, street=street, city=city,
        region=region, postal_code=postal_code, country=country, fields=field or [], social=social or [],
        email_status=email_status or [],
    )  # fmt: skip
    db = open_db(ctx, must_exist=True)
    if e.is_empty():
        import os

        if not sys.stdin.isatty() and not (os.environ.get("VISUAL") or os.environ.get("EDITOR")):
            raise InvalidInput(
                "with no field options, edit opens $EDITOR, which needs a terminal (or set EDITOR);"
                " give the changes as options, e.g. --title CEO"
            )
        (cid,) = selectors.contacts(db, selector)
        from crm_cli.commands._editor import edit_contact

        edit_contact(db, cid)
        return
    ids = selectors.contacts(db, selector, many=True)
    confirm_bulk(len(ids), "contacts", yes)
    changed = contacts.edit(db, ids, e)
    _report(changed, ids, json_)


def _report(changed, ids, json_: bool) -> None:
    if json_:
        print(json.dumps([c.to_dict() for c in changed], ensure_ascii=False, indent=2))
    else:
        sys.stdout.write("".join(f"{c.id}\n" for c in changed))
    if len(changed) < len(ids):
        print(f"{len(changed)} of {len(ids)} contacts changed", file=sys.stderr)


@app.command("tag")
def tag_cmd(
    ctx: typer.Context,
    selector: Annotated[str, typer.Argument(help="Id, email, name, or a filter.")],
    tags: Annotated[list[str], typer.Argument(help="Tags to add.")],
    yes: YesOpt = False,
    json_: JsonOpt = False,
):
    """Add tags to contacts."""
    db = open_db(ctx, must_exist=True)
    ids = selectors.contacts(db, selector, many=True)
    confirm_bulk(len(ids), "contacts", yes)
    _report(contacts.tag(db, ids, tags), ids, json_)


@app.command("untag")
def untag_cmd(
    ctx: typer.Context,
    selector: Annotated[str, typer.Argument(help="Id, email, name, or a filter.")],
    tags: Annotated[list[str], typer.Argument(help="Tags to remove.")],
    yes: YesOpt = False,
    json_: JsonOpt = False,
):
    """Remove tags from contacts."""
    db = open_db(ctx, must_exist=True)
    ids = selectors.contacts(db, selector, many=True)
    confirm_bulk(len(ids), "contacts", yes)
    _report(contacts.tag(db, ids, tags, remove=True), ids, json_)


@app.command("delete")
def delete_cmd(
    ctx: typer.Context,
    selector: Annotated[str, typer.Argument(help="Id, email, name, or a filter.")],
    cascade: Annotated[
        bool, _opt("--cascade", help="Also delete records that refer to these contacts.")
    ] = False,
    yes: YesOpt = False,
):
    """Delete contacts with their emails, phones and tags (crm undo brings them back)."""
    db = open_db(ctx, must_exist=True)
    ids = selectors.contacts(db, selector, many=True)
    confirm_bulk(len(ids), "contacts", yes)
    contacts.delete(db, ids, cascade=cascade)
    sys.stdout.write("".join(f"{i}\n" for i in ids))


@app.command("cadence")
def cadence_cmd(
    ctx: typer.Context,
    selector: Annotated[str, typer.Argument(help="Id, email, name, or a filter (bulk).")],
    every: Annotated[
        str | None,
        _opt(
            "--every",
            metavar="DAYS",
            help="How often they should hear from you: 30d, 2w, 'every 45 days' (none clears).",
        ),
    ] = None,
    clear: Annotated[bool, _opt("--clear", help="Remove the cadence.")] = False,
    yes: YesOpt = False,
    json_: JsonOpt = False,
):
    """Set how often contacts should hear from you; any logged activity resets the clock."""
    from crm_cli.domain import followups

    if clear == (every is not None):
        raise InvalidInput("give --every DAYS (e.g. 30d) or --clear")
    days = None if clear else followups.parse_cadence(every)
    db = open_db(ctx, must_exist=True)
    ids = selectors.contacts(db, selector, many=True)
    confirm_bulk(len(ids), "contacts", yes)
    changed = followups.set_cadence(db, ids, days)
    _report(contacts.get_many(db, changed), ids, json_)


app.command("dupes")(contact_dupes_cmd)
app.command("merge")(contact_merge_cmd)
