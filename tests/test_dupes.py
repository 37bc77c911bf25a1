"""Duplicate detection: the scoring core on hand-made records, the ground-truth set, the commands."""

from __future__ import annotations

import csv
import json
from itertools import combinations
from pathlib import Path

import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from crm_cli.cli import app
from crm_cli.commands.dupes import contact_dupes_cmd, org_dupes_cmd
from crm_cli.domain import dupes
from crm_cli.domain.dupes import Pair, clusters, org_candidates, person_candidates

SPLINK = (
    Path(__file__).resolve().parents[2]
    / "shared/realdata/csv/splink/fake_1000_from_splink_demos.csv"
)
T = dupes.DEFAULT_MIN_SCORE


def person(id, first, last, **kw):
    return {"id": id, "first_name": first, "last_name": last, **kw}


def linked(records, a, b) -> bool:
    return any(a in c.ids and b in c.ids for c in clusters(person_candidates(records), T))


def test_same_email_different_case():
    r = [person(1, "Ana", "García", emails=["Ana.Garcia@Example.com"]),
         person(2, "Ana", "Garcia", emails=["ana.garcia@example.com"])]  # fmt: skip
    (c,) = clusters(person_candidates(r), T)
    assert c.ids == (1, 2) and "same email" in c.reasons


def test_e164_phone_matches_national_form():
    r = [person(1, "Luis", "Pérez", phones=["+34600123456"], city="Madrid"),
         person(2, "Luis", "Perez", phones=["600 12 34 56"], city="madrid")]  # fmt: skip
    (c,) = clusters(person_candidates(r), T)
    assert "same phone" in c.reasons


def test_swapped_first_and_last():
    r = [person(1, "Noah", "Watson", birthday="2008-03-23", city="Bolton"),
         person(2, "Watson", "Noah", birthday="2008-03-23", city="Bolton")]  # fmt: skip
    (c,) = clusters(person_candidates(r), T)
    assert "swapped first/last" in c.reasons


def test_typos_in_names_and_email():
    r = [person(1, "Millie", "Harris", emails=["lynn04@jones.com"], birthday="1996-07-27"),
         person(2, "Mliie", "Harrs", emails=["lynn04@jone.com"], birthday="1996-07-27")]  # fmt: skip
    assert linked(r, 1, 2)


def test_namesakes_in_other_cities_kept_apart():
    r = [person(1, "John", "Smith", city="Leeds", emails=["js@a.example"]),
         person(2, "John", "Smith", city="Bristol", emails=["john@b.example"])]  # fmt: skip
    assert not linked(r, 1, 2)


def test_relatives_sharing_phone_and_surname_kept_apart():
    r = [person(1, "Mary", "Jones", phones=["+441134960000"], city="Leeds"),
         person(2, "Peter", "Jones", phones=["+441134960000"], city="Leeds")]  # fmt: skip
    assert not linked(r, 1, 2)


def test_colleagues_sharing_company_domain_kept_apart():
    r = [person(1, "Ana", "López", emails=["ana@acme.example"], org="Acme"),
         person(2, "Eva", "López", emails=["eva@acme.example"], org="Acme")]  # fmt: skip
    assert not linked(r, 1, 2)


def test_chaining_guard():
    # 1 and 3 are known to differ; 2 links to each strongly but cannot join them.
    pairs = [Pair(1, 2, 0.99, ("same email",)), Pair(2, 3, 0.95, ("same phone",)),
             Pair(1, 3, 0.0001, ("different name",))]  # fmt: skip
    groups = [c.ids for c in clusters(pairs, T)]
    assert (1, 2) in groups and not any(1 in g and 3 in g for g in groups)


