"""Campaigns: a segment reached by email, a call list or letters, with a send ledger
that never mails anyone twice.

The recipient list is frozen when a send first starts (one ``campaign_recipients`` row
per person of the segment, skipped ones with their reason), so a run after an
interruption works through the same people even when the segment has changed since.

Each email recipient is marked *sending* in a committed write (synced to disk: a power cut
cannot undo it) before its SMTP
transaction begins and *sent* after the server accepts it. A kill between the two leaves
the row *sending*: when no live run holds it, it is *in doubt* -- it may or may not have
arrived. In-doubt rows are never sent again by themselves; ``crm campaign status`` lists
them and ``--resend-in-doubt`` releases them. Temporary SMTP failures (4xx) are retried
by the next run; permanent ones (5xx) are not. The ledger is one change set per run,
marked not undoable: ``crm undo`` can never cause a second mail.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from crm_cli import config
from crm_cli.domain import validate
from crm_cli.errors import Conflict, InvalidInput, NotFound
from crm_cli.storage import campaigns as store
from crm_cli.storage.db import Db, Transaction, durable_commits, transaction

CHANNELS = ("email", "call", "letter", "ad", "social")
SENT_CHANNELS = ("email", "call", "letter")  # the channels `crm campaign send` delivers
SKIP_REASONS = (
    "opted_out", "no_email", "bounced", "complained", "duplicate_address", "no_phone",
    "no_address", "contact_deleted", "holdout",
)  # fmt: skip
STOP_AFTER_TEMPORARY = 10  # consecutive temporary failures: the server is throttling us
_BATCH = 200


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    name: str
    channel: str
    segment_id: int | None
    segment: str | None
    filter: str | None
    subject: str | None
    body_template: str | None
    html_template: str | None
    sender: str | None
    status: str
    frozen_at: str | None
    owner_id: int | None
    owner: str | None
    notes: str | None
    created_at: str
    updated_at: str
    holdout_pct: float | None = None
    holdout_seed: str | None = None
    holdout_at: str | None = None
    # The team's campaign.* settings when it was read (sender, unsubscribe URL, mailto).
    team: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "team"}


_TEAM_KEYS = ("campaign.from", "campaign.unsubscribe_url", "campaign.unsubscribe_mailto")


def _load(row: dict, db: Db | None = None) -> Campaign:
    """A campaign row, with the team settings its mail needs: the database's (``crm config
    set`` stores team keys there), else a value in the personal config file."""
    from crm_cli.domain import settings

    team = {k: (settings.team_get(db, k) if db is not None else None) or config.get(k)
            for k in _TEAM_KEYS}  # fmt: skip
    fields = {k: row.get(k) for k in Campaign.__dataclass_fields__ if k != "team"}
    return Campaign(**fields, team=team)


def get(db: Db, ref: str | int) -> Campaign:
    """A campaign by name or id."""
    text = str(ref).strip()
    cid = int(text) if text.isdigit() else store.id_by_name(db, text)
    row = store.get(db, cid) if cid is not None else None
    if row is None:
        raise NotFound(f"no campaign named {text!r}; see crm campaign list")
    return _load(row, db)


def overview(db: Db) -> list[dict]:
    """Every campaign with its recipients per state."""
    counts = store.state_counts(db)
    out = []
    for row in store.list_all(db):
        c = _load(row).to_dict()
        for k in ("body_template", "html_template", "filter"):
            c.pop(k)
        c.update(_counts(counts.get(row["id"], {})))
        out.append(c)
    return out


def _counts(by_state: dict[str, int]) -> dict[str, int]:
    return {
        "planned": sum(by_state.values()),
        "sent": by_state.get("sent", 0),
        "pending": by_state.get("pending", 0) + by_state.get("retry", 0),
        "sending": by_state.get("sending", 0),
        "failed": by_state.get("failed", 0),
        "skipped": by_state.get("skipped", 0),
    }


# ---------------------------------------------------------------- defining


def _name(name: str) -> str:
    text = validate.text(name)
    if not text:
        raise InvalidInput("a campaign needs a name")
    if text.isdigit():
        raise InvalidInput(f"campaign name {text!r} would read as an id; use a word")
    return text


def _channel(channel: str | None) -> str:
    ch = (channel or "email").strip().lower()
    if ch not in CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(CHANNELS)}, not {channel!r}")
    return ch


def _sender(text: str | None) -> str | None:
    if text is None:
        return None
    from email.utils import parseaddr

    addr = parseaddr(text)[1]
    if not addr or "@" not in addr:
        raise InvalidInput(f"--from {text!r} is not an email address")
    validate.email(addr)
    return text.strip()


def _check_content(channel: str, subject, body, html) -> None:
    from crm_cli.domain import campaign_mail

    if channel != "email":
        if subject is not None or body is not None or html is not None:
            raise InvalidInput(f"a {channel} campaign has no subject or template; only email has")
        return
    if subject is not None:
        if not subject.strip():
            raise InvalidInput("--subject is empty")
        campaign_mail.check(subject, "--subject")
    if body is not None:
        if not body.strip():
            raise InvalidInput("the --template file is empty")
        campaign_mail.check(body, "--template")
    if html is not None:
        campaign_mail.check(html, "--html", html=True)


def add(
    db: Db, name: str, *, channel: str | None = None, segment: str | None = None,
    subject: str | None = None, body: str | None = None, html: str | None = None,
    sender: str | None = None, notes: str | None = None, holdout_pct: str | None = None,
    holdout_seed: str | None = None,
) -> Campaign:  # fmt: skip
    """Add a campaign: email needs a segment, a subject and a template; a call or letter
    campaign a segment; ad and social campaigns only record their results. A hold-out
    (``10%``) keeps that share of the segment out of every channel (``domain.holdout``)."""
    from crm_cli.domain import holdout, segments

    name, ch = _name(name), _channel(channel)
    seg = segments.get(db, segment) if segment is not None else None
    if seg is None and ch in SENT_CHANNELS:
        raise InvalidInput(f"a {ch} campaign needs --segment")
    pct = holdout.parse_pct(holdout_pct)
    if pct is not None and seg is None:
        raise InvalidInput("a hold-out is drawn from the campaign's segment: give --segment")
    if holdout_seed is not None and pct is None:
        raise InvalidInput("--seed is the hold-out's: give --holdout too")
    seed = _seed(holdout_seed) if pct is not None else None
    if ch == "email" and (subject is None or body is None):
        raise InvalidInput("an email campaign needs --subject and --template")
    _check_content(ch, subject, body, html)
    sender = _sender(sender)
    if store.id_by_name(db, name) is not None:
        raise Conflict(f"a campaign named {name!r} exists already")
    with transaction(db, f"campaign add {name}"[:120]) as tx:
        cid = tx.insert("campaigns", {
            "name": name, "channel": ch, "segment_id": seg.id if seg else None,
            "subject": subject, "body_template": body, "html_template": html,
            "sender": sender, "status": "draft", "owner_id": tx.actor_id,
            "notes": validate.text(notes), "created_at": tx.at, "updated_at": tx.at,
            "holdout_pct": pct, "holdout_seed": seed,
        })  # fmt: skip
    return get(db, cid)


def _seed(text: str | None) -> str:
    from crm_cli.domain import holdout

    if text is None:
        return holdout.new_seed()
    seed = text.strip()
    if not seed or len(seed) > 100 or not seed.isprintable():
        raise InvalidInput("--seed: give 1-100 printable characters")
    return seed


def edit(
    db: Db, ref: str, *, new_name: str | None = None, segment: str | None = None,
    subject: str | None = None, body: str | None = None, html: str | None = None,
    sender: str | None = None, notes: str | None = None, holdout_pct: str | None = None,
    holdout_seed: str | None = None,
) -> Campaign:  # fmt: skip
    """Change a campaign; its audience and message only until its list is frozen, its
    hold-out only until it is drawn."""
    from crm_cli.domain import holdout, segments

    c = get(db, ref)
    content = (segment, subject, body, html, sender)
    if c.frozen_at and any(v is not None for v in content):
        raise Conflict(
            f"campaign {c.name!r} started sending at {c.frozen_at}: its audience and message"
            " stay as they were for everyone; add a new campaign instead"
        )
    if c.holdout_at and (holdout_pct is not None or holdout_seed is not None or segment):
        raise Conflict(
            f"campaign {c.name!r} drew its hold-out at {c.holdout_at}: it stays as drawn"
        )
    if holdout_pct is not None or holdout_seed is not None:
        used = store.used(db, c.id)
        if used:  # someone may be reached already: a hold-out now could not be kept out
            raise Conflict(
                f"campaign {c.name!r} has {used} already: a hold-out must be set before anyone"
                " is reached; add a new campaign instead"
            )
    _check_content(c.channel, subject, body, html)
    values: dict[str, Any] = {}
    if new_name is not None:
        values["name"] = _name(new_name)
        other = store.id_by_name(db, values["name"])
        if other is not None and other != c.id:
            raise Conflict(f"a campaign named {values['name']!r} exists already")
    if segment is not None:
        values["segment_id"] = segments.get(db, segment).id
    for key, v in (("subject", subject), ("body_template", body), ("html_template", html)):
        if v is not None:
            values[key] = v
    if sender is not None:
        values["sender"] = _sender(sender)
    if notes is not None:
        values["notes"] = validate.text(notes)
    if holdout_pct is not None:
        values["holdout_pct"] = holdout.parse_pct(holdout_pct)
        if values["holdout_pct"] is not None and c.segment_id is None and segment is None:
            raise InvalidInput("a hold-out is drawn from the campaign's segment: give --segment")
        if values["holdout_pct"] is not None and not c.holdout_seed:
            values["holdout_seed"] = _seed(holdout_seed)
    if holdout_seed is not None:
        if not (values.get("holdout_pct") or (c.holdout_pct and holdout_pct is None)):
            raise InvalidInput("--seed is the hold-out's: give --holdout too")
        values["holdout_seed"] = _seed(holdout_seed)
    if not values:
        return c
    with transaction(db, f"campaign edit {c.name}"[:120]) as tx:
        tx.update("campaigns", c.id, {**values, "updated_at": tx.at})
    return get(db, c.id)


def delete(db: Db, ref: str) -> int:
    """Delete a campaign that never reached anyone (its ledger is history: it stays)."""
    c = get(db, ref)
    used = store.used(db, c.id)
    if used:
        raise Conflict(f"campaign {c.name!r} has {used}; it stays as a record")
    with transaction(db, f"campaign delete {c.name}"[:120]) as tx:
        tx.delete("campaigns", c.id)
    return c.id


# ---------------------------------------------------------------- who gets it


@dataclass(frozen=True, slots=True)
class Planned:
    contact_id: int
    name: str
    email: str | None
    skip_reason: str | None


def _plan(db: Db, c: Campaign) -> list[Planned]:
    """Everyone in the segment now, with the address to use or why they are skipped
    (the hold-out first: it is never reached, whatever else is true of them)."""
    from crm_cli.domain import holdout, segments

    if c.segment_id is None:
        return []
    ids = segments.member_ids(db, segments.get(db, str(c.segment_id)))
    held = holdout.held_out(db, c, ids)
    out: list[Planned] = []
    seen: set[str] = set()
    for r in _chunked_reachable(db, ids):
        reason, email = None, None
        if r["id"] in held:
            reason = "holdout"
        elif r["consent"] == "opted_out":
            reason = "opted_out"
        elif c.channel == "email":
            good = [v for v, st in r["emails"] if st in ("ok", "deferred")]
            if good:
                email = good[0]
                if email.casefold() in seen:
                    reason = "duplicate_address"
                seen.add(email.casefold())
            elif not r["emails"]:
                reason = "no_email"
            else:
                statuses = {st for _, st in r["emails"]}
                reason = "complained" if "complained" in statuses else "bounced"
        elif c.channel == "call" and not r["phones"]:
            reason = "no_phone"
        elif c.channel == "letter" and not (r["street"] and (r["city"] or r["postal_code"])):
            reason = "no_address"
        out.append(Planned(r["id"], r["name"], email, reason))
    return out


def _chunked_reachable(db: Db, ids: list[int]):
    for i in range(0, len(ids), 5000):
        yield from store.reachable(db, ids[i : i + 5000])


def _domain(sender: str) -> str:
    from email.utils import parseaddr

    return parseaddr(sender)[1].rpartition("@")[2] or socket.getfqdn()


def _freeze(db: Db, tx: Transaction, c: Campaign, planned: list[Planned], sender: str | None):
    """Write the frozen list: one ledger row per person, with a token and a Message-ID
    (and record the hold-out the plan skipped, if not recorded yet)."""
    from crm_cli.domain import holdout, segments

    holdout.ensure(db, tx, c, [p.contact_id for p in planned])  # the same draw _plan made
    domain = _domain(sender) if sender else None
    rows = []
    for p in planned:
        token = secrets.token_urlsafe(16)
        rows.append({
            "campaign_id": c.id, "contact_id": p.contact_id, "email": p.email,
            "state": "skipped" if p.skip_reason else "pending", "skip_reason": p.skip_reason,
            "message_id": f"<{secrets.token_hex(12)}.c{c.id}@{domain}>" if domain else None,
            "token": token, "attempts": 0, "error": None, "error_kind": None, "run_id": None,
            "sending_at": None, "sent_at": None,
        })  # fmt: skip
    for i in range(0, len(rows), 5000):
        tx.insert_many("campaign_recipients", rows[i : i + 5000])
    seg = segments.get(db, str(c.segment_id)) if c.segment_id is not None else None
    tx.update("campaigns", c.id, {
        "status": "sending", "frozen_at": tx.at, "filter": seg.filter if seg else None,
        "updated_at": tx.at,
    })  # fmt: skip


# ---------------------------------------------------------------- the message


def sender_of(c: Campaign) -> str:
    """Who a campaign's mail is from: its --from, else campaign.from, else smtp.from."""
    sender = c.sender or c.team.get("campaign.from") or config.get("smtp.from")
    if not sender:
        raise InvalidInput(
            "no sender address: give the campaign --from, or crm config set campaign.from ADDRESS"
        )
    return _sender(sender)


