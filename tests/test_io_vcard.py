"""The vCard reader against every real file in ../shared/realdata/vcard, and the writer's round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_cli.domain import contacts, validate
from crm_cli.io.vcard import Card, read_vcards, write_vcards

VCARD = Path("../shared/realdata/vcard")
FILES = sorted(
    p for p in VCARD.rglob("*") if p.is_file() and p.suffix.lower() in (".vcf", ".json", ".xml")
)


def cards(rel: str, **kw) -> list[Card]:
    return list(read_vcards(VCARD / rel, **kw))


def only(rel: str, **kw) -> dict:
    (card,) = cards(rel, **kw)
    assert card.error is None, card.error
    return card.record


# --------------------------------------------------------------------------- every file


def test_the_folder_is_there():
    assert len(FILES) >= 80, "run pytest from the project root, beside ../shared"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(VCARD)))
def test_every_file_reads_into_records_or_reasons(path):
    got = list(read_vcards(path))
    assert got, "no card read"
    for c in got:
        assert c.kind in ("contact", "org")
        assert c.line >= 1 and c.raw
        assert (c.record is None) != (c.error is None)
        if c.error:
            assert c.error.strip() and "\n" not in c.error
            continue
        rec = dict(c.record)
        assert rec["name"].strip()
        rec.pop("external_id", None)
        rec.pop("photo", None)
        if c.kind == "contact":
            kw, _ = contacts.record_kwargs(rec)  # the shape --from-ndjson accepts
            for e in kw["emails"]:
                validate.email(validate.split_label(e)[1])
            for t in kw["tags"]:
                assert validate.tag(t) == t
            for k in {**kw["fields"], **kw["social"]}:
                validate.key_value(f"{k}=x", "field")
        else:
            assert set(rec) <= {"name", "domain", "phones", "tags", "fields", "street", "city",
                                "region", "postal_code", "country"}  # fmt: skip


def test_every_file_reads_with_photos_kept():
    for path in FILES:
        for c in read_vcards(path, photos="keep"):
            if c.record and "photo" in c.record:
                assert c.record["photo"].startswith(("data:image/", "http"))


# --------------------------------------------------------------------------- real values


def test_accented_names_from_latin1_file_without_charset():
    got = [c.record["name"] for c in cards("ical4j-vcard/vcard-vCards-SAP.vcf") if c.record]
    assert "Ingrid Spaßlund" in got
    assert "Günther Blümchen" in got
    assert "Berit Müller" in got


def test_utf8_8bit_bytes_in_a_21_card():
    rec = only("ical4j-vcard/4b62872a-849-0.vcf")
    assert rec["street"] == "Medizinstraße 4711"
    assert rec["city"] == "Köln"
    assert rec["name"] == "Franz Branntwein"  # empty FN: the name comes from N
    assert rec["external_id"] == "4b62872a-849-0"


def test_shift_jis_names():
    rec = only("aosp-vcard/v21_japanese_2.vcf")
    assert rec["name"] == "安藤 ロイド 1"
    assert rec["last_name"] == "安藤"
    assert rec["street"] == "東京都渋谷区桜丘町26-1セルリアンタワー6階"  # QP + Shift_JIS
    assert rec["postal_code"] == "150-8512"
    assert rec["fields"]["note"] == "メモ"
    # 0x5C (a backslash in ASCII) is a Shift_JIS trail byte here: 表 must survive.
    assert only("aosp-vcard/v21_japanese_3.vcf")["name"] == "伊能 圭一 伊予"
    assert only("aosp-vcard/v30_japanese.vcf")["last_name"] == "伊能"


def test_qp_utf8_with_soft_line_breaks():
    got = cards("ez-vcard/John_Doe_ANDROID.vcf")
    assert len(got) == 6
    assert got[2].record["name"] == "Ñ Ñ Ñ Ñ Ñ"
    assert got[3].record["name"] == "Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ"  # folded with a soft '='
    assert got[0].record["name"] == "john.doe@company.com"  # no name: the first email


def test_qp_multiline_note_and_comment_like_continuation():
    rec = only("ez-vcard/outlook-2003.vcf")
    assert rec["fields"]["note"] == "This is the note field!!\nSecond line\n\nThird line is empty"
    rec = only("aosp-vcard/v21_invalid_comment_line.vcf")
    assert rec["fields"]["note"] == (
        "This is an (sharp ->#<- sharp) example. This message must NOT be ignored."
    )
    rec = only("aosp-vcard/v21_complicated.vcf")
    assert (
        "Now's the time for all folk to come to the aid of their country." in rec["fields"]["note"]
    )
    assert rec["phones"][0] == "work=(111) 555-1212"


def test_extension_phone_kept_as_written():
    rec = only("ez-vcard/rfc6350-example.vcf")
    assert "work=+1-418-656-9254;ext=102" in rec["phones"]
    assert rec["birthday"] == "--02-03"
    value, raw = validate.phone(validate.split_label(rec["phones"][0])[1])
    assert value == "+14186569254" and "ext=102" in raw


def test_grouped_email_takes_its_ablabel():
    rec = only("ez-vcard/gmail-single2.vcf")
    assert "customemailcategory=customcategory@example.com" in rec["emails"]
    assert "customephonecategory=5555551121" in rec["phones"]
    rec = only("ez-vcard/John_Doe_IPHONE.vcf")
    assert "assistantphone=905-222-1234" in rec["phones"]
    assert rec["fields"]["url"] == "http://www.ibm.com"  # 'http\://' unescaped


def test_categories_become_tags():
    assert only("ez-vcard/John_Doe_EVOLUTION.vcf")["tags"] == ["vip"]
    rec = only("ez-vcard/thunderbird-MoreFunctionsForAddressBook-extension.vcf")
    assert rec["tags"] == ["category1", "category2", "category3"]
    assert cards("ical4j-vcard/vcard-vCards-SAP.vcf")[0].record["tags"] == ["demo", "nepomuk-sap"]


def test_company_card_is_an_org():
    got = cards("ical4j-vcard/vcard-vCards-SAP.vcf")
    assert len(got) == 30
    orgs = [c for c in got if c.kind == "org"]
    assert len(orgs) == 1
    org = orgs[0].record
    assert org["name"] == "Karlsruhe Travel"
    assert org["domain"] == "karlsruhetravel.com"
    assert org["fields"]["contact"] == "Frida Töcken"
    kinds = [
        c.kind for c in read_vcards(b"BEGIN:VCARD\nVERSION:4.0\nKIND:org\nFN:Acme\nEND:VCARD\n")
    ]
    assert kinds == ["org"]


def test_lotus_notes_card_that_khard_crashes_on():
    rec = only("ez-vcard/John_Doe_LOTUS_NOTES.vcf")
    assert rec["name"] == "Mr. Doe John I Johny"
    assert rec["org"] == "IBM"
    assert rec["emails"][:2] == ["work=john.doe@ibm.com", "work=billy_bob@gmail.com"]
    assert rec["postal_code"] == "NYC887"
    assert rec["external_id"] == "0e7602cc-443e-4b82-b4b1-90f62f99a199"


def test_multi_card_files_give_the_right_count():
    counts = {
        "ez-vcard/gmail-list.vcf": 3,
        "ez-vcard/rfc2426-example.vcf": 2,
        "aosp-vcard/v21_multiple_entry.vcf": 3,
        "aosp-vcard/v21_nest.vcf": 3,
        "node-vcf/multiple.vcf": 3,
        "ical4j-vcard/vcard-rfc2426.vcf": 2,
        "ical4j-vcard/vcard-vCards-SAP.vcf": 30,
    }
    for rel, n in counts.items():
        assert len(cards(rel)) == n, rel
    assert [c.line for c in cards("aosp-vcard/v21_multiple_entry.vcf")] == [1, 12, 23]


def test_invalid_cards_give_reasons():
    for rel in ("aosp-vcard/v21_android_custom_prop.vcf", "aosp-vcard/v21_im.vcf",
                "node-vcf/photo-base64.vcf", "ical4j-vcard/valid/vcard-url.vcf"):  # fmt: skip
        (c,) = cards(rel)
        assert c.record is None and c.error.startswith("no name"), rel
    (c,) = read_vcards(b"BEGIN:VCARD\nVERSION:3.0\nFN:Cut short\nEMAIL:a@b.es\n")
    assert c.error and "not closed" in c.error
    (c,) = read_vcards(b"hello, not a card")
    assert c.error and "BEGIN:VCARD" in c.error


def test_bad_base64_photo_does_not_fail_the_card():
    (c,) = cards("aosp-vcard/v21_malformed_photo.vcf", photos="keep")
    assert c.record["name"] == "fullname" and "photo" not in c.record
    assert any("base64" in n for n in c.notes)
    rec = only("ez-vcard/John_Doe_IPHONE.vcf", photos="keep")
    assert rec["photo"].startswith("data:image/jpeg;base64,/9j/")
    assert "photo" not in only("ez-vcard/John_Doe_IPHONE.vcf")


def test_parameters_in_every_form_and_leading_zeros():
    rec = only("aosp-vcard/v30_comma_separated.vcf")  # a quoted ':' inside a parameter
    assert rec["phones"] == ["comma separated inside dquote=1"]
    rec = only("ez-vcard/outlook-2007.vcf")  # 2.1 bare TYPEs
    assert "work fax=(111) 555-3333" in rec["phones"]
    rec = only("ez-vcard/John_Doe_MAC_ADDRESS_BOOK.vcf")  # TYPE=WORK;TYPE=FAX
    assert "work fax=905-999-1234" in rec["phones"]
    rec = only("ical4j-vcard/vcard-antoni-kontact.vcf")
    assert rec["postal_code"] == "74-023"
    (c,) = read_vcards(
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ana\r\nADR:;;Calle 1;Soria;;01002;ES\r\nEND:VCARD\r\n"
    )
    assert c.record["postal_code"] == "01002"


def test_jcard_and_xcard():
    rec = only("ez-vcard/jcard-example.json")
    assert rec["name"] == "Simon Perreault" and rec["postal_code"] == "G1V 2M2"
    assert "work=+1-418-656-9254;ext=102" in rec["phones"]
    rec = only("ez-vcard/rfc6351-example.xml")
    assert rec["street"] == "2875 boul. Laurier, suite D2-630"
    assert rec["birthday"] == "--02-03"
    assert only("node-vcf/jcard.json")["org"] == "Bubba Gump Shrimp Co"


def test_utf16_and_bom_files():
    text = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:José Núñez\r\nEND:VCARD\r\n"
    for data in (text.encode("utf-16"), b"\xef\xbb\xbf" + text.encode("utf-8")):
        (c,) = read_vcards(data)
        assert c.record["name"] == "José Núñez"


# --------------------------------------------------------------------------- round trip


def _readable_records() -> list[dict]:
    out = []
    for path in FILES:
        for c in read_vcards(path):
            if c.record:
                out.append(c.record)
    return out


@pytest.mark.parametrize("version", ["4.0", "3.0"])
def test_write_then_read_gives_the_same_records(version):
    records = _readable_records()
    text = write_vcards(records, version=version)
    back = list(read_vcards(text.encode("utf-8")))
    assert [c.error for c in back if c.error] == []
    assert [c.record for c in back] == records
    assert [c.kind for c in back].count("org") == 1


def test_writer_accepts_our_json_shapes():
    rec = {"name": "Ana Pérez", "first_name": "Ana", "last_name": "Pérez",
           "emails": [{"value": "ana@x.es", "label": "work"}],
           "phones": [{"value": "+34600111222", "raw": "600 111 222", "label": None}],
           "custom": {"note": "hola"}, "org": None}  # fmt: skip
    (c,) = read_vcards(write_vcards([rec]).encode())
    assert c.record["emails"] == ["work=ana@x.es"]
    assert c.record["phones"] == ["600 111 222"]
    assert c.record["fields"] == {"note": "hola"}


@pytest.mark.parametrize("version", ["4.0", "3.0"])
def test_vobject_reads_what_we_write(version):
    vobject = pytest.importorskip("vobject")
    records = _readable_records()
    parsed = list(vobject.readComponents(write_vcards(records, version=version)))
    assert len(parsed) == len(records)
    for comp, rec in zip(parsed, records):
        assert comp.fn.value == rec["name"]
        if rec.get("emails"):
            assert comp.email.value == validate.split_label(rec["emails"][0])[1]


_text = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"), whitelist_characters=",;\\\n:\"'ñé漢字"
    ),
    min_size=1,
    max_size=60,
).map(lambda s: "\n".join(line.strip() for line in s.split("\n")).strip())


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(name=_text, note=_text, org=_text, street=_text, title=_text)
def test_text_values_survive_write_and_read(name, note, org, street, title):
    name = name.replace("\n", " ").strip() or "x"
    org = org.replace("\n", " ").strip()
    rec = {"name": name, "title": title or None, "org": org or None, "street": street or None,
           "fields": {"note": note}}  # fmt: skip
    want = {k: v for k, v in rec.items() if v and v != {"note": ""}}
    for version in ("4.0", "3.0"):
        (c,) = read_vcards(write_vcards([rec], version=version).encode("utf-8"))
        assert c.error is None
        assert c.record == want


def test_a_birthday_without_a_year_survives_vcard_3():
    out = write_vcards([{"name": "A B", "first_name": "A", "last_name": "B", "birthday": "--12-25"}],
                       version="3.0")  # fmt: skip
    assert "BDAY;X-APPLE-OMIT-YEAR=1604:1604-12-25" in out  # 3.0 has no yearless date
    assert [c.record["birthday"] for c in read_vcards(out.encode())] == ["--12-25"]
