"""Imports: other tools' files in, clean records out, nothing lost.

An import streams its file in batches. Each row is read by a format reader of the io
layer (the command opens the file and hands it in as a ``Source``), mapped to our record
shape, validated by the same rules as ``crm contact add``, matched against existing
records by the declared keys (external id from the source system, email, E.164 phone,
then exact name with organization) and created, updated or left alone. A row that fails
is written to the reject file as it was, with its line number and the reason.

One import is one change set that commits batch by batch: killing it half-way
leaves whole batches recorded under that set, and running the same command again
matches what is already there instead of duplicating it. ``revert`` undoes the
set even when it is not the last change and even when the run was interrupted.
"""

from __future__ import annotations

import csv
import json
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_cli import config
from crm_cli.domain import contacts, settings, validate
from crm_cli.errors import Conflict, CrmError, InvalidInput, NotFound
from crm_cli.storage import imports as store
from crm_cli.storage.db import Db, Transaction, transaction

# Kinds other than contacts and orgs are written by their own module's
# ``write_batch(db, tx, items, opts, res, reject, source)``: items are rows that read cleanly
# (their ``record`` in the mapping's shape for the kind); it counts into ``res`` and
# rejects through ``reject(item, reason)``; ``source`` is the opened file (its readers).
KIND_WRITERS: dict[str, str] = {
    "deals": "crm_cli.domain.import_deals",
    "orders": "crm_cli.domain.import_orders",
    "activities": "crm_cli.domain.import_activities",
    "users": "crm_cli.domain.import_users",
    "visits": "crm_cli.domain.import_visits",
    "mail": "crm_cli.domain.import_mail",
    "campaign-stats": "crm_cli.domain.import_campaign_stats",
    "deliveries": "crm_cli.domain.import_deliveries",
}
KINDS = ("contacts", "orgs", *KIND_WRITERS)
ON_DUPLICATE = ("update", "merge", "skip", "create")
BATCH = 500  # rows per commit: a concurrent writer waits one batch (~0.1 s) at most
ROW_ERRORS = (InvalidInput, NotFound, Conflict)  # what one bad row may raise


@dataclass(frozen=True, slots=True)
class Item:
    """One input row as read: where it was, its text, and the record or what is wrong with it."""

    line: int
    raw: str
    record: dict | None = None
    problem: str | None = None
    cells: list[str] | None = None  # the row's cells as read (CSV), for the reject file
    entity: str = "contacts"
    values: dict | None = None  # a CSV row not yet mapped: the validation worker maps it


@dataclass
class Options:
    kind: str
    path: str
    fmt: str | None = None
    columns: dict[str, str] | None = None  # --map / --map-file: column -> field
    ignore_unknown: bool = False
    skip_lines: int | None = None
    encoding: str | None = None
    delimiter: str | None = None
    dry_run: bool = False
    on_duplicate: str = "update"
    rejects: str | None = None
    system: str | None = None
    batch: int = BATCH
    keep_photos: bool = False
    stage_map: dict[str, str] = field(default_factory=dict)  # theirs (casefolded) -> ours
    # kind-specific: orders lines=FILE and order_lines (that file as io read it), ics window
    extra: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)  # a kind writer's memory across batches


@dataclass
class Result:
    import_id: int | None
    set_id: int | None
    kind: str
    source: str
    fmt: str
    system: str | None
    preset: str | None = None
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejects_path: str | None = None
    dry_run: bool = False
    sample: list[tuple[int, str]] = field(default_factory=list)  # first rejects: (line, reason)
    details: dict[str, Any] = field(default_factory=dict)  # a kind writer's own counts (mail)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "import_id": self.import_id, "set_id": self.set_id, "kind": self.kind,
            "source": self.source, "format": self.fmt, "system": self.system,
            "preset": self.preset, "rows": self.rows, "created": self.created,
            "updated": self.updated, "unchanged": self.unchanged, "rejected": self.rejected,
            "rejects_path": self.rejects_path, "dry_run": self.dry_run,
        }  # fmt: skip
        if self.details:
            out[self.kind] = self.details
        return out


class _DryRun(BaseException):
    """Raised at the end of a dry run to roll every write back."""


# ---------------------------------------------------------------- the input


@dataclass
class Source:
    """An input file as an io reader opened it: its items, and the functions that read
    further (passed in, so this layer never imports io)."""

    items: Iterator[Item]
    header: list[str] | None = None  # CSV: the header, for the reject file
    delimiter: str = ","
    preset: str | None = None
    system: str | None = None  # the source system when --system is not given (ics)
    build: Callable[[dict[str, str]], dict] | None = None  # CSV row -> record (picklable)
    path: Path = field(default_factory=Path)
    fmt: str = "csv"
    sha256: str | None = None  # of the file, recorded with the import (None in dry runs)
    # deals: another tool's record mapped like CSV columns; an earlier accounts file's names
    map_record: Callable[[dict[str, str], str], dict] | None = None
    account_names: Callable[[str], dict[str, str]] | None = None
    name: str | None = None  # what the import records as its source (mail: several paths)
    extra: dict[str, Any] = field(default_factory=dict)  # a reader's own facts (mail: the walk)