def test_orgs_street_abbreviations_and_short_phone():
    r = [{"id": 1, "name": "Salvation Army Temple", "street": "1 N. Ogden ", "phones": ["2262649"]},
         {"id": 2, "name": "SALVATION ARMY - TEMPLE", "street": "1 North Ogden Avenue",
          "phones": ["(312) 226-2649"]},
         {"id": 3, "name": "Marillac Social Center", "street": "212 S. Francisco Ave",
          "phones": ["7227440"]}]  # fmt: skip
    (c,) = clusters(org_candidates(r), T)
    assert c.ids == (1, 2) and "same address" in c.reasons and "same phone" in c.reasons


_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyzáé ", max_size=12)
_rec = st.fixed_dictionaries({
    "first_name": _name, "last_name": _name,
    "emails": st.lists(st.from_regex(r"[a-z]{1,6}@[a-z]{1,5}\.com", fullmatch=True), max_size=2),
    "phones": st.lists(st.from_regex(r"\+34[6-9][0-9]{8}", fullmatch=True), max_size=1),
    "birthday": st.sampled_from(["", "1980-01-02", "1990-12-31"]),
    "city": st.sampled_from(["", "Leeds", "Madrid"]),
})  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(_rec, _rec)
def test_score_symmetric_bounded_and_self_match(a, b):
    a, b = {**a, "id": 1}, {**b, "id": 2}
    ab, ba = dupes.person_score(a, b), dupes.person_score(b, a)
    assert 0.0 <= ab.score <= 1.0
    assert abs(ab.score - ba.score) < 1e-9
    informative = (a["first_name"].strip() and a["last_name"].strip()) or a["emails"] or a["phones"]
    if informative and (a["birthday"] or a["city"] or a["emails"] or a["phones"]):
        assert dupes.person_score(a, {**a, "id": 3}).score >= T


def test_splink_ground_truth_f1_floor():
    records, truth = [], {}
    with open(SPLINK, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            i = int(row["unique_id"])
            truth[i] = row["cluster"]
            records.append({"id": i, "first_name": row["first_name"], "last_name": row["surname"],
                            "birthday": row["dob"], "city": row["city"],
                            "emails": [row["email"]] if row["email"] else []})  # fmt: skip
    found = {p for c in clusters(person_candidates(records), T) for p in combinations(c.ids, 2)}
    groups: dict[str, list[int]] = {}
    for i, t in truth.items():
        groups.setdefault(t, []).append(i)
    true = {p for g in groups.values() for p in combinations(sorted(g), 2)}
    tp = len(found & true)
    precision, recall = tp / len(found), tp / len(true)
    f1 = 2 * precision * recall / (precision + recall)
    assert f1 >= 0.975, (precision, recall, f1)  # measured 0.982


def _dupes_app() -> typer.Typer:
    t = typer.Typer()
    t.command("contact")(contact_dupes_cmd)
    t.command("org")(org_dupes_cmd)
    return t


def _run(*args):
    r = CliRunner().invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return r.stdout


def test_contact_dupes_command():
    _run("contact", "add", "Ana García", "--email", "ana@example.com", "--city", "Madrid")
    _run("contact", "add", "Ana Garcia", "--email", "ANA@example.com")
    _run("contact", "add", "Pedro Ruiz", "--email", "pedro@example.com")
    r = CliRunner().invoke(_dupes_app(), ["contact", "--json"])
    assert r.exit_code == 0, r.output
    (c,) = json.loads(r.stdout)
    assert c["ids"] == [1, 2] and "same email" in c["reasons"] and c["score"] >= T
    r = CliRunner().invoke(_dupes_app(), ["contact", "name~pedro", "--json"])
    assert json.loads(r.stdout) == []
    r = CliRunner().invoke(_dupes_app(), ["contact", "--csv"])
    assert r.stdout.splitlines()[0] == "score,ids,names,reasons"


def test_org_dupes_command():
    _run("org", "add", "Acme Corp", "--domain", "acme.example")
    _run("org", "add", "ACME Corporation", "--domain", "acme.example")
    _run("org", "add", "Globex", "--domain", "globex.example")
    r = CliRunner().invoke(_dupes_app(), ["org", "--ndjson"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["ids"] for x in rows] == [[1, 2]] and "same domain" in rows[0]["reasons"]
