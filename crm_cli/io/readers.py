"""Import readers: an input file opened as a stream of items for ``domain.imports.run``.

``locate`` checks the file and finds its format (``--format``, else the extension, else a
look at its first bytes); ``open_source`` reads it with the reader for that format (CSV
through ``csv_in`` and ``mapping``, JSON and NDJSON, Atomic CRM's JSON, vCard, iCalendar)
into a ``Source``: the items, the CSV header for the reject file, the preset it was read
as, and the functions the engine calls to map rows later (in its validation worker) without
importing this layer.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crm_cli.domain.imports import Item, Options, Source
from crm_cli.errors import InvalidInput, NotFound

FORMATS = ("csv", "json", "ndjson", "vcard", "ics")


def detect_format(path: Path, given: str | None) -> str:
    """The file's format: --format, else the extension, else a look at its first bytes."""
    if given:
        fmt = given.strip().lower()
        fmt = {"vcf": "vcard", "jsonl": "ndjson"}.get(fmt, fmt)
        if fmt not in FORMATS:
            raise InvalidInput(f"--format must be one of {', '.join(FORMATS)}, not '{given}'")
        return fmt
    ext = path.suffix.lower()
    with open(path, "rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    compact = head.replace(b" ", b"").replace(b"\n", b"").replace(b"\r", b"").replace(b"\t", b"")
    if (
        compact.startswith((b'["vcard"', b'[["vcard"'))
        or b"urn:ietf:params:xml:ns:vcard-4.0" in head
    ):
        return "vcard"  # jCard (JSON) and xCard (XML)
    by_ext = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".json": "json", ".ndjson": "ndjson",
              ".jsonl": "ndjson", ".vcf": "vcard", ".vcard": "vcard", ".xml": "vcard",
              ".ics": "ics", ".ical": "ics"}  # fmt: skip
    if ext in by_ext:
        return by_ext[ext]
    if head[:11].upper() == b"BEGIN:VCARD":
        return "vcard"
    if head[:15].upper() == b"BEGIN:VCALENDAR":
        return "ics"
    if head[:1] == b"[":
        return "json"
    if head[:1] == b"{":
        return "ndjson"
    return "csv"


def locate(opts: Options) -> tuple[Path, str]:
    """The input file and its format, checked before anything is read."""
    path = Path(opts.path).expanduser()
    if not path.is_file():
        raise NotFound(f"no file {opts.path}")
    if not os.access(path, os.R_OK):
        raise InvalidInput(f"cannot read {opts.path}: permission denied")
    fmt = detect_format(path, opts.fmt)
    if opts.kind == "activities" and fmt != "ics":
        raise InvalidInput(
            f"activities are imported from iCalendar (.ics) files, not {fmt}: {path.name}"
        )
    lines_file = opts.extra.get("lines")
    if lines_file is not None and not Path(lines_file).expanduser().is_file():
        raise NotFound(f"no file {lines_file} (given with --lines)")
    return path, fmt


def open_source(opts: Options, path: Path, fmt: str) -> Source:
    """Open the file with its format's reader (see ``locate``)."""
    if fmt == "csv":
        source = _open_csv(opts, path)
    elif fmt == "ndjson":
        source = Source(_read_ndjson(path))
    elif fmt == "json":
        source = _open_json(path)
    elif fmt == "ics":
        from crm_cli.domain.import_activities import SYSTEM
        from crm_cli.io import ics

        # Calendars carry activities: their UIDs are global, so their system is "ics".
        source = Source(ics.read_ics(path, opts), system=SYSTEM)
    else:
        source = Source(_read_vcard(path, opts.keep_photos))
    source.path, source.fmt = path, fmt
    source.sha256 = None if opts.dry_run else sha256(path)
    source.map_record, source.account_names = map_record, account_names
    return source


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------- CSV


