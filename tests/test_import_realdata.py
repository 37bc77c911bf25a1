"""crm import on the real third-party files in ../shared/realdata: every file imports or is
rejected row by row with a reason, and real values come through intact."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

REAL = Path("../shared/realdata")
CSV_DIR = REAL / "csv"
VCARD_DIR = REAL / "vcard"

# Files that are not contacts or organizations (orders, deals, campaigns, edge cases whose
# columns mean nothing to us) still go through the reader; their rows are rejected with reasons.
ORGS = {"Accounts.csv", "csv_example_input_with_true_ids.csv"}


def _import(crm, kind, path, tmp_path, *extra):
    rejects = tmp_path / f"{Path(path).name}.rejects.csv"
    r = crm("import", kind, str(path), "--rejects", str(rejects), "--json", *extra, ok=False)
    assert r.exit_code in (0, 1, 11), (path, r.exit_code, r.stderr)
    assert "Traceback" not in r.stderr
    res = json.loads(r.stdout) if r.stdout.strip() else None
    return r, res, rejects


@pytest.mark.parametrize("path", sorted(CSV_DIR.rglob("*.csv")), ids=lambda p: p.name)
def test_every_csv_imports_or_is_rejected_row_by_row(crm, tmp_path, path):
    kind = "orgs" if path.name in ORGS else "contacts"
    r, res, rejects = _import(crm, kind, path, tmp_path)
    if res is None:  # the file as a whole could not be read: one clear line
        assert r.exit_code == 1 and r.stderr.startswith("crm: error: ")
        return
    assert res["rows"] == res["created"] + res["updated"] + res["unchanged"] + res["rejected"]
    if res["rejected"]:
        rows = list(csv.DictReader(open(rejects, encoding="utf-8")))
        assert len(rows) == res["rejected"] and all(
            x["line"].isdigit() and x["reason"] for x in rows
        )


@pytest.mark.parametrize(
    "path",
    sorted(p for p in VCARD_DIR.rglob("*") if p.suffix in (".vcf", ".json", ".xml")),
    ids=lambda p: str(p.relative_to(VCARD_DIR)),
)
def test_every_vcard_file_imports_or_is_rejected_card_by_card(crm, tmp_path, path):
    r, res, rejects = _import(crm, "contacts", path, tmp_path)  # jCard / xCard detected too
    assert res is not None, r.stderr
    assert res["rows"] == res["created"] + res["updated"] + res["unchanged"] + res["rejected"]
    assert res["created"] + res["updated"] + res["unchanged"] >= 1 or res["rejected"] >= 1


def test_real_values_come_through(crm, tmp_path):
    _import(crm, "contacts", CSV_DIR / "chinook/Customer.csv", tmp_path)
    bjorn = crm.json("contact", "show", "Bjørn Hansen")
    assert bjorn["postal_code"] == "0171"  # a leading zero kept
    luis = crm.json("contact", "show", "Luís Gonçalves")
    assert (
        luis["phones"][0]["raw"] == "+55 (12) 3923-5555"
        and luis["phones"][0]["value"] == "+551239235555"
    )
    _import(crm, "contacts", CSV_DIR / "atomic-crm/contacts_export_500.csv", tmp_path)
    faith = crm.json("contact", "list", "phone~x491")
    assert len(faith) == 1 and faith[0]["phones"][0]["raw"] == "1-597-372-4380 x491"  # an extension
    assert faith[0]["org"] == "Brekke, Dietrich and Klein"
    assert faith[0]["custom"]["owner"] == "Jane Doe"  # a rep unknown here: kept, row imported
    assert faith[0]["custom"]["stage"] == "cold"  # another tool's stage: kept as a field
    _import(crm, "contacts", VCARD_DIR / "aosp-vcard/v21_japanese_2.vcf", tmp_path)
    ando = crm.json("contact", "show", "安藤 ロイド 1")  # Shift_JIS
    assert ando["street"] == "東京都渋谷区桜丘町26-1セルリアンタワー6階"


def test_a_stage_map_puts_another_tools_stages_on_ours(crm, tmp_path):
    _import(crm, "contacts", CSV_DIR / "atomic-crm/contacts_export_500.csv", tmp_path,
            "--stage-map", "cold=lead", "--stage-map", "warm=prospect", "--stage-map", "hot=prospect",
            "--stage-map", "in-contract=customer")  # fmt: skip
    stages = {c["stage"] for c in crm.json("contact", "list")}
    assert stages <= {"lead", "prospect", "customer"} and len(stages) == 3
    crm.fails("import", "contacts", str(CSV_DIR / "atomic-crm/contacts_import_sample.csv"),
              "--stage-map", "nonsense", code=1)  # fmt: skip


def test_importing_a_real_file_twice_creates_nothing_new(crm, tmp_path):
    _, first, _ = _import(
        crm, "contacts", CSV_DIR / "salesforce-apex-recipes/Contacts.csv", tmp_path
    )
    _, again, _ = _import(
        crm, "contacts", CSV_DIR / "salesforce-apex-recipes/Contacts.csv", tmp_path
    )
    assert first["created"] == 150 and again["created"] == 0 and again["updated"] == 0
    assert first["system"] == "salesforce-contacts"


def test_dry_run_on_a_real_file(crm, tmp_path, monkeypatch):
    splink = (CSV_DIR / "splink/fake_1000_from_splink_demos.csv").resolve()
    monkeypatch.chdir(tmp_path)  # the default reject file would go here: none is written
    r = crm("import", "contacts", str(splink),
            "--dry-run", "--json", ok=False)  # fmt: skip
    res = json.loads(r.stdout)
    assert res["dry_run"] and res["rejected"] > 0 and "invalid email" in r.stderr
    assert crm.json("contact", "list") == [] and not list(tmp_path.glob("*.rejects.csv"))


def test_orgs_from_chicago_keep_junk_websites_aside(crm, tmp_path):
    _, res, _ = _import(
        crm,
        "orgs",
        CSV_DIR / "dedupe-chicago-early-childhood/csv_example_input_with_true_ids.csv",
        tmp_path,
    )
    assert res["rejected"] == 0 and res["created"] > 1000
    assert crm.json("org", "list", "field.website:No")  # kept as a field, the row imported


def test_real_imports_round_trip_through_export(crm, tmp_path):
    _import(crm, "contacts", CSV_DIR / "chinook/Customer.csv", tmp_path)
    _import(crm, "contacts", VCARD_DIR / "aosp-vcard/v21_japanese_2.vcf", tmp_path)
    before = crm.json("contact", "list")
    out = tmp_path / "all.ndjson"
    crm("export", "contacts", "--format", "ndjson", "--output", str(out))
    fresh = tmp_path / "fresh.db"
    crm("--db", str(fresh), "import", "contacts", str(out))
    after = json.loads(crm("--db", str(fresh), "contact", "list", "--json").stdout)
    keys = (
        "name",
        "emails",
        "phones",
        "tags",
        "org",
        "street",
        "city",
        "postal_code",
        "country",
        "custom",
    )
    strip = lambda rows: sorted(({k: r[k] for k in keys} for r in rows), key=lambda r: r["name"])  # noqa: E731
    assert strip(after) == strip(before)


def test_atomic_crm_json_brings_companies_contacts_notes_and_tasks(crm, tmp_path):
    f = CSV_DIR / "atomic-crm/import-sample.json"
    _, res, _ = _import(crm, "contacts", f, tmp_path)
    assert (res["created"], res["rejected"], res["system"]) == (8, 0, "atomic-crm")
    cave = crm.json("contact", "show", "cave.johnson@aperturescience.com")
    assert cave["org"] == "Aperture Science" and cave["tags"] == ["science", "vip"]
    assert cave["emails"][0]["label"] == "work"
    notes = crm.json("timeline", "cave.johnson@aperturescience.com")
    assert notes[0]["kind"] == "note" and "combustible lemons" in notes[0]["body"]
    assert "\n\n" in notes[0]["body"]  # paragraphs kept
    assert {i["text"] for i in crm.json("followup", "list", "--all")} == {
        "Send crowbar maintenance kit", "Schedule moon rock conversion demo",
    }  # fmt: skip
    _, again, _ = _import(crm, "contacts", f, tmp_path)
    assert again["created"] == 0 and again["updated"] == 0


def test_chinook_employees_become_team_members_and_owners(crm, tmp_path):
    _, res, _ = _import(crm, "users", CSV_DIR / "chinook/Employee.csv", tmp_path)
    assert res["created"] == 8
    users = {u["name"]: u for u in crm.json("user", "list")}
    assert users["Jane Peacock"]["manager"] == "Nancy Edwards"
    assert users["Andrew Adams"]["email"] == "andrew@chinookcorp.com"
    _import(crm, "contacts", CSV_DIR / "chinook/Customer.csv", tmp_path)
    assert (
        crm.json("contact", "show", "Luís Gonçalves")["owner"] == "Jane Peacock"
    )  # SupportRepId 3
    _, again, _ = _import(crm, "users", CSV_DIR / "chinook/Employee.csv", tmp_path)
    assert again["created"] == 0 and again["unchanged"] == 8
