"""crm export: records out as CSV (formula-safe), JSON, NDJSON, vCard or iCalendar."""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Annotated

import typer

from crm_cli.commands._common import open_db
from crm_cli.errors import InvalidInput


def export_cmd(
    ctx: typer.Context,
    entity: Annotated[
        str, typer.Argument(help="contacts, orgs, deals, activities, followups or orders.")
    ],
    filters: Annotated[
        list[str] | None,
        typer.Argument(help="Filter expressions, ANDed (the entity's filter fields)."),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="csv, json, ndjson, vcard or ics.")
    ] = "csv",
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", metavar="PATH", help="Write to a file (default: stdout)."),
    ] = None,
    bom: Annotated[
        bool, typer.Option("--bom", help="CSV: start with a UTF-8 BOM so Excel reads accents.")
    ] = False,
    vcard_version: Annotated[
        str, typer.Option("--vcard-version", help="vCard: 4.0 (default) or 3.0.")
    ] = "4.0",
):
    """Export records matching the filters; CSV cells that look like formulas are neutralised."""
    from crm_cli.commands._output import note
    from crm_cli.domain import exports

    if entity not in exports.ENTITIES:
        raise InvalidInput(f"cannot export '{entity}'; choose {', '.join(exports.ENTITIES)}")
    kind = exports.check_format(entity, fmt)
    if vcard_version not in ("4.0", "3.0"):
        raise InvalidInput(f"--vcard-version must be 4.0 or 3.0, not '{vcard_version}'")
    db = open_db(ctx, must_exist=True)
    rows, keys = exports.records(db, entity, filters)
    if kind == "csv":
        data = _csv(rows, keys, bom).encode("utf-8")
    elif kind == "json":
        data = (json.dumps(rows, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    elif kind == "ndjson":
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    elif kind == "vcard":
        from crm_cli.io import vcard

        records = [_vcard_record(r, entity) for r in rows]
        data = vcard.write_vcards(records, version=vcard_version).encode("utf-8")
    else:
        from crm_cli.io import ics

        rows = exports.with_emails(db, entity, rows)
        if entity == "followups":
            data = ics.write_calendar(rows, [])
        else:
            meetings = [r for r in rows if r["kind"] == "meeting"]
            if len(meetings) < len(rows):
                note(f"{len(rows) - len(meetings)} activities that are not meetings left out")
            rows = meetings
            data = ics.write_calendar([], meetings)
    if output:
        try:
            with open(output, "wb") as f:
                f.write(data)
        except OSError as e:
            raise InvalidInput(f"cannot write {output}: {e.strerror}") from None
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    note(f"exported {len(rows)} {entity}" + (f" to {output}" if output else ""))


def _csv(rows: list[dict], keys, bom: bool) -> str:
    """CSV whose cells a spreadsheet cannot run as formulas (the importer strips the guard)."""
    from crm_cli.commands._output import cell
    from crm_cli.io.csv_in import guard

    out = io.StringIO()
    if bom:
        out.write("\ufeff")
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(keys)
    for r in rows:
        w.writerow([guard(_labelled_cell(r.get(k)) if k in ("emails", "phones") else cell(r.get(k)))
                    for k in keys])  # fmt: skip
    return out.getvalue()


def _labelled_cell(items) -> str:
    """Emails and phones as 'label=value; …', phones as typed (extensions kept): the
    importer reads them back exactly."""
    return "; ".join(_labelled(i) for i in items or ())


def _labelled(i: dict) -> str:
    value = i.get("raw") or i["value"]
    return f"{i['label']}={value}" if i.get("label") else value


def _vcard_record(r: dict, entity: str) -> dict:
    """A contact's or organization's --json shape as the vCard writer's record."""
    labelled = lambda items: [_labelled(i) for i in items]  # noqa: E731
    if entity == "orgs":
        return {"kind": "org", "name": r["name"], "domain": r["domain"],
                "phones": labelled(r["phones"]), "tags": r["tags"], "street": r["street"],
                "city": r["city"], "region": r["region"], "postal_code": r["postal_code"],
                "country": r["country"], "fields": r["custom"],
                "external_id": f"org-{r['id']}@crm"}  # fmt: skip
    rec = {k: r[k] for k in ("name", "first_name", "last_name", "title", "org", "tags",
                             "birthday", "street", "city", "region", "postal_code", "country")}  # fmt: skip
    rec.update(emails=labelled(r["emails"]), phones=labelled(r["phones"]), fields=r["custom"],
               social=r["social"], external_id=f"contact-{r['id']}@crm")  # fmt: skip
    return rec