def _open_csv(opts: Options, path: Path) -> Source:
    from crm_cli.io import csv_in, mapping

    f = csv_in.open_csv(path, encoding=opts.encoding, delimiter=opts.delimiter,
                        skip_lines=opts.skip_lines)  # fmt: skip
    preset, columns = mapping.detect(f.header, opts.kind)
    own = _own_export(f.header, opts.kind) and not opts.columns
    if own:
        preset = "crm"
    if opts.columns:
        columns = {**columns, **opts.columns}
        unknown = set(opts.columns) - set(f.header)
        if unknown:
            raise InvalidInput(
                f"--map names column(s) {', '.join(sorted(map(repr, unknown)))} that {path.name}"
                f" does not have (columns: {', '.join(f.header)})"
            )

    def items() -> Iterator[Item]:
        for row in f.rows():
            cells = [row.values.get(h, "") for h in f.header]
            if row.problem:
                yield Item(
                    row.line, row.raw, problem=row.problem, cells=_cells(row.raw, f.delimiter)
                )
                continue
            if later:  # contacts: mapped in the validation worker, off the writing process
                yield Item(row.line, row.raw, cells=cells, values=row.values)
                continue
            try:
                record = build(row.values)
            except InvalidInput as e:
                yield Item(row.line, row.raw, problem=str(e), cells=cells)
                continue
            yield Item(row.line, row.raw, record=record, cells=cells)

    # A module-level function with plain arguments: it pickles by reference to the worker.
    build = functools.partial(build_record, columns=columns, kind=opts.kind,
                              ignore_unknown=opts.ignore_unknown, own=own)  # fmt: skip
    later = opts.kind == "contacts"
    return Source(items(), header=f.header, delimiter=f.delimiter, preset=preset, build=build)


def build_record(
    values: dict[str, str], *, columns: dict[str, str], kind: str, ignore_unknown: bool, own: bool
) -> dict:
    """One CSV row as a record (build() also strips our exporter's formula guard)."""
    from crm_cli.io import mapping

    if own:
        return _own_record(values, kind)
    return mapping.build(values, columns, kind, ignore_unknown=ignore_unknown)


# The columns `crm export contacts|orgs --format csv` always writes: a file with them all is
# our own export, read back exactly (labelled emails and phones, JSON custom fields).
_OWN_HEADERS = {
    "contacts": {"id", "name", "first_name", "last_name", "emails", "phones", "tags", "custom",
                 "social", "created_at", "updated_at"},
    "orgs": {"id", "name", "domain", "phones", "tags", "custom", "people_count", "created_at"},
}  # fmt: skip
_LIST_CELLS = ("emails", "phones", "tags")


def _own_export(header: list[str], kind: str) -> bool:
    return kind in _OWN_HEADERS and _OWN_HEADERS[kind] <= set(header)


def _own_record(values: dict[str, str], kind: str) -> dict:
    """A row of our own CSV export as the record --json would have given."""
    from crm_cli.io.csv_in import unguard

    rec: dict[str, Any] = {}
    for key, cell in values.items():
        value = unguard(cell)
        if key in _LIST_CELLS:
            rec[key] = [v.strip() for v in value.split("; ") if v.strip()]
        elif key in ("custom", "social"):
            try:
                rec[key] = json.loads(value) if value.strip() else {}
            except json.JSONDecodeError:
                raise InvalidInput(f"'{key}' is not the JSON object our export writes") from None
        elif key == "id":
            rec["external_id"] = value or None
        else:
            rec[key] = value if value != "" else None
    return rec


def _cells(raw: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(raw), delimiter=delimiter), [])
    except csv.Error:
        return [raw]


def map_record(values: dict[str, str], kind: str) -> dict:
    """Another tool's record ({key: text}) in our shape for ``kind``, its keys read as columns."""
    from crm_cli.io import mapping

    _, columns = mapping.detect(list(values), kind)
    return mapping.build(values, columns, kind)