def _write_attached(
    db: Db, tx: Transaction, item: Item, opts: Options, res: Result, reject
) -> None:
    """An Atomic CRM note (a note activity) or task (a follow-up) on an imported contact."""
    import hashlib as _h

    from crm_cli.domain import activities, dates

    rec = item.record or {}
    found = store.by_external_ids(db, opts.system, "contacts", [rec["contact"]]).get(rec["contact"])
    if found is None:
        reject(item, f"no imported contact with id {rec['contact']}")
        return
    entity = "activities" if item.entity == "notes" else "followups"
    key = f"{item.entity}:{rec['contact']}:" + _h.sha256(
        f"{rec['text']}|{rec['date']}".encode()).hexdigest()[:16]  # fmt: skip
    if store.external_rows(db, opts.system, entity, [key]):
        res.unchanged += 1
        return
    try:
        with transaction(db, "import row"):
            at = dates.to_db(dates.parse_when(rec["date"])) if rec.get("date") else tx.at
            if item.entity == "notes":
                rid = activities.write(db, tx, "note", contact_ids=[found], body=rec["text"],
                                       occurred_at=at)  # fmt: skip
            else:
                rid = tx.insert("followups", {
                    "text": validate.text(rec["text"]), "due_at": at,
                    "status": "done" if rec.get("done") else "open",
                    "done_at": tx.at if rec.get("done") else None, "contact_id": found,
                    "assignee_id": tx.actor_id, "created_at": tx.at, "updated_at": tx.at,
                })  # fmt: skip
            _link_external(db, tx, opts.system, key, rid, entity=entity)
    except ROW_ERRORS as e:
        reject(item, str(e))
        return
    res.created += 1


# ---------------------------------------------------------------- rejects


class _Rejects:
    """The reject file, opened on the first reject: each bad row as it was, with line and reason."""

    def __init__(self, path: Path, header: list[str] | None, delimiter: str, enabled: bool):
        self.path, self.header, self.enabled = path, header, enabled
        self.delimiter = delimiter
        self._f = None
        self._w = None

    def add(self, item: Item, reason: str) -> None:
        if not self.enabled:
            return
        if self._w is None:
            try:
                self._f = open(self.path, "w", newline="", encoding="utf-8")
            except OSError as e:
                raise InvalidInput(
                    f"cannot write the reject file {self.path}: {e.strerror}"
                ) from None
            self._w = csv.writer(self._f)
            self._w.writerow(["line", "reason", *(self.header or ["raw"])])
        if self.header is not None:
            self._w.writerow(
                [item.line, reason, *(item.cells if item.cells is not None else [item.raw])]
            )
        else:
            self._w.writerow([item.line, reason, item.raw])

    def close(self) -> None:
        if self._f is not None:
            self._f.close()

    @property
    def written(self) -> bool:
        return self._f is not None


# ---------------------------------------------------------------- contacts


@dataclass(slots=True)
class _Row:
    item: Item | None  # None until the main process pairs the row with its item
    draft: contacts.Draft
    given: set[str]  # the draft fields the file gave (updates touch only these)
    external_id: str | None
    keys: list[tuple[str, str]] | None = None  # the matcher's keys, worked out once


_GIVEN = {"fields": "custom", "custom": "custom"}


