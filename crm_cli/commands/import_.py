"""crm import: other tools' files in (CSV, JSON/NDJSON, vCard), with rejects, dry runs and revert."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from crm_cli.commands._common import JsonOpt, LimitOpt, noun_app, open_db
from crm_cli.errors import EXIT_PARTIAL, EXIT_USER

app = noun_app("Import records from files; list and revert past imports.")

FileArg = Annotated[str, typer.Argument(help="The file to import.", metavar="FILE")]


def _opt(*names: str, help: str, metavar: str | None = None):
    return typer.Option(*names, help=help, metavar=metavar)


def _run(
    ctx: typer.Context, kind: str, file: str, *, map_: list[str] | None, map_file: str | None,
    json_: bool, after=None, **options,
) -> None:  # fmt: skip
    from crm_cli.commands._output import note
    from crm_cli.domain import imports

    columns: dict[str, str] = {}
    if map_file or map_:
        from crm_cli.io import mapping

        if map_file:
            columns.update(mapping.load_map_file(map_file))
        if map_:
            columns.update(mapping.parse_map(map_))
    opts = imports.Options(kind=kind, path=file, columns=columns or None, **options)
    db = open_db(ctx)
    source = _open_source(db, opts)
    with _progress() as tick:
        res = imports.run(db, opts, source, progress=tick)
    if json_:
        print(json.dumps(res.to_dict(), ensure_ascii=False, indent=2))
    if res.dry_run:
        line = (
            f"dry run: {kind} from {file} would make {res.created} created, {res.updated} updated,"
            f" {res.unchanged} unchanged, {res.rejected} rejected (nothing was written)"
        )
    else:
        line = (
            f"{kind} from {file}: {res.created} created, {res.updated} updated,"
            f" {res.unchanged} unchanged, {res.rejected} rejected"
        )
    if res.preset:
        line += f" (read as {res.preset})"
    if res.rejects_path:
        line += f"; rejects in {res.rejects_path}"
    if res.import_id is not None and res.set_id is not None:
        line += f"; import {res.import_id} (crm import revert {res.import_id} undoes it)"
    elif res.import_id is not None:
        line += f"; import {res.import_id} changed nothing"
    note(line)
    if after is not None:
        after(res)
    if res.dry_run:
        for n, reason in res.sample:
            note(f"  line {n}: {reason}")
        if res.rejected > len(res.sample):
            note(f"  … and {res.rejected - len(res.sample)} more")
    if res.rejected:
        done = res.created + res.updated + res.unchanged
        raise typer.Exit(EXIT_PARTIAL if done else EXIT_USER)


def _open_source(db, opts):
    """Check the options, then open the file with its reader (and read an orders --lines file)."""
    from crm_cli.domain import imports
    from crm_cli.io import readers

    imports.check_options(opts)
    path, fmt = readers.locate(opts)
    imports.check_stage_map(db, opts)
    source = readers.open_source(opts, path, fmt)
    if opts.kind == "orders" and opts.extra.get("lines"):
        opts.extra["order_lines"] = readers.read_order_lines(opts.extra["lines"])
    return source


class _progress:
    """A rich progress counter on stderr at a terminal; nothing when piped."""

    def __init__(self, unit: str = "rows"):
        self.unit = unit

    def __enter__(self):
        if not sys.stderr.isatty():
            return None
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.p = Progress(SpinnerColumn(), TextColumn("{task.completed} " + self.unit),
                          TimeElapsedColumn(), transient=True)  # fmt: skip
        self.p.__enter__()
        task = self.p.add_task("import", total=None)
        return lambda n: self.p.update(task, completed=n)

    def __exit__(self, *exc):
        if hasattr(self, "p"):
            self.p.__exit__(*exc)
        return False


MapOpt = Annotated[
    list[str] | None,
    _opt("--map", help="Map a column: 'Column Name=field'. Repeatable.", metavar="COL=FIELD"),
]
EncodingOpt = Annotated[str | None, _opt("--encoding", help="Text encoding (default: detected).")]
DelimiterOpt = Annotated[str | None, _opt("--delimiter", help="CSV delimiter (default: sniffed).")]
DryRunOpt = Annotated[bool, _opt("--dry-run", help="Validate and count everything; write nothing.")]
TableFormatOpt = Annotated[
    str | None, _opt("--format", help="csv, json or ndjson (default: detected).")
]
RejectsOpt = Annotated[
    str | None,
    _opt("--rejects", help="Reject file (default: FILE.rejects.csv here).", metavar="PATH"),
]


def _make(kind: str, doc: str):
    from crm_cli.domain import imports

    def command(
        ctx: typer.Context,
        file: FileArg,
        fmt: Annotated[
            str | None,
            _opt("--format", help="csv, json, ndjson, vcard or ics (default: detected)."),
        ] = None,
        map_: MapOpt = None,
        map_file: Annotated[
            str | None, _opt("--map-file", help="TOML file with a [columns] table.", metavar="TOML")
        ] = None,
        ignore_unknown: Annotated[
            bool, _opt("--ignore-unknown", help="Drop unmapped columns (default: custom fields).")
        ] = False,
        skip_lines: Annotated[
            int | None,
            typer.Option(
                "--skip-lines", min=0, help="Junk lines before the header (default: detected)."
            ),
        ] = None,
        encoding: EncodingOpt = None,
        delimiter: DelimiterOpt = None,
        dry_run: DryRunOpt = False,
        on_duplicate: Annotated[
            str,
            _opt("--on-duplicate", help="update (default), merge (fill gaps), skip or create."),
        ] = "update",
        rejects: Annotated[
            str | None,
            _opt(
                "--rejects",
                help="Reject file (default: FILE.rejects.csv in this directory).",
                metavar="PATH",
            ),
        ] = None,
        system: Annotated[
            str | None,
            _opt(
                "--system",
                help="Source system the file's ids belong to (default: detected).",
                metavar="NAME",
            ),
        ] = None,
        window: Annotated[
            str | None,
            _opt(
                "--window",
                help="ics: expand recurring events from..to (default -1y..+30d).",
                metavar="FROM..TO",
            ),
        ] = None,
        lines: Annotated[
            str | None,
            _opt(
                "--lines",
                help="orders: a separate file of order lines (Chinook InvoiceLine.csv).",
                metavar="FILE",
            ),
        ] = None,
        stage_map: Annotated[
            list[str] | None,
            _opt(
                "--stage-map",
                help="Map another tool's stage: 'Their stage=ours'. Repeatable.",
                metavar="THEIRS=OURS",
            ),
        ] = None,
        keep_photos: Annotated[
            bool, _opt("--keep-photos", help="vCard: keep photos (as the custom field photo).")
        ] = False,
        batch: Annotated[
            int,
            typer.Option(
                "--batch",
                min=1,
                max=10000,
                help="Rows per commit (default 500): other writers wait one batch at most.",
            ),
        ] = 500,
        json_: JsonOpt = False,
    ):
        _run(
            ctx, kind, file, map_=map_, map_file=map_file, json_=json_, fmt=fmt,
            ignore_unknown=ignore_unknown, skip_lines=skip_lines, encoding=encoding,
            delimiter=delimiter, dry_run=dry_run, on_duplicate=on_duplicate, rejects=rejects,
            system=system, batch=batch, keep_photos=keep_photos,
            stage_map=imports.parse_stage_map(stage_map),
            extra={k: v for k, v in (("lines", lines), ("window", window)) if v},
        )  # fmt: skip

    command.__doc__ = doc
    return command


app.command("contacts")(
    _make(
        "contacts",
        "Import contacts from CSV, JSON/NDJSON or vCard; matched ones are updated, bad rows rejected.",
    )
)


app.command("orgs")(
    _make(
        "orgs",
        "Import organizations from CSV, JSON/NDJSON or vCard; matched ones (by name) are updated.",
    )
)
for _kind, _doc in [
    ("deals", "Import deals from CSV or JSON (Salesforce Opportunities); stages map by name."),
    ("orders", "Import orders (with --lines for a separate lines file) from CSV or JSON."),
    ("activities", "Import meetings and to-dos from an iCalendar (.ics) file."),
    ("users", "Import team members (e.g. Chinook's Employee.csv), with their managers."),
    (
        "visits",
        "Import web sessions (CSV or NDJSON: email or visitor id, time, landing page, "
        "referrer, UTM tags, pages); visits of a known visitor go on the timeline.",
    ),
]:
    app.command(_kind)(_make(_kind, _doc))


@app.command("campaign-stats")
def campaign_stats_cmd(
    ctx: typer.Context,
    file: FileArg,
    campaign: Annotated[
        str, _opt("--campaign", help="The campaign the figures belong to.", metavar="NAME")
    ],
    fmt: TableFormatOpt = None,
    map_: MapOpt = None,
    encoding: EncodingOpt = None,
    delimiter: DelimiterOpt = None,
    dry_run: DryRunOpt = False,
    rejects: RejectsOpt = None,
    json_: JsonOpt = False,
):
    """Import an ad or social campaign's daily cost, impressions, clicks and conversions
    (CSV or NDJSON, e.g. a Google Ads or Meta export); a restated day is updated."""
    from crm_cli.domain import campaigns

    campaigns.get(open_db(ctx, must_exist=True), campaign)  # unknown: exit 3 before reading
    _run(
        ctx, "campaign-stats", file, map_=map_, map_file=None, json_=json_, fmt=fmt,
        encoding=encoding, delimiter=delimiter, dry_run=dry_run, rejects=rejects,
        extra={"campaign": campaign},
    )  # fmt: skip


@app.command("deliveries")
def deliveries_cmd(
    ctx: typer.Context,
    file: FileArg,
    campaign: Annotated[
        str, _opt("--campaign", help="The campaign the deliveries belong to.", metavar="NAME")
    ],
    fmt: TableFormatOpt = None,
    map_: MapOpt = None,
    encoding: EncodingOpt = None,
    delimiter: DelimiterOpt = None,
    system: Annotated[
        str | None,
        _opt(
            "--system",
            help="Also find contacts by the ids this system gave them (e.g. a"
            " loyalty-card import's --system).",
            metavar="NAME",
        ),
    ] = None,
    dry_run: DryRunOpt = False,
    rejects: RejectsOpt = None,
    json_: JsonOpt = False,
):
    """Import a campaign's reach outside crm (CSV or NDJSON: contact email or id, channel --
    receipt, letter, sms, call, web, email --, time, status -- delivered, returned, failed,
    opened, visited --, count); importing the same rows again creates nothing."""
    from crm_cli.commands._output import note
    from crm_cli.domain import campaigns

    c = campaigns.get(open_db(ctx, must_exist=True), campaign)  # unknown: exit 3 before reading

    def warn(res) -> None:
        reached = res.details.get("holdout_reached")
        if reached:
            note(f"warning: {reached} member(s) of the hold-out of {c.name} were reached;"
                 " crm report impact still counts them in the hold-out (as assigned)")  # fmt: skip

    _run(
        ctx, "deliveries", file, map_=map_, map_file=None, json_=json_, fmt=fmt,
        encoding=encoding, delimiter=delimiter, dry_run=dry_run, rejects=rejects,
        extra={"campaign": campaign, "system": system}, after=warn,
    )  # fmt: skip


@app.command("mail")
def mail_cmd(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(
            help=".eml files, mbox files, Maildir folders, or folders holding them.",
            metavar="PATH...",
        ),
    ],
    dry_run: Annotated[
        bool, _opt("--dry-run", help="Read and count everything; write nothing.")
    ] = False,
    create_contacts: Annotated[
        bool,
        _opt(
            "--create-contacts",
            help="Make unknown correspondents leads (default: list them in the summary).",
        ),
    ] = False,
    own: Annotated[
        list[str] | None,
        _opt(
            "--own",
            help="Your own address (or @domain): mail from it is outgoing. Repeatable;"
            " adds to mail.own_addresses and the team's emails.",
            metavar="ADDRESS",
        ),
    ] = None,
    rejects: Annotated[
        str | None,
        _opt(
            "--rejects",
            help="File listing unreadable messages (default: PATH.rejects.csv here).",
            metavar="FILE",
        ),
    ] = None,
    batch: Annotated[
        int,
        typer.Option(
            "--batch",
            min=1,
            max=10000,
            help="Messages per commit (default 500): other writers wait one batch at most.",
        ),
    ] = 500,  # fmt: skip
    json_: JsonOpt = False,
):
    """Import email (.eml, mbox, Maildir): each message on the timelines of the known contacts in
    it, threaded; bounces, complaints and auto-replies recognised; twice imports nothing new."""
    from crm_cli.domain import import_mail, imports
    from crm_cli.io import mail_in

    opts = imports.Options(
        kind="mail", path=paths[0], dry_run=dry_run, rejects=rejects, batch=batch,
        extra={"paths": list(paths), "own": list(own or []), "create_contacts": create_contacts},
    )  # fmt: skip
    imports.check_options(opts)
    db = open_db(ctx)
    source = mail_in.open_source(paths, opts)
    with _progress("messages") as tick:
        res = imports.run(db, opts, source, progress=tick)
    import_mail.complete(res, source.extra["walk"])
    if json_:
        print(json.dumps(res.to_dict(), ensure_ascii=False, indent=2))
    _mail_summary(res, paths)
    if res.rejected:
        done = res.created + res.updated + res.unchanged
        raise typer.Exit(EXIT_PARTIAL if done else EXIT_USER)


def _mail_summary(res, paths: list[str], top: int = 10) -> None:
    """The mail import's summary, for people, on stderr."""
    from crm_cli.commands._output import note

    d = res.details
    where = paths[0] if len(paths) == 1 else f"{len(paths)} paths"
    lead = "dry run: " if res.dry_run else ""
    note(
        f"{lead}mail from {where}: {res.rows} messages read: {d['imported']} imported"
        f" ({d['logged']} on timelines), {d['already']} already there, {d['no_contact']} with"
        f" no known contact, {d['mail_system']} other mail-system messages,"
        f" {res.rejected} unreadable" + (" (nothing was written)" if res.dry_run else "")
    )
    b = d["bounces"]
    note(
        f"  bounces: {b['hard']} hard, {b['soft']} soft ({d['addresses_bounced']} addresses"
        f" marked bounced, {d['addresses_deferred']} deferred); complaints: {d['complaints']}"
        f" ({d['opted_out']} contacts opted out); auto-replies: {d['auto_replies']};"
        f" read receipts: {d['read_receipts']}; replies to campaigns: {d['campaign_replies']}"
    )
    other = {k: v for k, v in d["dates"].items() if k != "header" and v}
    if other:
        said = {"received": "a Received header", "mbox": "the mbox separator",
                "mtime": "the file's time", "import": "the import's time (no date at all)"}  # fmt: skip
        note("  dated by " + "; ".join(f"{said[k]}: {v}" for k, v in other.items())
             + " (no readable Date header)")  # fmt: skip
    if not d["own_addresses"]:
        note("  no own addresses known (mail.own_addresses, --own, team members' emails):"
             " every message counts as incoming")  # fmt: skip
    if d["contacts_created"]:
        note(f"  {len(d['contacts_created'])} leads created from unknown correspondents")
    unknown = d["unknown"]
    if unknown:
        shown = ", ".join(f"{a} ({n})" for a, n in list(unknown.items())[:top])
        more = f", … and {len(unknown) - top} more (--json lists all)" if len(unknown) > top else ""
        hint = "" if d["contacts_created"] else "; --create-contacts makes them leads"
        note(f"  unknown correspondents ({len(unknown)}{hint}): {shown}{more}")
    for p in d["unreadable"][:top]:
        note(f"  unreadable: {p['where']}: {p['reason']}")
    if len(d["unreadable"]) > top:
        note(f"  … and {len(d['unreadable']) - top} more unreadable (--json lists all)")
    if d["not_mail"]:
        names = ", ".join(p.rsplit("/", 1)[-1] for p in d["not_mail"][:top])
        note(f"  skipped {len(d['not_mail'])} files that are not mail: {names}")
    tail = []
    if res.rejects_path:
        tail.append(f"unreadable ones listed in {res.rejects_path}")
    if res.import_id is not None and res.set_id is not None:
        tail.append(f"import {res.import_id} (crm import revert {res.import_id} undoes it)")
    elif res.import_id is not None:
        tail.append(f"import {res.import_id} changed nothing")
    if tail:
        note("  " + "; ".join(tail))