def read_order_lines(path: str) -> dict[str, Any]:
    """An orders --lines file as plain data: {"name", "orders": {number (casefolded):
    [(line, record or what is wrong with it)]}}, or {"name", "error"} when it cannot be read
    (each order row that needs its lines is then rejected with that reason)."""
    from crm_cli.io import csv_in, mapping

    p = Path(path).expanduser()
    try:
        if not p.is_file():
            raise NotFound(f"no lines file {path}")
        f = csv_in.open_csv(p)
        _, columns = mapping.detect(f.header, "order_lines")
        if "number" not in columns.values():
            raise InvalidInput(
                f"{p.name} has no order-number column (columns: {', '.join(f.header)})"
            )
        out: dict[str, list[tuple[int, dict | str]]] = {}
        for row in f.rows():
            if row.problem:
                continue  # an unreadable row: no order to tie it to
            try:
                rec = mapping.build(row.values, columns, "order_lines", ignore_unknown=True)
            except InvalidInput:
                continue
            number = (rec.get("number") or "").strip()
            out.setdefault(number.casefold(), []).append((row.line, rec))
    except (InvalidInput, NotFound) as e:
        return {"name": p.name, "error": str(e)}
    return {"name": p.name, "orders": out}


def account_names(source: str) -> dict[str, str]:
    """referenceId -> account name (as written) in a Salesforce Accounts file, JSON or CSV.

    Salesforce's sObject-tree plan names accounts AccountRef1, AccountRef2… in file order;
    the Data Loader CSV of the same accounts has them in the same order with no Id column.
    """
    out: dict[str, str] = {}
    if source.lower().endswith(".json"):
        data = json.loads(Path(source).read_bytes().decode("utf-8-sig"))
        recs = data.get("records", []) if isinstance(data, dict) else data
        for n, r in enumerate(recs, 1):
            if isinstance(r, dict):
                ref = (r.get("attributes") or {}).get("referenceId") or f"AccountRef{n}"
                name = r.get("name") or r.get("Name")
                if isinstance(name, str):
                    out[ref] = name
        return out
    from crm_cli.io import csv_in, mapping

    f = csv_in.open_csv(source)
    _, columns = mapping.detect(f.header, "orgs")
    name_cols = [c for c, t in columns.items() if t == "name"]
    n = 0
    for row in f.rows():
        n += 1
        name = next((row.values.get(c) for c in name_cols if row.values.get(c)), None)
        if name:
            out[f"AccountRef{n}"] = name.strip()
    return out


# ---------------------------------------------------------------- JSON and NDJSON


def _read_ndjson(path: Path) -> Iterator[Item]:
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8-sig" if n == 1 else "utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                yield Item(n, raw.decode("utf-8", "replace"), problem="not UTF-8 text")
                continue
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                yield Item(n, line, problem=f"not JSON: {e.msg}")
                continue
            if not isinstance(rec, dict):
                yield Item(n, line, problem=f"expected a JSON object, not {type(rec).__name__}")
                continue
            yield Item(n, line, record=rec)


def _open_json(path: Path) -> Source:
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidInput(f"{path.name} is not JSON: {e}") from None
    if isinstance(data, dict) and isinstance(data.get("contacts"), list) and set(data) <= _ATOMIC:
        return Source(_atomic_items(data), preset="atomic-crm")
    return Source(_json_items(path, data))


def _json_items(path: Path, data) -> Iterator[Item]:
    if isinstance(data, dict):  # Salesforce's sObject tree: {"records": [...]}
        data = data["records"] if isinstance(data.get("records"), list) else [data]
    if not isinstance(data, list):
        raise InvalidInput(f"{path.name} holds JSON {type(data).__name__}, not a list of records")
    for n, rec in enumerate(data, 1):
        raw = json.dumps(rec, ensure_ascii=False)
        if not isinstance(rec, dict):
            yield Item(n, raw, problem=f"expected a JSON object, not {type(rec).__name__}")
        else:
            yield Item(n, raw, record=rec)