def _one_line(rec: dict) -> dict:
    """Line breaks inside one-line fields (quoted newlines in a CSV cell) become separators."""

    def fix(key: str, v):
        if isinstance(v, str) and ("\n" in v or "\r" in v or "\t" in v):
            sep = ", " if key in ("street", "name") else " "
            parts = [p.strip() for p in v.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
            return sep.join(p for p in parts if p).replace("\t", " ")
        if isinstance(v, list):
            return [fix(key, x) for x in v]
        if isinstance(v, dict):
            return {k: fix(key, x) for k, x in v.items()}
        return v

    text = repr(rec)  # C speed: repr escapes line breaks and tabs, so most rows stop here
    if "\\n" not in text and "\\r" not in text and "\\t" not in text:
        return dict(rec)
    return {k: fix(k, v) for k, v in rec.items()}


def parse_stage_map(items: list[str] | None) -> dict[str, str]:
    """--stage-map 'Their stage=our stage' (repeatable), keyed case-insensitively."""
    out: dict[str, str] = {}
    for item in items or ():
        theirs, sep, ours = item.partition("=")
        if not sep or not theirs.strip() or not ours.strip():
            raise InvalidInput(f"--stage-map takes 'Their stage=our stage', not '{item}'")
        out[theirs.strip().casefold()] = ours.strip()
    return out


def _prepare(record: dict, stages: list[str], tz, now, stage_map: dict[str, str]) -> _Row:
    """Validate one record into a draft, like crm contact add would (no database needed).
    The _Row's item is set by the caller."""
    from crm_cli.domain import dates

    rec = _one_line(record)
    ext = rec.pop("external_id", None)
    if ext is not None and not isinstance(ext, str | int):
        raise InvalidInput("'external_id' must be text")
    stage = rec.get("stage")
    if isinstance(stage, str) and stage.strip():
        mapped = stage_map.get(stage.strip().casefold(), stage.strip())
        if mapped.casefold() in {s.casefold() for s in stages}:
            rec["stage"] = mapped
        else:  # another tool's stage ('warm'): kept, not lost, and the row is not rejected
            rec.pop("stage")
            rec["fields"] = {**(rec.get("fields") or {}), "stage": stage.strip()}
    for key in [k for k in rec if k.endswith("_ref")]:  # links to other systems' records:
        ref = rec.pop(key)  # kept as custom fields (Chinook's SupportRepId: owner_ref)
        if ref not in (None, ""):
            rec["fields"] = {**(rec.get("fields") or {}), key: str(ref)}
    photo = rec.pop("photo", None)
    if photo:  # kept only with --keep-photos: a data: URI or a URL, as a custom field
        rec["fields"] = {**(rec.get("fields") or {}), "photo": photo}
    kwargs, created = contacts.record_kwargs(rec)
    d = contacts.draft(None, kwargs.pop("name", None), stages=stages, **kwargs)
    if created:
        d.row["created_at"] = dates.to_db(dates.parse_when(created, now=now, tz=tz))
    given = {_GIVEN.get(k, k) for k, v in rec.items() if v not in (None, "", [], {})}
    return _Row(None, d, given, None if ext is None else validate.clean(str(ext)).strip() or None)


def _validate(
    work: list[tuple[dict | None, dict | None]],
    stages,
    tz,
    now,
    stage_map,
    build: Callable | None = None,
) -> list[_Row | str | None]:
    """Validate a batch (in a worker process for big files). ``work`` holds, per item, its
    record or its CSV values still to map (both None for an item the main process handles:
    a problem, an organization card); the answer is, per item, its _Row (without the item,
    which stays in the main process: only what validation needs crosses over), the reason
    it is bad, or None."""
    out: list[_Row | str | None] = []
    with config.frozen():  # one look at the config file per batch, not one per phone
        for record, values in work:
            if record is None and values is None:
                out.append(None)
                continue
            try:
                if record is None and build is not None:
                    record = build(values)
                out.append(_prepare(record, stages, tz, now, stage_map))
            except ROW_ERRORS as e:
                out.append(str(e))
    return out


def _work(item: Item) -> tuple[dict | None, dict | None]:
    """What the validation worker needs of an item (see _validate)."""
    if item.problem or item.entity != "contacts":
        return None, None
    return item.record, (item.values if item.record is None else None)


def _resolve_owner_refs(db: Db, system: str | None, rows: list[_Row]) -> None:
    """A row's owner given as another system's employee id (Chinook's SupportRepId): the
    team member imported with that id becomes the owner."""
    refs = {}
    for row in rows:
        if row.draft.owner or '"owner_ref"' not in (row.draft.row["custom"] or ""):
            continue
        custom = json.loads(row.draft.row["custom"])
        if custom.get("owner_ref"):
            refs[id(row)] = (row, custom)
    if not refs or not system:
        return
    names = store.users_by_family_ids(db, system, [c["owner_ref"] for _, c in refs.values()])
    for row, custom in refs.values():
        name = names.get(custom["owner_ref"])
        if name:
            row.draft.owner = name
            row.given.add("owner")


def _check_owner(row: _Row, known_user: Callable[[str], bool]) -> None:
    """Another tool's sales rep who is not a team member here: kept as a field, row imported."""
    owner = row.draft.owner
    if owner and not known_user(owner):
        row.draft.owner = None
        custom = json.loads(row.draft.row["custom"] or "{}")
        custom.setdefault("owner", owner)
        row.draft.row["custom"] = json.dumps(custom, ensure_ascii=False, sort_keys=True)
        row.given.discard("owner")
        row.given.add("custom")


def _name_key(name, org, city, postal_code) -> str:
    """The identity of a row with no id, email or phone: everything it says, folded."""
    return "\x00".join((x or "").casefold().strip() for x in (name, org, city, postal_code))


class _Matcher:
    """Finds the existing contact a row stands for, by the keys an import declares."""

    def __init__(self, db: Db, system: str | None):
        self.db, self.system = db, system
        self.seen: dict[tuple[str, str], int] = {}  # keys of rows written by this import
        self.known_user = _known_user(db)  # team members by name or email, looked up once

    def remember(self, row: _Row, cid: int) -> None:
        for key in self._keys(row):
            self.seen.setdefault(key, cid)

    def _keys(self, row: _Row) -> list[tuple[str, str]]:
        if row.keys is None:
            row.keys = self._work_out_keys(row)
        return row.keys

    def _work_out_keys(self, row: _Row) -> list[tuple[str, str]]:
        keys = []
        if row.external_id and self.system:
            keys.append(("ext", row.external_id))
        keys += [("email", v) for v, _ in row.draft.emails]
        if not row.draft.emails:  # a phone is shared by households and offices: a weaker key
            keys += [("phone", v) for v, _, _ in row.draft.phones if v.startswith("+")]
        if not keys:  # a row with no id, email or phone: matched by all it says about itself
            keys.append(("name", _name_key(row.draft.row["name"], row.draft.org,
                                           row.draft.row.get("city"), row.draft.row.get("postal_code"))))  # fmt: skip
        return keys

    def match(self, rows: list[_Row]) -> list[int | None | str]:
        """For each row: the contact id it matches, None, or a reason it is ambiguous."""
        db = self.db
        emails = store.contacts_by_emails(db, [v for r in rows for v, _ in r.draft.emails])
        phones = store.contacts_by_phones(
            db, [v for r in rows for v, _, _ in r.draft.phones if v.startswith("+")]
        )
        exts = (
            store.by_external_ids(db, self.system, "contacts", [r.external_id for r in rows if r.external_id])
            if self.system else {}
        )  # fmt: skip
        named: dict[str, list[int]] = {}
        for r in store.contacts_by_names(db, [r.draft.row["name"] for r in rows]):
            key = _name_key(r["name"], r["org"], r["city"], r["postal_code"])
            named.setdefault(key, []).append(r["id"])
        lookups = {"ext": lambda v: [exts[v]] if v in exts else [], "email": emails.get,
                   "phone": phones.get, "name": named.get}  # fmt: skip
        out: list[int | None | str] = []
        for row in rows:
            # Every key the row has must lead to the same contact: an email of one person and
            # an id of another is not an update of either, it is a row to look at.
            hits: dict[int, list[str]] = {}
            for kind, value in self._keys(row):
                shown = f"{kind} {value.split(chr(0))[0]}" if kind != "ext" else f"id {value}"
                if (kind, value) in self.seen:
                    hits.setdefault(self.seen[(kind, value)], []).append(shown)
                    continue
                for cid in lookups[kind](value) or []:
                    hits.setdefault(cid, []).append(shown)
            if not hits:
                out.append(None)
            elif len(hits) == 1:
                out.append(next(iter(hits)))
            else:
                listed = "; ".join(
                    f"contact {cid} by {', '.join(w)}" for cid, w in list(hits.items())[:5]
                )
                out.append(f"matches several contacts ({listed}); merge them first"
                           " (crm contact merge) or import with --on-duplicate create")  # fmt: skip
        return out


def _merged(c: contacts.Contact, row: _Row, overwrite: bool) -> contacts.Draft:
    """The contact with the row applied: given fields overwrite (update) or fill gaps (merge);
    emails, phones and tags are added to the ones it has."""
    d = contacts._current_draft(c)
    new = row.draft
    for key, value in new.row.items():
        if key not in row.given or key == "created_at":
            continue
        if key == "custom":
            have = json.loads(d.row["custom"] or "{}")
            add = json.loads(value or "{}")
            merged = {**have, **add} if overwrite else {**add, **have}
            d.row["custom"] = json.dumps(merged, ensure_ascii=False, sort_keys=True)
        elif overwrite or d.row.get(key) in (None, "", "unknown"):
            d.row[key] = value
    if "org" in row.given and (overwrite or d.org is None):
        d.org = new.org
    if "owner" in row.given and (overwrite or d.owner is None):
        d.owner = new.owner
    d.emails += [e for e in new.emails if e[0] not in {x[0] for x in d.emails}]
    d.phones += [p for p in new.phones if p[0] not in {x[0] for x in d.phones}]
    d.tags += [t for t in new.tags if t not in d.tags]
    return d


def _write_contacts(
    db: Db, tx: Transaction, rows: list[_Row], opts: Options, matcher: _Matcher, res: Result,
    reject: Callable[[Item, str], None],
) -> None:  # fmt: skip
    matches = matcher.match(rows) if opts.on_duplicate != "create" else [None] * len(rows)
    new: list[_Row] = []
    for row, found in zip(rows, matches):
        if isinstance(found, str):
            reject(row.item, found)
            continue
        if found is None:
            new.append(row)
            continue
        if opts.on_duplicate == "skip":
            res.unchanged += 1
            continue
        try:
            with transaction(db, "import row"):  # a savepoint: a bad row leaves the rest
                current = contacts.get(db, found)
                merged = _merged(current, row, opts.on_duplicate == "update")
                changed = contacts._write_draft(db, tx, current, merged)
        except ROW_ERRORS as e:
            reject(row.item, str(e))
            continue
        matcher.remember(row, found)
        _link_external(db, tx, opts.system, row.external_id, found)
        if changed:
            res.updated += 1
        else:
            res.unchanged += 1
    # Rows that match each other inside this batch: the first creates, the rest update it.
    first: list[_Row] = []
    later: list[_Row] = []
    keys_here: set = set()
    for row in new:
        ks = set(matcher._keys(row)) if opts.on_duplicate != "create" else set()
        (later if ks & keys_here else first).append(row)
        keys_here |= ks
    if first:
        try:
            with transaction(db, "import batch"):
                ids = contacts.write_drafts(db, tx, [r.draft for r in first])
        except ROW_ERRORS:
            ids = []
            for r in first:  # find the rows at fault; write the others
                try:
                    with transaction(db, "import row"):
                        ids.append(contacts.write_drafts(db, tx, [r.draft])[0])
                except ROW_ERRORS as e:
                    reject(r.item, str(e))
                    ids.append(None)
        links = []
        for r, cid in zip(first, ids):
            if cid is None:
                continue
            matcher.remember(r, cid)
            if r.external_id:
                links.append((r.external_id, cid))
            res.created += 1
        _link_many(db, tx, opts.system, links)
    if later:
        _write_contacts(db, tx, later, opts, matcher, res, reject)


def _link_many(db: Db, tx: Transaction, system: str | None, links: list[tuple[str, int]]) -> None:
    """Record the source-system ids of many new contacts with one lookup and one insert."""
    if not system or not links:
        return
    have = store.external_rows(db, system, "contacts", [ext for ext, _ in links])
    new = []
    for ext, cid in dict(links).items():  # the last row with an id wins, as one at a time would
        row = have.get(ext)
        if row is None:
            new.append(
                {"system": system, "entity": "contacts", "external_id": ext, "record_id": cid}
            )
        elif row["record_id"] != cid:
            tx.update("external_ids", row["id"], {"record_id": cid})
    tx.insert_many("external_ids", new)


def _link_external(
    db: Db, tx: Transaction, system: str | None, ext: str | None, cid: int,
    entity: str = "contacts",
) -> None:  # fmt: skip
    if not system or not ext:
        return
    row = store.external_rows(db, system, entity, [ext]).get(ext)
    if row is None:
        tx.insert("external_ids", {"system": system, "entity": entity, "external_id": ext,
                                   "record_id": cid})  # fmt: skip
    elif row["record_id"] != cid:
        tx.update("external_ids", row["id"], {"record_id": cid})


# ---------------------------------------------------------------- the run


def check_options(opts: Options) -> None:
    """Refuse an unknown kind, --on-duplicate or batch size (before the file is opened)."""
    if opts.kind not in KINDS:
        raise InvalidInput(f"cannot import '{opts.kind}' yet; kinds: {', '.join(KINDS)}")
    if opts.on_duplicate not in ON_DUPLICATE:
        raise InvalidInput(
            f"--on-duplicate must be one of {', '.join(ON_DUPLICATE)}, not '{opts.on_duplicate}'"
        )
    if opts.batch < 1:
        raise InvalidInput("the batch size must be at least 1")


def check_stage_map(db: Db, opts: Options) -> None:
    """Refuse a --stage-map onto stages this database does not have (contacts)."""
    if opts.stage_map and opts.kind == "contacts":
        known = {s.casefold() for s in settings.stages(db)}
        bad = sorted({v for v in opts.stage_map.values() if v.casefold() not in known})
        if bad:
            raise InvalidInput(
                f"--stage-map onto unknown stage(s) {', '.join(bad)}; stages: {', '.join(settings.stages(db))}"
            )


def run(
    db: Db, opts: Options, source: Source, *, progress: Callable[[int], None] | None = None
) -> Result:
    """Import an opened file; return the counts. Bad rows go to the reject file, not into the
    database. The caller checks the options and opens the file with the io readers.
    A real run fires the post-import hooks once, after it committed."""
    if opts.dry_run and not opts.state.get("on_copy"):
        return _dry_run_on_copy(db, opts, source, progress)
    if opts.dry_run:
        return _run(db, opts, source, progress)
    from crm_cli.domain import hooks

    with hooks.paused(db, "post-import"):  # one post-import, not an on-add per row
        res = _run(db, opts, source, progress)
    if res.set_id is not None:
        hooks.post(db, "post-import", res.set_id, {"import": res.to_dict()})
    return res


def _run(db: Db, opts: Options, source: Source, progress) -> Result:
    from crm_cli.domain import dates

    check_options(opts)
    check_stage_map(db, opts)
    path, fmt = source.path, source.fmt
    system = opts.system or source.system or source.preset or f"file:{path.name}"
    opts.system = system
    rejects_path = Path(opts.rejects) if opts.rejects else Path.cwd() / f"{path.name}.rejects.csv"
    res = Result(None, None, opts.kind, source.name or str(path.resolve()), fmt, system,
                 preset=source.preset, dry_run=opts.dry_run)  # fmt: skip
    rejects = _Rejects(rejects_path, source.header, source.delimiter, not opts.dry_run)

    def reject(item: Item, reason: str) -> None:
        res.rejected += 1
        if len(res.sample) < 20:
            res.sample.append((item.line, reason))
        rejects.add(item, reason)

    stages = settings.stages(db)
    tz, now = dates.local_tz(), dates.now()
    if not opts.dry_run:
        res.import_id = store.create(db, {
            "kind": opts.kind, "source": res.source, "format": fmt, "system": system,
            "sha256": source.sha256, "options": json.dumps(_options(opts), sort_keys=True),
            "status": "running", "pid": os.getpid(), "host": socket.gethostname(),
            "started_at": db.clock(),
        })  # fmt: skip
    matcher = _Matcher(db, system)
    label = f"import {opts.kind} {path.name}"
    try:
        with transaction(db, label[:120]) as tx:
            res.set_id = tx.set_id
            if res.import_id is not None:
                store.update(db, res.import_id, {"set_id": tx.set_id})
            if opts.kind == "contacts":
                _pipelined(db, tx, source.items, opts, matcher, res, reject, stages, tz, now,
                           progress, source.build)  # fmt: skip
            else:
                batch: list[Item] = []
                for item in source.items:
                    res.rows += 1
                    batch.append(item)
                    if len(batch) >= opts.batch:
                        _batch(db, tx, batch, opts, matcher, res, reject, stages, tz, now, source)
                        batch = []
                        _commit_batch(db, tx, opts, res, progress)
                _batch(db, tx, batch, opts, matcher, res, reject, stages, tz, now, source)
            if progress:
                progress(res.rows)
            if opts.dry_run:
                raise _DryRun()
            tx.ensure_open()
            _bookkeep(db, res)
            if not store.set_has_changes(db, tx.set_id):
                # Nothing changed: the empty change set goes, so the import points at none.
                store.update(db, res.import_id, {"set_id": None})
                res.set_id = None
    except _DryRun:
        res.set_id = None
    except BaseException as e:
        rejects.close()
        if res.import_id is not None:
            _finish(db, res, "failed")
        if isinstance(e, CrmError) and (res.created or res.updated):
            raise type(e)(
                f"{e}; stopped after {res.created + res.updated} rows, which import {res.import_id}"
                f" keeps ('crm import revert {res.import_id}' removes them)"
            ) from None
        raise
    rejects.close()
    if rejects.written:
        res.rejects_path = str(rejects_path)
    if res.import_id is not None:
        _finish(db, res, "done")
    return res


def _commit_batch(db: Db, tx: Transaction, opts: Options, res: Result, progress) -> None:
    if progress:
        progress(res.rows)
    if not opts.dry_run:
        _bookkeep(db, res)
        tx.checkpoint()


def _die_with_parent() -> None:
    """In the validation worker: end when the import process ends, even by kill -9 (Linux)."""
    import signal
    import sys

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


class _Now:
    """A finished computation with the interface of a future (no worker process)."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def _pipelined(
    db, tx, items, opts, matcher, res, reject, stages, tz, now, progress, build=None
) -> None:
    """Validate batch k+1 in a worker process while batch k is written, on machines with
    more than one core (validation costs about as much as writing); in order, always."""
    pool = None
    pending = None
    batch: list[Item] = []

    def submit(chunk: list[Item]):
        nonlocal pool
        if pool is None and res.rows > opts.batch and (os.cpu_count() or 1) > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            pool = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("fork"), initializer=_die_with_parent
            )
        work = [_work(item) for item in chunk]
        if pool is None:
            return chunk, _Now(_validate(work, stages, tz, now, opts.stage_map, build))
        return chunk, pool.submit(_validate, work, stages, tz, now, opts.stage_map, build)

    try:
        for item in items:
            res.rows += 1
            batch.append(item)
            if len(batch) >= opts.batch:
                future = submit(batch)
                batch = []
                if pending is not None:
                    _write_validated(db, tx, pending, opts, matcher, res, reject)
                    _commit_batch(db, tx, opts, res, progress)
                pending = future
        last = submit(batch) if batch else None
        for future in (pending, last):
            if future is not None:
                _write_validated(db, tx, future, opts, matcher, res, reject)
                if future is pending and last is not None:
                    _commit_batch(db, tx, opts, res, progress)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _dry_run_on_copy(db: Db, opts: Options, source: Source, progress) -> Result:
    """A dry run does everything on a private copy of the database and throws it away, so
    the counts are exact and no other writer waits on it."""
    import shutil
    import tempfile

    from crm_cli.storage.db import open_db

    tmp = Path(tempfile.mkdtemp(prefix="crm-dry-run-"))
    try:
        store.copy_to(db, tmp / "copy.db")
        copy = open_db(tmp / "copy.db")
        copy.actor, copy.command, copy.clock = db.actor, db.command, db.clock
        opts.state["on_copy"] = True
        try:
            return run(copy, opts, source, progress=progress)
        finally:
            copy.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _options(opts: Options) -> dict:
    return {"columns": opts.columns, "ignore_unknown": opts.ignore_unknown,
            "on_duplicate": opts.on_duplicate, "skip_lines": opts.skip_lines,
            "encoding": opts.encoding, "delimiter": opts.delimiter}  # fmt: skip


def _bookkeep(db: Db, res: Result) -> None:
    store.update(db, res.import_id, {
        "rows_read": res.rows, "created": res.created, "updated": res.updated,
        "unchanged": res.unchanged, "rejected": res.rejected,
    })  # fmt: skip


def _finish(db: Db, res: Result, status: str) -> None:
    """Record how the run ended (its own small write, after the import's change set)."""
    try:
        store.finish(db, res.import_id, {
            "rows_read": res.rows, "created": res.created, "updated": res.updated,
            "unchanged": res.unchanged, "rejected": res.rejected, "status": status,
            "finished_at": db.clock(), "rejects_path": res.rejects_path,
        })  # fmt: skip
    except Exception:  # bookkeeping must never hide the import's own outcome
        pass


def _known_user(db: Db) -> Callable[[str], bool]:
    """Whether a name or email is a team member (answers cached per database)."""
    from crm_cli.storage import users as user_store

    cache: dict[str, bool] = {}

    def known(who: str) -> bool:
        key = who.casefold()
        if key not in cache:
            cache[key] = bool(user_store.find(db, who))
        return cache[key]

    return known


def _batch(db, tx, items, opts, matcher, res, reject, stages, tz, now, source) -> None:
    if opts.kind in KIND_WRITERS:
        import importlib

        good = []
        for item in items:
            if item.problem:
                reject(item, item.problem)
            else:
                good.append(item)
        if good:
            importlib.import_module(KIND_WRITERS[opts.kind]).write_batch(
                db, tx, good, opts, res, reject, source
            )
        return
    # Organizations (contacts go through _pipelined, which validates them in a worker).
    for item in items:
        if item.problem:
            reject(item, item.problem)
        else:
            _write_org(db, tx, item, opts, res, reject)


def _write_validated(db, tx, submitted, opts, matcher, res, reject) -> None:
    items, future = submitted
    rows: list[_Row] = []
    attached: list[Item] = []
    for item, outcome in zip(items, future.result(), strict=True):
        if item.problem:
            reject(item, item.problem)
        elif item.entity == "orgs":  # company cards in a contacts file become organizations
            _write_org(db, tx, item, opts, res, reject)
        elif item.entity in ("notes", "tasks"):
            attached.append(item)
        elif isinstance(outcome, str):
            reject(item, outcome)
        else:
            outcome.item = item
            rows.append(outcome)
    _resolve_owner_refs(db, opts.system, rows)
    for row in rows:
        _check_owner(row, matcher.known_user)
    if rows:
        _write_contacts(db, tx, rows, opts, matcher, res, reject)
    for item in attached:  # after the contacts they belong to
        _write_attached(db, tx, item, opts, res, reject)


# ---------------------------------------------------------------- organizations

_ORG_TEXT = ("industry", "size", "street", "city", "region", "postal_code", "country")


def _labelled(item) -> str:
    """A phone or email as text: 'label=value' from the {value, raw, label} objects we print."""
    if isinstance(item, dict):
        value = item.get("raw") or item.get("value") or ""
        return f"{item['label']}={value}" if item.get("label") else value
    return str(item)


def _org_fields(rec: dict) -> list[str]:
    fields = {**(rec.get("custom") or {}), **(rec.get("fields") or {})}
    if not isinstance(fields, dict):
        raise InvalidInput("'fields' must be an object")
    return [f"{k}={'' if v is None else v}" for k, v in fields.items() if v not in (None, "")]


def _write_org(db: Db, tx: Transaction, item: Item, opts: Options, res: Result, reject) -> None:
    """Create or update one organization (organizations are few: one at a time is fine)."""
    from crm_cli.domain import orgs
    from crm_cli.storage import orgs as org_store

    rec = _one_line(dict(item.record or {}))
    ext = rec.pop("external_id", None)
    ext = None if ext in (None, "") else validate.clean(str(ext)).strip()
    if rec.get("domain"):
        try:
            orgs._domain(rec["domain"])
        except InvalidInput:  # a website column holding 'Yes' or a URL path: keep it aside
            rec["fields"] = {**(rec.get("fields") or {}), "website": rec.pop("domain")}
    try:
        name = validate.text(rec.get("name") if isinstance(rec.get("name"), str) else None)
        if not name:
            raise InvalidInput("an organization needs a name")
        unknown = set(rec) - {"name", "domain", "phones", "tags", "fields", "custom", "owner",
                              "kind", "id", "created_at", "updated_at", "owner_id",
                              "people_count", "people", *_ORG_TEXT}  # fmt: skip
        if unknown:
            raise InvalidInput(f"unknown key {', '.join(sorted(map(repr, unknown)))}")
        phones = [_labelled(p) for p in (rec.get("phones") or []) if p]
        tags = rec.get("tags") or []
        tags = [tags] if isinstance(tags, str) else tags
        text = {k: rec.get(k) for k in _ORG_TEXT if rec.get(k) not in (None, "")}
        found = None
        if opts.on_duplicate != "create":
            if ext and opts.system:
                found = store.by_external_ids(db, opts.system, "orgs", [ext]).get(ext)
            if found is None:
                ids = org_store.ids_by_name(db, name)
                found = ids[0] if ids else None
        with transaction(db, "import row"):
            if found is None:
                oid = orgs.add(db, name, domain=rec.get("domain") or None, phones=phones,
                               tags=tags, owner=rec.get("owner") or None,
                               fields=_org_fields(rec), **text).id  # fmt: skip
                res.created += 1
            elif opts.on_duplicate == "skip":
                oid = found
                res.unchanged += 1
            else:
                oid = found
                current = orgs.get(db, found)
                if opts.on_duplicate == "merge":
                    text = {k: v for k, v in text.items() if not getattr(current, k)}
                domain = rec.get("domain") or None
                if domain and (opts.on_duplicate == "update" or not current.domain):
                    text["domain"] = domain
                changed = orgs.edit(
                    db, [found], add_phones=phones, add_tags=tags, fields=_org_fields(rec),
                    name=name if opts.on_duplicate == "update" and name != current.name else None,
                    label="import row", **text,
                )  # fmt: skip
                if changed:
                    res.updated += 1
                else:
                    res.unchanged += 1
            if ext and opts.system:
                _link_external(db, tx, opts.system, ext, oid, entity="orgs")
    except ROW_ERRORS as e:
        reject(item, str(e))


# ---------------------------------------------------------------- list / revert


def list_imports(db: Db, *, limit: int | None = None) -> list[dict]:
    out = []
    for r in store.list_imports(db, limit=limit):
        r = dict(r)
        r["state"] = _state(r)
        out.append(r)
    return out


def _state(r: dict) -> str:
    if r["reverted_by_set_id"]:
        return f"reverted by set {r['reverted_by_set_id']}"
    if r["status"] == "running" and not _alive(r):
        return "interrupted"
    return r["status"]


def _alive(r: dict) -> bool:
    """Whether the process that ran an import is still running (same host only)."""
    if not r.get("pid") or r.get("host") != socket.gethostname():
        return False
    try:
        os.kill(r["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def revert(db: Db, import_id: int, *, force: bool = False):
    """Revert an import's change set, even when later sets exist or the run was interrupted."""
    from crm_cli.domain import history

    r = store.get(db, import_id)
    if r is None:
        raise NotFound(f"no import {import_id}")
    if r["set_id"] is None:
        raise InvalidInput(f"import {import_id} wrote nothing")
    if r["status"] == "running" and _alive(r):
        raise Conflict(
            f"import {import_id} is still running (process {r['pid']}); wait for it or stop it first"
        )
    if r["reverted_by_set_id"]:
        raise InvalidInput(
            f"import {import_id} was already reverted by change set {r['reverted_by_set_id']}"
        )
    return history.undo(
        db, r["set_id"], force=force, allow_open=r["status"] in ("running", "failed")
    )
