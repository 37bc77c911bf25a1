"""crm campaign: email, call-list and letter campaigns to a segment, with a send ledger."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from crm_cli.commands._common import JsonOpt, LimitOpt, noun_app, open_db
from crm_cli.domain import campaigns
from crm_cli.errors import EXIT_PARTIAL, InvalidInput

app = noun_app("Campaigns: email, call lists and letters to a segment, and their send log.")

NameArg = Annotated[str, typer.Argument(help="Campaign name (or id).")]


def _read(path: Path | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{what} {path} is not UTF-8 text") from None
    except OSError as e:
        raise InvalidInput(f"cannot read {what} {path}: {e.strerror or e}") from None


TemplateOpt = Annotated[
    Path | None,
    typer.Option(
        "--template", metavar="FILE",
        help="Plain-text body: a Jinja2 template ({{ first_name | default('there') }}).",
    ),
]  # fmt: skip
HtmlOpt = Annotated[
    Path | None,
    typer.Option("--html", metavar="FILE", help="Optional HTML part (a Jinja2 template too)."),
]
SubjectOpt = Annotated[
    str | None, typer.Option("--subject", help="Subject line (may use template fields).")
]
FromOpt = Annotated[
    str | None,
    typer.Option("--from", metavar="ADDRESS", help="Sender (default: config campaign.from)."),
]
SegmentOpt = Annotated[str | None, typer.Option("--segment", help="Segment to reach.")]
NotesOpt = Annotated[str | None, typer.Option("--notes", help="Free-text notes.")]
HoldoutOpt = Annotated[
    str | None,
    typer.Option(
        "--holdout", metavar="PCT",
        help="Hold out this share of the segment from every channel (e.g. 10%), as a"
        " control group for crm report impact.",
    ),
]  # fmt: skip
SeedOpt = Annotated[
    str | None,
    typer.Option("--seed", help="The hold-out's random seed (default: a new random one)."),
]


@app.command("add")
def add_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for the campaign.")],
    segment: SegmentOpt = None,
    subject: SubjectOpt = None,
    template: TemplateOpt = None,
    html: HtmlOpt = None,
    sender: FromOpt = None,
    channel: Annotated[
        str, typer.Option("--channel", help="email, call (a call list), letter, ad or social.")
    ] = "email",
    notes: NotesOpt = None,
    holdout: HoldoutOpt = None,
    seed: SeedOpt = None,
    json_: JsonOpt = False,
):
    """Add a campaign: email needs --segment, --subject and --template."""
    db = open_db(ctx)
    c = campaigns.add(
        db, name, channel=channel, segment=segment, subject=subject,
        body=_read(template, "template"), html=_read(html, "HTML template"), sender=sender,
        notes=notes, holdout_pct=holdout, holdout_seed=seed,
    )  # fmt: skip
    _emit_id(c, json_)


def _emit_id(c: campaigns.Campaign, json_: bool) -> None:
    if json_:
        print(json.dumps(c.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(c.id)


@app.command("edit")
def edit_cmd(
    ctx: typer.Context,
    name: NameArg,
    new_name: Annotated[str | None, typer.Option("--name", help="Rename it.")] = None,
    segment: SegmentOpt = None,
    subject: SubjectOpt = None,
    template: TemplateOpt = None,
    html: HtmlOpt = None,
    sender: FromOpt = None,
    notes: NotesOpt = None,
    holdout: HoldoutOpt = None,
    seed: SeedOpt = None,
    json_: JsonOpt = False,
):
    """Change a campaign; its audience and message only before it starts sending, its
    hold-out (--holdout 0 removes it) only before it is drawn."""
    db = open_db(ctx)
    c = campaigns.edit(
        db, name, new_name=new_name, segment=segment, subject=subject,
        body=_read(template, "template"), html=_read(html, "HTML template"), sender=sender,
        notes=notes, holdout_pct=holdout, holdout_seed=seed,
    )  # fmt: skip
    _emit_id(c, json_)


@app.command("delete")
def delete_cmd(ctx: typer.Context, name: NameArg):
    """Delete a campaign that has not reached anyone yet."""
    print(campaigns.delete(open_db(ctx), name))


LIST_COLUMNS = [("id", "id"), ("name", "name"), ("channel", "channel"), ("segment", "segment"),
                ("status", "status"), ("planned", "planned"), ("sent", "sent"),
                ("pending", "pending"), ("failed", "failed"), ("skipped", "skipped")]  # fmt: skip


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    json_: JsonOpt = False,
    csv_: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
):
    """List campaigns with their recipients per state."""
    from crm_cli.commands._output import emit_list, fmt_choice

    fmt = fmt_choice(json_=json_, csv_=csv_)
    emit_list(campaigns.overview(open_db(ctx, must_exist=True)), LIST_COLUMNS, fmt)


@app.command("show")
def show_cmd(ctx: typer.Context, name: NameArg, json_: JsonOpt = False):
    """Show a campaign: its audience, message templates and where its send stands."""
    from crm_cli.commands._output import emit_object

    db = open_db(ctx, must_exist=True)
    c = campaigns.get(db, name).to_dict()
    st = campaigns.status(db, name, limit=0)
    for k in ("planned", "sent", "pending", "in_flight", "in_doubt", "retry", "failed",
              "skipped"):  # fmt: skip
        c[k] = st[k]
    emit_object(c, "json" if json_ else "table")


AUDIENCE_COLUMNS = [("contact_id", "id"), ("name", "name"), ("email", "email"),
                    ("phone", "phone"), ("city", "city"), ("group", "group")]  # fmt: skip


@app.command("audience")
def audience_cmd(
    ctx: typer.Context,
    name: NameArg,
    holdout: Annotated[
        bool, typer.Option("--holdout", help="List the hold-out (the control group) instead.")
    ] = False,
    json_: JsonOpt = False,
    csv_: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
):
    """Who the campaign may reach on channels outside crm (a till's receipts, SMS, the web
    area): the segment less its hold-out and opted-out contacts. Draws the hold-out."""
    from crm_cli.commands._output import emit_list, fmt_choice

    fmt = fmt_choice(json_=json_, csv_=csv_)
    rows = campaigns.audience(open_db(ctx, must_exist=True), name, holdout=holdout)
    emit_list(rows, AUDIENCE_COLUMNS, fmt, keys=campaigns.AUDIENCE_KEYS)


DELIVERY_COLUMNS = [("at", "at"), ("contact_id", "id"), ("name", "name"), ("channel", "channel"),
                    ("status", "status"), ("count", "count"), ("email", "email"),
                    ("city", "city")]  # fmt: skip


@app.command("deliveries")
def deliveries_cmd(
    ctx: typer.Context,
    name: NameArg,
    channel: Annotated[
        str | None, typer.Option("--channel", help="Only this channel (receipt, letter, …).")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Only this status (delivered, returned, opened, …)."),
    ] = None,
    json_: JsonOpt = False,
    csv_: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
):
    """List the deliveries imported for the campaign (crm import deliveries), e.g. the
    letters that came back: --channel letter --status returned."""
    from crm_cli.commands._output import emit_list, fmt_choice

    fmt = fmt_choice(json_=json_, csv_=csv_)
    rows = campaigns.deliveries(open_db(ctx, must_exist=True), name, channel=channel,
                                status=status)  # fmt: skip
    emit_list(rows, DELIVERY_COLUMNS, fmt, keys=campaigns.DELIVERY_KEYS)


@app.command("preview")
def preview_cmd(
    ctx: typer.Context,
    name: NameArg,
    contact: Annotated[
        str | None,
        typer.Option("--contact", help="Whose message (id, email or name); default: the next due."),
    ] = None,
    html: Annotated[bool, typer.Option("--html", help="Print the HTML part instead.")] = False,
    raw: Annotated[bool, typer.Option("--raw", help="Print the whole MIME message.")] = False,
    json_: JsonOpt = False,
):
    """Show the message one contact would get, personalised, with its headers."""
    p = campaigns.preview(open_db(ctx, must_exist=True), name, contact)
    if json_:
        print(json.dumps(p.to_dict(), ensure_ascii=False, indent=2))
        return
    if raw:
        sys.stdout.write(p.message.as_string())
        return
    d = p.to_dict()
    for k, v in d["headers"].items():
        if k.lower() not in ("mime-version", "content-transfer-encoding"):
            print(f"{k}: {v}")
    print()
    if html:
        if d["html"] is None:
            raise InvalidInput(f"campaign {name!r} has no HTML part")
        sys.stdout.write(d["html"])
    else:
        sys.stdout.write(d["text"] or "")


class _Progress:
    """A progress bar on stderr at a terminal; nothing when piped (cron)."""

    def __init__(self, label: str):
        self.label = label
        self.bar = None
        self.task = None

    def __enter__(self):
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self.bar = Progress(
                self.label, BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                console=Console(stderr=True), transient=True,
            )  # fmt: skip
            self.bar.start()
        return self

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            return
        if self.task is None:
            self.task = self.bar.add_task(self.label, total=total)
        self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()


def _summary(res: campaigns.SendResult) -> list[str]:
    verb = "would send" if res.dry_run else "sent"
    lines = []
    if res.dry_run:
        lines.append(
            f"{res.campaign}: {res.planned} planned, {res.remaining} to send, "
            f"{res.total_sent} sent before, {res.in_doubt} in doubt"
        )
    else:
        lines.append(
            f"{res.campaign}: {verb} {res.sent} now ({res.total_sent} of {res.planned} in all)"
            f"{f' via {res.via}' if res.via else ''}"
        )
        if res.failed or res.retry:
            lines.append(
                f"failed: {res.failed} permanently, {res.retry} temporarily (the next run retries)"
            )
        if res.skipped_now:
            lines.append(
                f"skipped now: {res.skipped_now} opted out or bounced since the list froze"
            )
        if res.resolved:
            lines.append(f"resolved from the outbox: {res.resolved} formerly in doubt")
        if res.released:
            lines.append(f"released for resending: {res.released} formerly in doubt")
        if res.in_doubt:
            lines.append(
                f"in doubt: {res.in_doubt} (not resent; crm campaign status {res.campaign};"
                " --resend-in-doubt releases them)"
            )
        if res.remaining:
            lines.append(f"remaining: {res.remaining} (run again to continue)")
    if res.skipped:
        lines.append(
            "skipped: "
            + ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in res.skipped.items())
        )
    for problem in res.render_errors[:5]:
        lines.append(f"would fail: {problem}")
    if len(res.render_errors) > 5:
        lines.append(f"would fail: … and {len(res.render_errors) - 5} more")
    if res.stopped:
        lines.append(f"stopped: {res.stopped}")
    return lines


@app.command("send")
def send_cmd(
    ctx: typer.Context,
    name: NameArg,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count who would get it; send and record nothing.")
    ] = False,
    rate: Annotated[
        str | None, typer.Option("--rate", help="At most this many messages: 30/min, 2/s, 1000/h.")
    ] = None,
    smtp: Annotated[
        bool, typer.Option("--smtp", help="Send through the configured SMTP server (default).")
    ] = False,
    outbox: Annotated[
        Path | None,
        typer.Option("--outbox", metavar="DIR", help="Write .eml files into DIR instead of SMTP."),
    ] = None,
    resend_in_doubt: Annotated[
        bool,
        typer.Option(
            "--resend-in-doubt",
            help="Send again to recipients whose earlier send was cut off mid-way (may duplicate).",
        ),
    ] = False,
    limit: LimitOpt = None,
    due: Annotated[
        str, typer.Option("--due", help="Call lists: when the calls are due.")
    ] = "today 9am",
    assign: Annotated[
        str | None, typer.Option("--assign", help="Call lists: who calls (default: each owner).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE", help="Letters: the mail-merge CSV (default stdout)."),
    ] = None,
    json_: JsonOpt = False,
):
    """Send a campaign to its segment: email (SMTP or --outbox), a call list, or letters.

    The recipient list is frozen on the first run; a run after an interruption goes on
    with the same people and never mails anyone twice. Exit status: 0 all sent, 11 some
    failed, are in doubt or remain (run again), 1 an error.
    """
    import signal

    db = open_db(ctx, must_exist=not dry_run)
    c = campaigns.get(db, name)
    if smtp and outbox is not None:
        raise InvalidInput("choose --smtp or --outbox, not both")
    if c.channel == "call":
        res = campaigns.send_calls(db, name, due=due, assign=assign, dry_run=dry_run)
    elif c.channel == "letter":
        res = _letters(db, name, out, dry_run)
    elif c.channel != "email":
        raise InvalidInput(
            f"campaign {c.name!r} is an {c.channel} campaign: it is not sent from here; record"
            f" its results with crm import campaign-stats FILE --campaign {c.name!r}"
        )
    else:
        interval = campaigns.parse_rate(rate)
        campaigns.check_ready(c)  # before an outbox folder is made or a server is called
        transport = None
        if not dry_run:
            if outbox is not None:
                from crm_cli.io.mail import OutboxTransport

                transport = OutboxTransport(outbox)
            else:
                from crm_cli.io import mail

                transport = mail.SmtpTransport(mail.settings(need_sender=False))
        # SIGTERM (cron's timeout, systemd) stops like Ctrl-C: the ledger stays exact.
        old = signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            with _Progress(f"sending {c.name}") as progress:
                res = campaigns.send(
                    db, name, transport, dry_run=dry_run, rate=interval,
                    resend_in_doubt=resend_in_doubt, limit=limit, progress=progress,
                )  # fmt: skip
        finally:
            signal.signal(signal.SIGTERM, old)
    if json_:
        print(json.dumps(res.to_dict(), ensure_ascii=False, indent=2))
    for line in _summary(res):
        print(line, file=sys.stderr)
    if not dry_run and res.partial:
        raise typer.Exit(EXIT_PARTIAL)


def _letters(db, name: str, out: Path | None, dry_run: bool) -> campaigns.SendResult:
    """Write the mail-merge CSV (atomically when to a file), then record the letters sent."""
    import csv
    import io
    import os

    res, rows = campaigns.letters(db, name, dry_run=dry_run)
    if dry_run:
        return res
    keys = ["recipient_id", "contact_id", "name", "first_name", "last_name", "org", "street",
            "postal_code", "city", "region", "country", "token"]  # fmt: skip
    buf = io.StringIO()
    w = csv.DictWriter(buf, keys, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    if out is None:
        sys.stdout.write(buf.getvalue())
        sys.stdout.flush()
    else:
        tmp = out.with_name(f".{out.name}.tmp")
        try:
            tmp.write_text(buf.getvalue(), encoding="utf-8")
            os.replace(tmp, out)
        except OSError as e:
            raise InvalidInput(f"cannot write {out}: {e.strerror or e}; nothing recorded") from None
    done = campaigns.mark_letters_sent(db, name, [r["recipient_id"] for r in rows])
    done.dry_run = False
    return done


STATUS_COLUMNS = [("contact_id", "contact id"), ("contact", "contact"), ("email", "email"),
                  ("attempts", "attempts"), ("sending_at", "started"), ("error", "error")]  # fmt: skip


@app.command("status")
def status_cmd(ctx: typer.Context, name: NameArg, limit: LimitOpt = None, json_: JsonOpt = False):
    """Where a send stands: sent, pending, in doubt (listed), failed (with errors), skipped."""
    from crm_cli.commands._output import emit_list, local_time

    st = campaigns.status(open_db(ctx, must_exist=True), name, limit=limit or 50)
    if json_:
        print(json.dumps(st, ensure_ascii=False, indent=2))
        return
    print(
        f"{st['campaign']} ({st['channel']}, {st['status']}): {st['planned']} planned, "
        f"{st['sent']} sent, {st['pending']} pending ({st['retry']} to retry), "
        f"{st['in_flight']} sending now, {st['in_doubt']} in doubt, {st['failed']} failed, "
        f"{st['skipped']} skipped"
    )
    if st["frozen_at"]:
        print(f"list frozen at {local_time(st['frozen_at'])}")
    if st["skipped_by_reason"]:
        print("skipped: " + ", ".join(f"{n} {k.replace('_', ' ')}"
                                       for k, n in st["skipped_by_reason"].items()))  # fmt: skip
    if st["in_doubt_recipients"]:
        print()
        emit_list(st["in_doubt_recipients"], STATUS_COLUMNS, "table",
                  title="In doubt (may have arrived; resend with --resend-in-doubt)")  # fmt: skip
    if st["failed_recipients"]:
        print()
        emit_list(st["failed_recipients"], [*STATUS_COLUMNS, ("error_kind", "kind")], "table",
                  title="Failed")  # fmt: skip


@app.command("unsubscribe")
def unsubscribe_cmd(
    ctx: typer.Context,
    token: Annotated[str, typer.Argument(help="The token from the message's unsubscribe link.")],
    json_: JsonOpt = False,
):
    """Opt out the contact a campaign message's unsubscribe link belongs to (for web hooks)."""
    r = campaigns.unsubscribe(open_db(ctx, must_exist=True), token)
    print(json.dumps(r) if json_ else r["contact_id"])
