"""crm export: formula-safe CSV, JSON/NDJSON, iCalendar with stable UIDs, and round trips."""

from __future__ import annotations

import csv
import io
import json

import pytest

KEYS_SAME_AFTER_ROUND_TRIP = ("name", "first_name", "last_name", "title", "org", "emails",
                              "phones", "tags", "stage", "source", "consent", "birthday",
                              "street", "city", "region", "postal_code", "country", "custom",
                              "social")  # fmt: skip


def _strip(rows):
    return sorted(
        ({k: r[k] for k in KEYS_SAME_AFTER_ROUND_TRIP} for r in rows), key=lambda r: r["name"]
    )


def test_csv_neutralises_formulas_but_keeps_the_values(crm):
    crm("contact", "add", "=HYPERLINK(\"x\")", "--phone", "+34 600 123 456", "--title", "@boss",
        "--field", "balance=-5.00")  # fmt: skip
    out = crm("export", "contacts").stdout
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert row["name"] == '\'=HYPERLINK("x")' and row["phones"] == "'+34 600 123 456"  # as typed
    assert row["title"] == "'@boss"
    bom = crm("export", "contacts", "--bom").stdout
    assert bom.startswith("\ufeff")


def test_ndjson_round_trip_into_an_empty_database(crm, tmp_path):
    crm("demo")
    before = crm.json("contact", "list")
    out = tmp_path / "contacts.ndjson"
    crm("export", "contacts", "--format", "ndjson", "--output", str(out))
    fresh = tmp_path / "fresh.db"
    crm("--db", str(fresh), "import", "contacts", str(out))
    after = json.loads(crm("--db", str(fresh), "contact", "list", "--json").stdout)
    assert len(after) == len(before) and _strip(after) == _strip(before)
    again = json.loads(crm("--db", str(fresh), "import", "contacts", str(out), "--json").stdout)
    assert again["created"] == 0 and again["updated"] == 0


def test_ics_has_todos_and_meetings_with_stable_uids(crm):
    from icalendar import Calendar

    crm("contact", "add", "Ana", "--email", "ana@example.es")
    crm("followup", "add", "Llamar", "--due", "tomorrow 9am", "--contact", "ana@example.es")
    crm(
        "followup",
        "add",
        "Informe",
        "--due",
        "2026-04-01 10:00",
        "--every",
        "FREQ=MONTHLY;UNTIL=20261231",
    )
    crm("log", "meeting", "Kick-off", "-c", "ana@example.es", "--duration", "1h", "--at", "-1d")
    crm("log", "call", "x", "-c", "ana@example.es")
    first = crm("export", "followups", "--format", "ics").stdout
    todos = Calendar.from_ical(first)
    items = {str(t["UID"]): t for t in todos.walk("VTODO")}
    assert set(items) == {"followup-1@crm", "followup-2@crm"}
    assert str(items["followup-1@crm"]["SUMMARY"]) == "Llamar"
    assert items["followup-2@crm"]["RRULE"]["UNTIL"][0].tzinfo is not None  # UTC, per RFC 5545
    r = crm("export", "activities", "--format", "ics")
    events = list(Calendar.from_ical(r.stdout).walk("VEVENT"))
    assert [str(e["UID"]) for e in events] == ["activity-1@crm"] and "1 activities" in r.stderr
    assert crm("export", "followups", "--format", "ics").stdout == first  # same UIDs, same text


@pytest.mark.parametrize(
    ("args", "code"),
    [(["export", "people"], 1), (["export", "deals", "--format", "vcard"], 1),
     (["export", "contacts", "nosuch:1"], 1), (["export", "contacts", "--vcard-version", "2.1"], 1)],
)  # fmt: skip
def test_export_errors(crm, args, code):
    crm("contact", "add", "Ana")
    crm.fails(*args, code=code)


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "json"])
def test_contacts_and_orgs_round_trip_in_every_format(crm, tmp_path, fmt):
    crm("demo")
    crm("contact", "add", "Zoë", "-e", "work=zoe@ex.com", "-p", "mobile=+34 600 111 222 ext 7",
        "-f", "loyalty=007", "-f", "formula==SUM(A1)", "--social", "twitter=@zoe")  # fmt: skip
    crm("org", "edit", "Acme SL", "--add-phone", "main=+34 912 000 111", "--field", "balance=-5")
    before_c, before_o = crm.json("contact", "list"), crm.json("org", "list")
    fresh = tmp_path / "fresh.db"
    for entity, kind in (("orgs", "orgs"), ("contacts", "contacts")):
        out = tmp_path / f"{entity}.{fmt}"
        crm("export", entity, "--format", fmt, "--output", str(out))
        crm("--db", str(fresh), "import", kind, str(out), "--rejects", str(tmp_path / "r.csv"))
    after_c = json.loads(crm("--db", str(fresh), "contact", "list", "--json").stdout)
    after_o = json.loads(crm("--db", str(fresh), "org", "list", "--json").stdout)
    assert _strip(after_c) == _strip(before_c)
    org_keys = ("name", "domain", "industry", "size", "phones", "tags", "city", "country", "custom")

    def strip_o(rows):
        return sorted(({k: r[k] for k in org_keys} for r in rows), key=lambda r: r["name"])

    assert strip_o(after_o) == strip_o(before_o)