def unsubscribe_links(c: Campaign, token: str) -> list[str]:
    """The List-Unsubscribe URIs for one recipient: the one-click https URL, and a mailto."""
    from urllib.parse import quote

    url = c.team.get("campaign.unsubscribe_url")
    if not url:
        raise InvalidInput(
            "set campaign.unsubscribe_url to an https URL with {token} (RFC 8058 one-click"
            " unsubscribe; crm campaign unsubscribe TOKEN records it)"
        )
    url = str(url).strip()
    if not url.startswith("https://") or "{token}" not in url:
        raise InvalidInput(
            f"campaign.unsubscribe_url must be an https:// URL containing {{token}}, not {url!r}"
        )
    links = [url.replace("{token}", quote(token, safe=""))]
    mailto = c.team.get("campaign.unsubscribe_mailto")
    if mailto:
        links.append(f"mailto:{str(mailto).strip()}?subject={quote('unsubscribe ' + token)}")
    return links


def _render(c: Campaign, contact, email: str | None, token: str | None):
    from crm_cli.domain import campaign_mail

    links = unsubscribe_links(c, token) if token else None
    ctx = campaign_mail.context(
        contact, email, campaign=c.name, unsubscribe_url=links[0] if links else None
    )
    return campaign_mail.render(c.subject or "", c.body_template or "", c.html_template, ctx), links