@app.command("list")
def list_cmd(ctx: typer.Context, json_: JsonOpt = False, limit: LimitOpt = 20):
    """List past imports, newest first: file, time, counts and state."""
    from crm_cli.commands._output import emit_list, local_time
    from crm_cli.domain import imports

    rows = imports.list_imports(open_db(ctx, must_exist=True), limit=limit)
    if json_:
        emit_list(rows, [], "json")
        return
    for r in rows:
        r["when"] = local_time(r["started_at"])
        r["file"] = r["source"].rsplit("/", 1)[-1]
    cols = [("id", "id"), ("when", "when"), ("kind", "kind"), ("file", "file"), ("format", "fmt"),
            ("created", "created"), ("updated", "updated"), ("unchanged", "unchanged"),
            ("rejected", "rejected"), ("set_id", "set"), ("state", "state")]  # fmt: skip
    emit_list(rows, cols, "table")


@app.command("revert")
def revert_cmd(
    ctx: typer.Context,
    import_id: Annotated[
        int, typer.Argument(help="Import id (see crm import list).", min=1, max=2**63 - 1)
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Revert even over later changes to the same records.")
    ] = False,
):
    """Revert an import: remove what it created and restore what it updated."""
    from crm_cli.domain import imports

    r = imports.revert(open_db(ctx, must_exist=True), import_id, force=force)
    print(
        f"reverted import {import_id} (change set {r.set_id}): {r.changes} changes undone,"
        f" recorded as set {r.undo_set_id}"
    )
