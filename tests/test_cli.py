"""Command-line behaviour: output formats, bad input, bulk changes, config, docs."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import typer

from crm_cli.cli import app

ROOT = Path(__file__).resolve().parent.parent


def _add(crm, *args):
    return int(crm("contact", "add", *args).stdout.strip())


def test_output_formats(crm):
    _add(
        crm,
        "Ana García",
        "--email",
        "ana@example.es",
        "--phone",
        "+34 600 123 456",
        "--tag",
        "vip",
        "--tag",
        "b2b",
    )
    _add(crm, "Bob Stone", "--email", "home=bob@example.com", "--email", "work=bob@acme.com")
    nd = crm("contact", "list", "--ndjson").stdout.splitlines()
    assert [json.loads(x)["name"] for x in nd] == ["Ana García", "Bob Stone"]
    rows = list(csv.DictReader(io.StringIO(crm("contact", "list", "--csv").stdout)))
    assert rows[0]["tags"] == "vip; b2b" or rows[0]["tags"] == "b2b; vip"
    assert rows[1]["emails"] == "bob@example.com; bob@acme.com"
    assert rows[0]["phones"] == "+34600123456"  # no formula guard in --csv: phones stay intact
    plain = crm("contact", "list").stdout
    assert "\x1b[" not in plain and "│" not in plain and "Ana García" in plain
    crm.fails("contact", "list", "--json", "--csv", code=1)


def test_limit_and_sort(crm):
    for n in ("Carla", "Ana", "Bea"):
        _add(crm, n)
    assert [c["name"] for c in crm.json("contact", "list", "--sort", "name")] == [
        "Ana",
        "Bea",
        "Carla",
    ]
    assert [c["name"] for c in crm.json("contact", "list", "--sort=-name", "--limit", "2")] == [
        "Carla",
        "Bea",
    ]
    assert [c["name"] for c in crm.json("contact", "list", "--sort", "name:desc")][0] == "Carla"
    err = crm.fails("contact", "list", "--sort", "password", code=1)
    assert "cannot sort by 'password'" in err.stderr


def test_bad_input_is_one_line_and_nothing_stored(crm):
    _add(crm, "Ana", "--email", "ana@example.es")
    cases = [
        (["contact", "add", "X", "--email", "x@"], 1),
        (["contact", "add", "X", "--stage", "wizard"], 1),
        (["contact", "add", "X", "--consent", "maybe"], 1),
        (["contact", "add", "X", "--birthday", "2024-02-30"], 1),
        (["contact", "add", "X", "--tag", "two words"], 1),
        (["contact", "add", "X", "--field", "bad key=1"], 1),
        (["contact", "add", "X", "--phone", "call me"], 1),
        (["contact", "add", "--title", "CEO"], 1),
        (["contact", "show", "999"], 3),
        (["contact", "show", "nobody@example.com"], 3),
        (["contact", "show", "Nobody"], 3),
        (["contact", "list", "name~"], 1),
        (["contact", "list", "(tag:vip"], 1),
        (["contact", "list", "created>notadate"], 1),
        (["contact", "edit", "Ana", "--remove-email", "other@example.es"], 1),
        (["org", "show", "Nope"], 3),
        (["undo", "12345"], 3),
        (["config", "set", "no.such.key", "1"], 1),
        (["config", "set", "time.zone", "Mars/Olympus"], 1),
    ]
    for args, code in cases:
        crm.fails(*args, code=code)
    assert [c["name"] for c in crm.json("contact", "list")] == ["Ana"]


def test_usage_error_is_exit_2(crm):
    r = crm("contact", "add", "--no-such-option", ok=False)
    assert r.exit_code == 2


def test_read_on_missing_database_says_so(crm, isolated):
    r = crm.fails("contact", "list", code=3)
    assert "no database" in r.stderr
    assert not (isolated / "crm.db").exists()
    r = crm.fails("--db", str(isolated / "nodir" / "x.db"), "contact", "add", "A", code=1)
    assert "directory does not exist" in r.stderr


def test_duplicate_email_selector_lists_contacts(crm):
    a = _add(crm, "Ana", "--email", "shared@example.com")
    b = _add(crm, "Ana Bis", "--email", "shared@example.com")
    r = crm.fails("contact", "show", "shared@example.com", code=1)
    assert f"{a} Ana" in r.stderr and f"{b} Ana Bis" in r.stderr
    _add(crm, "Ana")
    r = crm.fails("contact", "show", "ana", code=1)
    assert "2 contacts" in r.stderr


def test_bulk_edit_through_filter_asks_or_needs_yes(crm):
    for i in range(5):
        _add(crm, f"P{i}", "--source", "fair2024")
    _add(crm, "Other", "--source", "web")
    r = crm.fails("contact", "edit", "source:fair2024", "--stage", "prospect", code=1)
    assert "--yes" in r.stderr
    assert {c["stage"] for c in crm.json("contact", "list", "source:fair2024")} == {"lead"}
    out = crm("contact", "edit", "source:fair2024", "--stage", "prospect", "--yes").stdout.split()
    assert len(out) == 5
    assert {c["stage"] for c in crm.json("contact", "list", "source:fair2024")} == {"prospect"}
    assert crm.json("contact", "show", "Other")["stage"] == "lead"
    crm("contact", "tag", "source:fair2024", "key-account", "--yes")
    assert len(crm.json("contact", "list", "tag:key-account")) == 5
    crm("undo")
    crm("undo")
    assert {c["stage"] for c in crm.json("contact", "list", "source:fair2024")} == {"lead"}
    assert crm.json("contact", "list", "tag:key-account") == []
    # three or fewer: no confirmation needed
    crm("contact", "tag", "name~p1 or name~p2", "small")
    crm("contact", "delete", "source:web")
    assert crm.json("contact", "list", "source:web") == []


def test_custom_fields_social_and_filters(crm):
    _add(
        crm,
        "Ana",
        "--field",
        "tier=gold",
        "--field",
        "vat=B1",
        "--social",
        "mastodon=@ana@eu.social",
    )
    _add(crm, "Bob", "--field", "tier=silver")
    assert [c["name"] for c in crm.json("contact", "list", "field.tier:gold")] == ["Ana"]
    assert [c["name"] for c in crm.json("contact", "list", "has:field.vat")] == ["Ana"]
    crm("contact", "edit", "Ana", "--field", "vat=")
    assert crm.json("contact", "show", "Ana")["custom"] == {"tier": "gold"}
    assert crm.json("contact", "show", "Ana")["social"] == {"mastodon": "@ana@eu.social"}


def test_dates_in_filters_use_fixed_clock(crm):
    _add(crm, "Old")
    assert len(crm.json("contact", "list", "created>-1d")) == 1
    assert crm.json("contact", "list", "created<2026-03-01") == []
    assert len(crm.json("contact", "list", "created:2026-03-10")) == 1
    assert len(crm.json("contact", "list", "created:today")) == 1
    assert crm.json("contact", "list", "updated>tomorrow") == []


def test_consent_birthday_and_address(crm):
    cid = _add(
        crm,
        "Ana",
        "--consent",
        "opted-out",
        "--birthday",
        "--04-23",
        "--city",
        "Valencia",
        "--country",
        "ES",
    )
    c = crm.json("contact", "show", str(cid))
    assert c["consent"] == "opted_out" and c["consent_at"] == "2026-03-10T08:00:00Z"
    assert c["birthday"] == "--04-23" and c["city"] == "Valencia"
    assert [x["id"] for x in crm.json("contact", "list", "consent:opted_out")] == [cid]


def test_phone_region_from_config(crm):
    crm("config", "set", "phone.region", "ES")
    cid = _add(crm, "Ana", "--phone", "mobile=600 123 456", "--phone", "ext. 42")
    phones = crm.json("contact", "show", str(cid))["phones"]
    assert phones[0] == {
        "value": "+34600123456",
        "label": "mobile",
        "primary": True,
        "raw": "600 123 456",
    }
    assert phones[1]["value"] == "ext. 42"  # kept as written when it does not parse
    assert [c["id"] for c in crm.json("contact", "list", "phone:+34600123456")] == [cid]


def test_config_scopes(crm, isolated):
    crm("config", "set", "money.currency", "GBP")
    assert crm("config", "get", "money.currency").stdout.strip() == "GBP"
    assert "money" in (isolated / "config" / "config.toml").read_text()
    crm("config", "set", "contact.stages", "lead,trial,customer,churned")
    assert crm.json("config", "get", "contact.stages") == ["lead", "trial", "customer", "churned"]
    listed = {r["key"]: r for r in crm.json("config", "list")}
    assert (
        listed["contact.stages"]["scope"] == "team"
        and listed["money.currency"]["scope"] == "personal"
    )
    _add(crm, "Ana", "--stage", "trial")
    crm.fails("contact", "add", "Bob", "--stage", "prospect", code=1)
    crm("config", "unset", "money.currency")
    assert crm("config", "get", "money.currency").stdout.strip() == "EUR"


def test_demo_is_deterministic_and_idempotent(crm, isolated):
    out = crm("demo").stdout
    assert "contacts" in out
    first = crm.json("contact", "list")
    assert (
        len(first) > 50
        and any(c["org_id"] is None for c in first)
        and any(c["org_id"] for c in first)
    )
    assert any("ñ" in c["name"] or "í" in c["name"] or "á" in c["name"] for c in first)
    orgs = crm.json("org", "list")
    assert all(o["people_count"] >= 3 for o in orgs)
    again = crm("demo")
    assert "changes nothing" in again.stdout
    assert crm.json("contact", "list") == first
    other = isolated / "other.db"
    crm("--db", str(other), "demo")
    strip = lambda rows: [{k: v for k, v in r.items()} for r in rows]  # noqa: E731
    assert strip(json.loads(crm("--db", str(other), "contact", "list", "--json").stdout)) == strip(
        first
    )


def test_from_ndjson_bulk_add_is_one_change_set(crm, isolated):
    f = isolated / "in.ndjson"
    f.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {
                    "name": "Ana García",
                    "emails": ["ana@acme.es"],
                    "tags": ["vip"],
                    "org": "Acme SL",
                },
                {"name": "Bob", "phones": ["+44 20 7946 0991"], "created_at": "2020-05-01 10:00"},
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    ids = crm("contact", "add", "--from-ndjson", str(f)).stdout.split()
    assert len(ids) == 2
    assert crm.json("contact", "show", "Bob")["created_at"] == "2020-05-01T08:00:00Z"
    assert crm.json("search", "acme")[0]["name"] in ("Ana García", "Acme SL")
    assert len(crm.json("history", "--limit", "1")[0]["changes"]) >= 5
    crm("undo")
    assert crm.json("contact", "list") == []
    bad = isolated / "bad.ndjson"
    bad.write_text('{"name": "Ok"}\n{"name": "Bad", "emails": ["nope"]}\n', encoding="utf-8")
    r = crm.fails("contact", "add", "--from-ndjson", str(bad), code=1)
    assert "bad.ndjson:2:" in r.stderr
    assert crm.json("contact", "list") == []


def test_editor_edit_applies_valid_toml(crm, isolated, monkeypatch):
    cid = _add(crm, "Ana García", "--email", "ana@example.es", "--tag", "vip")
    script = isolated / "ed.py"
    script.write_text(
        "import sys,re\np=sys.argv[1]\ns=open(p).read()\n"
        's=s.replace(\'title = ""\',\'title = "CTO"\').replace(\'"vip"\',\'"vip", "tech"\')\n'
        "open(p,'w').write(s)\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    r = crm("contact", "edit", str(cid))
    assert r.stdout.strip() == str(cid)
    c = crm.json("contact", "show", str(cid))
    assert c["title"] == "CTO" and c["tags"] == ["tech", "vip"] or c["tags"] == ["vip", "tech"]
    assert c["emails"][0]["value"] == "ana@example.es"


def test_editor_bad_edit_is_not_applied(crm, isolated, monkeypatch):
    cid = _add(crm, "Ana", "--email", "ana@example.es")
    before = crm.json("contact", "show", str(cid))
    script = isolated / "ed.py"
    script.write_text(
        "import sys\np=sys.argv[1]\ns=open(p).read()\nopen(p,'w').write(s.replace('ana@example.es','broken'))\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    r = crm("contact", "edit", str(cid), ok=False)
    assert r.exit_code == 1 and "broken" in r.stderr
    assert crm.json("contact", "show", str(cid)) == before


def _commands(group, ctx, prefix: str = ""):
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if hasattr(cmd, "list_commands"):
            yield from _commands(cmd, ctx, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", cmd


def test_every_command_has_help_and_readme_entry(crm):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    root = typer.main.get_command(app)
    names = [name for name, _ in _commands(root, typer.Context(root))]
    assert "contact add" in names and "undo" in names
    for name in names:
        r = crm(*name.split(), "--help")
        assert r.exit_code == 0 and "Usage" in r.stdout, name
        assert f"crm {name}" in readme, f"README.md does not document 'crm {name}'"


def test_startup_imports_stay_light(isolated):
    """Read commands load neither Textual, nor validators, nor sqlite-utils, nor SMTP."""
    code = (
        "import sys\nfrom crm_cli.cli import app\n"
        "for args in (['--help'], ['contact', 'list', '--json', '--limit', '5'],"
        " ['deal', 'list', '--json'], ['timeline', 'contact:1', '--json'],"
        " ['followup', 'list', '--json'], ['remind', '--json', '--dry-run'],"
        " ['ticket', 'list', '--json'], ['order', 'list', '--json'], ['pipeline', 'show', '--json']):\n"
        "    try:\n        app(args, standalone_mode=False)\n    except SystemExit:\n        pass\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    env = {**os.environ}
    subprocess.run(
        [sys.executable, "-m", "crm_cli", "contact", "add", "Ana"],
        env=env,
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    mods = set(out.split())
    for heavy in (
        "textual",
        "email_validator",
        "phonenumbers",
        "sqlite_utils",
        "dateutil",
        "rich",
        "pydantic",
        "smtplib",
        "jinja2",
    ):
        assert heavy not in mods, f"{heavy} imported at start-up"


def test_python_m_crm_cli_entry(isolated):
    r = subprocess.run(
        [sys.executable, "-m", "crm_cli", "--version"], capture_output=True, text=True
    )
    assert r.returncode == 0 and re.match(r"crm \d+\.\d+", r.stdout)


def test_broken_config_is_a_clear_error(crm, isolated):
    cfg = isolated / "config" / "config.toml"
    cfg.write_text("garbage [\n", encoding="utf-8")
    r = crm.fails("contact", "add", "A", code=1)
    assert "not valid TOML" in r.stderr
    cfg.write_text('[phone]\nregion = ["x"]\n', encoding="utf-8")
    r = crm.fails("contact", "add", "A", "--phone", "600123456", code=1)
    assert "phone.region" in r.stderr and "must be a str" in r.stderr
    cfg.write_text("", encoding="utf-8")
    crm.fails("config", "set", "phone.region", "Narnia", code=1)
    crm("config", "set", "phone.region", "es")
    assert crm("config", "get", "phone.region").stdout.strip() == "ES"