def _message(c: Campaign, contact, r: dict, sender: str, now_text: str):
    from email.utils import format_datetime

    from crm_cli.domain import campaign_mail, dates

    rendered, links = _render(c, contact, r["email"], r["token"])
    return campaign_mail.message(
        rendered, sender=sender, to_name=contact.name, to_email=r["email"],
        message_id=r["message_id"], date=format_datetime(dates.from_db(now_text)),
        unsubscribe=links,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Preview:
    contact_id: int
    contact: str
    to: str | None
    message: Any  # EmailMessage

    def to_dict(self) -> dict[str, Any]:
        m = self.message
        text = m.get_body(("plain",))
        html = m.get_body(("html",))
        return {
            "contact_id": self.contact_id, "contact": self.contact, "to": self.to,
            "headers": {k: str(v) for k, v in m.items() if k.lower() != "content-type"},
            "subject": str(m["Subject"]), "text": text.get_content() if text else None,
            "html": html.get_content() if html else None,
        }  # fmt: skip


def preview(db: Db, ref: str, contact: str | None = None) -> Preview:
    """The message one contact would get (the first one due, unless --contact names one)."""
    from crm_cli.domain import contacts, dates, selectors

    c = get(db, ref)
    if c.channel != "email":
        raise InvalidInput(f"campaign {c.name!r} is a {c.channel} campaign: there is no message")
    if contact is not None:
        cid = selectors.contacts(db, contact)[0]
        row = store.recipient(db, c.id, cid) if c.frozen_at else None
        if row is None:
            p = next((p for p in _plan(db, c) if p.contact_id == cid), None)
            email = p.email if p else None
            if email is None:
                emails = contacts.get(db, cid).emails
                email = emails[0].value if emails else None
            row = {"email": email, "token": "PREVIEW-TOKEN", "message_id": "<preview@crm>"}
    else:
        queue = store.queue(db, c.id, 0, 1) if c.frozen_at else []
        if queue:
            row, cid = queue[0], queue[0]["contact_id"]
        else:
            p = next((p for p in _plan(db, c) if not p.skip_reason), None)
            if p is None:
                raise InvalidInput(f"campaign {c.name!r} has nobody left to send to")
            cid = p.contact_id
            row = {"email": p.email, "token": "PREVIEW-TOKEN", "message_id": "<preview@crm>"}
    person = contacts.get(db, cid)
    if not row.get("email"):
        raise InvalidInput(f"contact {cid} ({person.name}) has no email address to send to")
    msg = _message(c, person, row, sender_of(c), dates.to_db(dates.now()))
    return Preview(cid, person.name, row["email"], msg)


# ---------------------------------------------------------------- sending


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one delivery attempt came to.

    ``sent``: accepted. ``temporary`` / ``permanent``: refused (4xx / 5xx), nothing
    delivered. ``unknown``: the connection broke after the message was handed over, before
    the answer: it may have arrived (in doubt). ``unsent``: the server could not be reached
    or dropped us before the message was handed over: nothing delivered, stop the run.
    """

    kind: str
    detail: str = ""


class Transport(Protocol):
    via: str  # 'smtp HOST:PORT' or 'outbox DIR'

    def send(self, message, sender: str, recipient: str) -> Outcome: ...

    def delivered(self, message_id: str) -> bool | None:
        """Whether a message is known to have arrived (None: cannot tell)."""
        ...

    def close(self) -> None: ...


@dataclass
class SendResult:
    campaign: str
    channel: str
    planned: int = 0
    sent: int = 0  # by this run
    failed: int = 0  # by this run, permanently
    retry: int = 0  # by this run, temporarily: the next run tries again
    skipped_now: int = 0  # opted out or bounced since the list was frozen
    in_doubt: int = 0  # in the whole campaign, after this run
    released: int = 0  # in-doubt recipients released by --resend-in-doubt
    resolved: int = 0  # in-doubt recipients found delivered (outbox) or not
    remaining: int = 0  # still to send after this run
    total_sent: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # whole campaign, by reason
    render_errors: list[str] = field(default_factory=list)  # dry run: what would fail
    stopped: str | None = None
    dry_run: bool = False
    run_id: int | None = None
    via: str | None = None

    @property
    def partial(self) -> bool:
        return bool(self.failed or self.retry or self.in_doubt or self.stopped or self.remaining)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["skipped_total"] = sum(self.skipped.values())
        return d


def parse_rate(text: str | None) -> float | None:
    """'30/min', '2/s', '1000/h' -> seconds between messages (None: no limit)."""
    if text is None:
        return None
    m = re.fullmatch(
        r"\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hr|hour|d|day)s?\s*", text, re.I
    )
    per = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600,
           "hr": 3600, "hour": 3600, "d": 86400, "day": 86400}  # fmt: skip
    if not m or float(m.group(1)) <= 0:
        raise InvalidInput(f"--rate {text!r}: give messages per time, e.g. 30/min, 2/s, 1000/h")
    return per[m.group(2).lower()] / float(m.group(1))


def _alive(run: dict) -> bool:
    """Whether a run's process still exists (a run on another host counts as alive)."""
    if run["host"] != socket.gethostname():
        return True
    if not run["pid"]:
        return False
    try:
        os.kill(run["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _live_runs(db: Db, campaign_id: int, *, mine: int | None = None) -> list[dict]:
    return [r for r in store.runs(db, campaign_id, "running") if r["id"] != mine and _alive(r)]


def status(db: Db, ref: str, *, limit: int = 50) -> dict[str, Any]:
    """Where a campaign's send stands: counts per state, who is in doubt, what failed."""
    c = get(db, ref)
    live = {r["id"] for r in _live_runs(db, c.id)}
    counts = store.state_counts(db, c.id).get(c.id, {})
    sending = store.recipients(db, c.id, ("sending",))
    in_flight = [r for r in sending if r["run_id"] in live]
    doubt = [r for r in sending if r["run_id"] not in live]
    failed = store.recipients(db, c.id, ("failed",), limit)
    keep = ("id", "contact_id", "contact", "email", "attempts", "error", "error_kind",
            "sending_at", "sent_at", "run_id")  # fmt: skip
    out = {
        "campaign": c.name, "channel": c.channel, "status": c.status, "frozen_at": c.frozen_at,
        **_counts(counts), "in_flight": len(in_flight), "in_doubt": len(doubt),
        "retry": counts.get("retry", 0), "skipped_by_reason": store.skip_reasons(db, c.id),
        "in_doubt_recipients": [{k: r[k] for k in keep} for r in doubt[:limit]],
        "failed_recipients": [{k: r[k] for k in keep} for r in failed],
        "runs": [
            {**r, "alive": r["id"] in live} for r in store.runs(db, c.id)
        ],
    }  # fmt: skip
    return out


def check_ready(c: Campaign) -> str:
    """Refuse an email campaign that cannot be sent yet (before anything is set up for it):
    no sender, no unsubscribe URL. Returns the sender."""
    _check_sendable(c, "email")
    sender = sender_of(c)
    unsubscribe_links(c, "check")
    return sender


def _check_sendable(c: Campaign, channel: str) -> None:
    if c.channel != channel:
        raise InvalidInput(f"campaign {c.name!r} is a {c.channel} campaign, not {channel}")


def _claim_run(db: Db, tx: Transaction, c: Campaign, via: str) -> int:
    """Register this run, refusing while another live run sends the same campaign."""
    tx.ensure_open()
    for r in store.runs(db, c.id, "running"):
        if _alive(r):
            raise Conflict(
                f"campaign {c.name!r} is being sent by process {r['pid']} on {r['host']}"
                f" since {r['started_at']}; wait for it (crm campaign status {c.name})"
            )
        tx.update("campaign_runs", r["id"], {"status": "failed", "finished_at": tx.at})
    return tx.insert("campaign_runs", {
        "campaign_id": c.id, "via": via, "pid": os.getpid(), "host": socket.gethostname(),
        "status": "running", "sent": 0, "failed": 0, "started_at": tx.at,
    })  # fmt: skip


def _render_problems(db: Db, c: Campaign, planned) -> list[str]:
    """Render every planned message once before freezing: problems, one line each."""
    from crm_cli.domain import contacts

    problems = []
    todo = [p for p in planned if not p.skip_reason]
    for i in range(0, len(todo), 500):
        chunk = todo[i : i + 500]
        for person, p in zip(contacts.get_many(db, [p.contact_id for p in chunk]), chunk):
            try:
                _render(c, person, p.email, "TOKEN")
            except InvalidInput as e:
                problems.append(f"contact {p.contact_id} ({p.name}): {e}")
    return problems


def send(
    db: Db, ref: str, transport: Transport | None, *, dry_run: bool = False,
    rate: float | None = None, resend_in_doubt: bool = False, limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SendResult:  # fmt: skip
    """Send an email campaign to its frozen list (freezing it on the first run)."""
    from crm_cli.domain import dates

    c = get(db, ref)
    sender = check_ready(c)
    res = SendResult(c.name, c.channel, dry_run=dry_run, via=getattr(transport, "via", None))
    if dry_run:
        return _dry_run(db, c, res)
    if transport is None:
        raise InvalidInput("nothing to send with: give --smtp or --outbox DIR")
    from crm_cli.domain import hooks

    hooks.pre(db, "pre-send", _planned(db, c, transport.via))
    with (
        hooks.paused(db, "post-send"),
        durable_commits(db),
        transaction(db, f"campaign send {c.name}"[:120], undoable=False) as tx,
    ):
        run_id = res.run_id = _claim_run(db, tx, c, transport.via)
        if c.frozen_at is None:
            planned = _plan(db, c)
            problems = _render_problems(db, c, planned)
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                raise InvalidInput(f"{problems[0]}{more}; nothing was sent")
            _freeze(db, tx, c, planned, sender)
            c = get(db, c.id)
        live = {r["id"] for r in _live_runs(db, c.id, mine=run_id)}
        via = {r["id"]: r["via"] for r in store.runs(db, c.id)}
        for r in store.recipients(db, c.id, ("sending",)):
            if r["run_id"] in live:
                continue
            # Only the way a message went can say whether it arrived (an outbox can).
            same_way = via.get(r["run_id"]) == transport.via
            arrived = transport.delivered(r["message_id"]) if same_way else None
            if arrived is not None:  # an outbox can tell: no doubt left
                res.resolved += 1
                tx.update("campaign_recipients", r["id"], {
                    "state": "sent" if arrived else "pending",
                    "sent_at": r["sending_at"] if arrived else None,
                })  # fmt: skip
            elif resend_in_doubt:
                res.released += 1
                tx.update("campaign_recipients", r["id"], {"state": "pending"})
        tx.checkpoint()
        try:
            _deliver_all(db, tx, c, transport, sender, res, rate, limit, progress, sleep)
        except KeyboardInterrupt:
            res.stopped = "interrupted"
        finally:
            transport.close()
        tx.ensure_open()
        done = store.state_counts(db, c.id).get(c.id, {})
        live = {r["id"] for r in _live_runs(db, c.id, mine=run_id)}
        res.in_doubt = sum(
            1 for r in store.recipients(db, c.id, ("sending",)) if r["run_id"] not in live
        )
        res.remaining = done.get("pending", 0) + done.get("retry", 0)
        res.total_sent = done.get("sent", 0)
        res.planned = sum(done.values())
        res.skipped = store.skip_reasons(db, c.id)
        tx.update("campaign_runs", run_id, {
            "status": "stopped" if res.stopped else "done", "sent": res.sent,
            "failed": res.failed + res.retry, "finished_at": dates.to_db(dates.now()),
        })  # fmt: skip
        if not res.remaining and not res.in_doubt and c.status != "done":
            tx.update("campaigns", c.id, {"status": "done", "updated_at": tx.at})
        set_id = tx.set_id
    hooks.post(db, "post-send", set_id, {"result": res.to_dict()})
    return res


def _planned(db: Db, c: Campaign, via: str) -> dict[str, Any]:
    """What a send is about to do, for the pre-send hooks."""
    if c.frozen_at is None:
        to_send = sum(1 for p in _plan(db, c) if not p.skip_reason)
    else:
        counts = store.state_counts(db, c.id).get(c.id, {})
        to_send = counts.get("pending", 0) + counts.get("retry", 0)
    info = {k: v for k, v in c.to_dict().items() if k not in ("body_template", "html_template")}
    return {"campaign": info, "channel": c.channel, "via": via, "to_send": to_send,
            "first_run": c.frozen_at is None}  # fmt: skip


def _dry_run(db: Db, c: Campaign, res: SendResult) -> SendResult:
    """Count what a send would do, writing nothing."""
    if c.frozen_at is None:
        planned = _plan(db, c)
        res.planned = len(planned)
        for p in planned:
            if p.skip_reason:
                res.skipped[p.skip_reason] = res.skipped.get(p.skip_reason, 0) + 1
        res.remaining = sum(1 for p in planned if not p.skip_reason)
        res.render_errors = _render_problems(db, c, planned)
        return res
    counts = store.state_counts(db, c.id).get(c.id, {})
    live = {r["id"] for r in _live_runs(db, c.id)}
    res.planned = sum(counts.values())
    res.total_sent = counts.get("sent", 0)
    res.remaining = counts.get("pending", 0) + counts.get("retry", 0)
    res.in_doubt = sum(
        1 for r in store.recipients(db, c.id, ("sending",)) if r["run_id"] not in live
    )
    res.skipped = store.skip_reasons(db, c.id)
    return res


def _deliver_all(db, tx, c, transport, sender, res, rate, limit, progress, sleep) -> None:
    from email.utils import parseaddr

    from crm_cli.domain import contacts, dates

    envelope_from = parseaddr(sender)[1]
    total = store.state_counts(db, c.id).get(c.id, {})
    todo = total.get("pending", 0) + total.get("retry", 0)
    done = 0
    next_at = time.monotonic()
    temporary_in_a_row = 0
    after = 0
    while True:
        tx.ensure_open()
        batch = store.queue(db, c.id, after, _BATCH)
        if not batch:
            return
        people = {p.id: p for p in contacts.get_many(db, [r["contact_id"] for r in batch])}
        for r in batch:
            after = r["id"]
            if limit is not None and res.sent + res.failed + res.retry >= limit:
                res.stopped = f"--limit {limit} reached"
                return
            done += 1
            consent, st = store.address_state(db, r["contact_id"], r["email"] or "")
            person = people.get(r["contact_id"])
            late = (
                "contact_deleted" if consent is None or person is None
                else "opted_out" if consent == "opted_out"
                else st if st in ("bounced", "complained")
                else None
            )  # fmt: skip
            if late:
                tx.update("campaign_recipients", r["id"], {"state": "skipped", "skip_reason": late})
                res.skipped_now += 1
                continue
            now_text = dates.to_db(dates.now())
            try:
                msg = _message(c, person, r, sender, now_text)
            except InvalidInput as e:
                tx.update("campaign_recipients", r["id"], {
                    "state": "failed", "error_kind": "permanent", "error": str(e)[:500],
                })  # fmt: skip
                res.failed += 1
                continue
            if rate:
                wait = next_at - time.monotonic()
                if wait > 0:
                    tx.checkpoint()  # nothing waits on us while we wait
                    sleep(wait)
                next_at = max(next_at, time.monotonic()) + rate
            tx.update("campaign_recipients", r["id"], {
                "state": "sending", "sending_at": now_text, "run_id": res.run_id,
                "attempts": r["attempts"] + 1, "error": None, "error_kind": None,
            })  # fmt: skip
            tx.checkpoint()  # committed before the SMTP transaction starts
            out = transport.send(msg, envelope_from, r["email"])
            tx.ensure_open()
            if out.kind == "sent":
                tx.update("campaign_recipients", r["id"], {
                    "state": "sent", "sent_at": dates.to_db(dates.now()),
                })  # fmt: skip
                res.sent += 1
                temporary_in_a_row = 0
            elif out.kind in ("temporary", "permanent"):
                tx.update("campaign_recipients", r["id"], {
                    "state": "failed", "error_kind": out.kind, "error": out.detail[:500],
                })  # fmt: skip
                if out.kind == "temporary":
                    res.retry += 1
                    temporary_in_a_row += 1
                else:
                    res.failed += 1
                    temporary_in_a_row = 0
            elif out.kind == "unsent":
                tx.update("campaign_recipients", r["id"], {
                    "state": "pending", "sending_at": None, "run_id": None,
                    "error": out.detail[:500],
                })  # fmt: skip
                res.stopped = out.detail
                return
            else:  # unknown: it may have arrived; stays 'sending', in doubt
                tx.checkpoint()
            if progress:
                progress(done, todo)
            if temporary_in_a_row >= STOP_AFTER_TEMPORARY:
                res.stopped = (
                    f"{temporary_in_a_row} temporary failures in a row (last: {out.detail});"
                    " the rest waits for the next run"
                )
                return


# ---------------------------------------------------------------- other channels


def send_calls(
    db: Db, ref: str, *, due: str = "today 9am", assign: str | None = None,
    dry_run: bool = False,
) -> SendResult:  # fmt: skip
    """A call list: one follow-up per recipient, assigned to the contact's owner."""
    from crm_cli.domain import dates, followups, users

    c = get(db, ref)
    _check_sendable(c, "call")
    res = SendResult(c.name, c.channel, dry_run=dry_run, via="call list")
    due_at = dates.to_db(followups.parse_due(due))
    assignee = users.resolve(db, assign).id if assign is not None else None
    if dry_run:
        return _dry_run(db, c, res)
    from crm_cli.domain import hooks

    hooks.pre(db, "pre-send", _planned(db, c, res.via))
    with hooks.paused(db, "post-send"), transaction(db, f"campaign send {c.name}"[:120]) as tx:
        if c.frozen_at is None:
            _freeze(db, tx, c, _plan(db, c), None)
        for r in store.queue(db, c.id, 0, 10**9):
            person = store.reachable(db, [r["contact_id"]])
            tx.insert("followups", {
                "text": f"Call about {c.name}"[:200], "due_at": due_at, "status": "open",
                "rule": None, "rule_start_at": None, "contact_id": r["contact_id"],
                "org_id": None, "deal_id": None, "ticket_id": None, "previous_id": None,
                "assignee_id": assignee or (person[0]["owner_id"] if person else None)
                or tx.actor_id,
                "created_at": tx.at, "updated_at": tx.at,
            })  # fmt: skip
            tx.update("campaign_recipients", r["id"], {"state": "sent", "sent_at": tx.at})
            res.sent += 1
        _finish_other(db, tx, c, res)
        set_id = tx.set_id
    hooks.post(db, "post-send", set_id, {"result": res.to_dict()})
    return res


def letters(db: Db, ref: str, *, dry_run: bool = False) -> tuple[SendResult, list[dict]]:
    """The letters still to print: the frozen list's pending recipients with their address."""
    from crm_cli.domain import contacts

    c = get(db, ref)
    _check_sendable(c, "letter")
    res = SendResult(c.name, c.channel, dry_run=dry_run, via="mail merge")
    if dry_run:
        return _dry_run(db, c, res), []
    from crm_cli.domain import hooks

    hooks.pre(db, "pre-send", _planned(db, c, res.via))
    if c.frozen_at is None:
        with (
            hooks.paused(db, "post-send"),
            transaction(db, f"campaign freeze {c.name}"[:120]) as tx,
        ):
            _freeze(db, tx, c, _plan(db, c), None)
    rows = []
    queue = store.queue(db, c.id, 0, 10**9)
    by_id = {p.id: p for p in contacts.get_many(db, [r["contact_id"] for r in queue])}
    for r in queue:
        p = by_id[r["contact_id"]]
        rows.append({
            "recipient_id": r["id"], "contact_id": p.id, "name": p.name,
            "first_name": p.first_name, "last_name": p.last_name, "org": p.org,
            "street": p.street, "postal_code": p.postal_code, "city": p.city,
            "region": p.region, "country": p.country, "token": r["token"],
        })  # fmt: skip
    return res, rows


def mark_letters_sent(db: Db, ref: str, recipient_ids: list[int]) -> SendResult:
    """Record the exported letters as sent (after their file is safely written)."""
    c = get(db, ref)
    res = SendResult(c.name, c.channel, via="mail merge")
    from crm_cli.domain import hooks

    with hooks.paused(db, "post-send"), transaction(db, f"campaign send {c.name}"[:120]) as tx:
        for rid in recipient_ids:
            tx.update("campaign_recipients", rid, {"state": "sent", "sent_at": tx.at})
            res.sent += 1
        _finish_other(db, tx, c, res)
        set_id = tx.set_id
    hooks.post(db, "post-send", set_id, {"result": res.to_dict()})
    return res


def _finish_other(db: Db, tx: Transaction, c: Campaign, res: SendResult) -> None:
    done = store.state_counts(db, c.id).get(c.id, {})
    res.planned = sum(done.values())
    res.total_sent = done.get("sent", 0)
    res.remaining = done.get("pending", 0) + done.get("retry", 0)
    res.skipped = store.skip_reasons(db, c.id)
    if not res.remaining and c.status != "done":
        tx.update("campaigns", c.id, {"status": "done", "updated_at": tx.at})


# ---------------------------------------------------------------- outside channels


AUDIENCE_KEYS = ("contact_id", "name", "email", "phone", "street", "postal_code", "city",
                 "country", "group")  # fmt: skip


def audience(db: Db, ref: str, *, holdout: bool = False) -> list[dict]:
    """Who channels outside crm may reach: the frozen list (or, before the first send, the
    segment now) less the hold-out and opted-out contacts; ``holdout`` lists the hold-out
    instead. Draws and records the hold-out first if it is not drawn yet."""
    from crm_cli.domain import holdout as holdouts
    from crm_cli.domain import segments

    c = get(db, ref)
    if c.segment_id is None:
        raise InvalidInput(f"campaign {c.name!r} has no segment: it has no audience to list")
    ids = (store.frozen_ids(db, c.id) if c.frozen_at
           else segments.member_ids(db, segments.get(db, str(c.segment_id))))  # fmt: skip
    if c.holdout_pct and not c.holdout_at:  # the first use of the audience draws it
        with transaction(db, f"campaign holdout {c.name}"[:120]) as tx:
            holdouts.ensure(db, tx, c, ids)
    held = holdouts.held_out(db, get(db, c.id), ids)
    if holdout:
        chosen = sorted(held)
    else:
        chosen = [i for i in ids if i not in held]
    out = []
    for i in range(0, len(chosen), 5000):
        for r in store.audience_rows(db, chosen[i : i + 5000]):
            if not holdout and r["consent"] == "opted_out":
                continue
            r.pop("consent")
            r["group"] = "holdout" if holdout else "target"
            out.append(r)
    return out


DELIVERY_KEYS = ("id", "contact_id", "name", "email", "channel", "status", "at", "count",
                 "street", "postal_code", "city", "country")  # fmt: skip


def deliveries(db: Db, ref: str, *, channel: str | None = None,
               status: str | None = None) -> list[dict]:  # fmt: skip
    """The campaign's imported deliveries (``crm import deliveries``), optionally of one
    channel and status: which letters came back, who saw it on a receipt."""
    from crm_cli.domain import import_deliveries as imp

    c = get(db, ref)
    ch = imp.word(channel, "channel", imp.CHANNEL_WORDS, imp.CHANNELS) if channel else None
    st = imp.word(status, "status", imp.STATUS_WORDS, imp.STATUSES) if status else None
    return store.deliveries(db, c.id, ch, st)


# ---------------------------------------------------------------- opting out


def unsubscribe(db: Db, token: str) -> dict[str, Any]:
    """Opt out the contact a campaign message's unsubscribe token belongs to."""
    r = store.by_token(db, (token or "").strip())
    if r is None:
        raise NotFound("no campaign message has that unsubscribe token")
    with transaction(db, f"unsubscribe {r['campaign']}"[:120]) as tx:
        row = tx.get("contacts", r["contact_id"])
        if row is None:
            raise NotFound("the contact of that unsubscribe token was deleted")
        if row["consent"] != "opted_out":
            tx.update("contacts", r["contact_id"], {
                "consent": "opted_out", "consent_at": tx.at, "updated_at": tx.at,
            })  # fmt: skip
    return {"contact_id": r["contact_id"], "campaign": r["campaign"], "consent": "opted_out"}