_ATOMIC = {"sales", "companies", "contacts", "notes", "tasks", "deals", "tags"}


def _text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | dict):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def _atomic_items(data: dict) -> Iterator[Item]:
    """Atomic CRM's JSON import format: companies become organizations, contacts contacts
    (linked to their company), notes note activities and tasks follow-ups on those contacts."""
    from crm_cli.io import mapping

    sales = {s.get("id"): " ".join(p for p in (s.get("first_name"), s.get("last_name")) if p)
             for s in data.get("sales") or [] if isinstance(s, dict)}  # fmt: skip
    companies = {}
    n = 0
    for c in data.get("companies") or []:
        n += 1
        raw = json.dumps(c, ensure_ascii=False)
        if not isinstance(c, dict) or not c.get("name"):
            yield Item(n, raw, problem="an Atomic CRM company needs a name", entity="orgs")
            continue
        companies[c.get("id")] = c["name"]
        fields = {k: _text(c[k]) for k in ("linkedin_url", "revenue", "tax_identifier", "address",
                                            "zipcode", "city", "stateAbbr", "country") if c.get(k)}  # fmt: skip
        yield Item(n, raw, entity="orgs", record={
            "name": c["name"], "industry": _text(c.get("sector")) or None,
            "size": _text(c.get("size")) or None, "domain": c.get("website") or None,
            "phones": [c["phone_number"]] if c.get("phone_number") else [],
            "fields": fields, "external_id": f"company:{c.get('id')}",
        })  # fmt: skip
    for c in data.get("contacts") or []:
        n += 1
        raw = json.dumps(c, ensure_ascii=False)
        if not isinstance(c, dict):
            yield Item(n, raw, problem="expected a JSON object")
            continue
        lists = {k: c[k] for k in ("tags", "emails", "phones") if isinstance(c.get(k), list)}
        values = {k: _text(v) for k, v in c.items() if k not in lists}
        if c.get("company_id") in companies:
            values["company"] = companies[c["company_id"]]
        if c.get("sales_id") in sales:
            values["sales"] = sales[c["sales_id"]]
        _, columns = mapping.detect(list(values), "contacts")
        try:
            record = mapping.build(values, columns, "contacts")
        except InvalidInput as e:
            yield Item(n, raw, problem=str(e))
            continue
        record["external_id"] = _text(c.get("id")) or None
        for key, inner in (("emails", "email"), ("phones", "number")):
            if key in lists:
                record[key] = [
                    {"value": _text(x.get(inner)), "label": _text(x.get("type")).lower() or None}
                    for x in lists[key] if isinstance(x, dict) and x.get(inner)
                ]  # fmt: skip
        if "tags" in lists:
            record["tags"] = [_text(t) for t in lists["tags"] if t]
        yield Item(n, raw, record=record)
    for key, entity in (("notes", "notes"), ("tasks", "tasks")):
        for x in data.get(key) or []:
            n += 1
            raw = json.dumps(x, ensure_ascii=False)
            if not isinstance(x, dict) or not x.get("text") or x.get("contact_id") is None:
                yield Item(n, raw, problem=f"an Atomic CRM {key[:-1]} needs text and a contact_id",
                           entity=entity)  # fmt: skip
                continue
            yield Item(n, raw, entity=entity, record={
                "contact": _text(x["contact_id"]), "text": x["text"],
                "date": x.get("date") or x.get("due_date"), "done": bool(x.get("done_date")),
            })  # fmt: skip


# ---------------------------------------------------------------- vCard


def _read_vcard(path: Path, keep_photos: bool = False) -> Iterator[Item]:
    from crm_cli.io import vcard

    for card in vcard.read_vcards(path, photos="keep" if keep_photos else "skip"):
        entity = "orgs" if card.kind == "org" else "contacts"
        if card.error:
            yield Item(card.line, card.raw, problem=card.error, entity=entity)
        else:
            yield Item(card.line, card.raw, record=card.record, entity=entity)
