"""Tests for the filter language: parsing (domain), the tree (query) and SQL (storage)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_cli.domain import dates, filters
from crm_cli.errors import InvalidInput
from crm_cli.query import OPS_BY_TYPE, Amount, And, Cond, Not, Or, render
from crm_cli.storage.db import fold, register_functions
from crm_cli.storage.filters import (
    CONTACT_FIELDS,
    ORG_FIELDS,
    FieldSql,
    compile_filter,
    filter_types,
)
from crm_cli.storage.migrations import migrate

MADRID = ZoneInfo("Europe/Madrid")
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=MADRID)  # a Tuesday
MAX_MINOR = 2**63 - 1

PROPS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# A table with a field of every type, for the types contacts and orgs do not use.
TEST_TABLES = """
CREATE TABLE t (
    id INTEGER PRIMARY KEY, name TEXT, stage TEXT, amount_minor INTEGER, created_at TEXT,
    due_date TEXT, active INTEGER, custom TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE t_tags (t_id INTEGER NOT NULL, tag TEXT NOT NULL);
CREATE TABLE t_emails (t_id INTEGER NOT NULL, value TEXT NOT NULL);
"""
TEST_SPEC = {
    "id": FieldSql("number", "t.id"),
    "name": FieldSql("text", "t.name"),
    "stage": FieldSql("enum", "t.stage"),
    "amount": FieldSql("money", "t.amount_minor"),
    "created": FieldSql("instant", "t.created_at"),
    "due": FieldSql("date", "t.due_date"),
    "active": FieldSql("bool", "t.active"),
    "tag": FieldSql(
        "tag", "x.tag", "EXISTS (SELECT 1 FROM t_tags x WHERE x.t_id = t.id AND {cond})"
    ),
    "email": FieldSql(
        "multi", "x.value", "EXISTS (SELECT 1 FROM t_emails x WHERE x.t_id = t.id AND {cond})"
    ),
    "field": FieldSql("custom", "t.custom"),
}
FIELDS = filter_types(TEST_SPEC)
CONTACT_TYPES = filter_types(CONTACT_FIELDS)
ORG_TYPES = filter_types(ORG_FIELDS)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_CONFIG_DIR", str(tmp_path / "filters-config"))
    monkeypatch.setenv("CRM_NOW", "2026-03-10T09:00:00+01:00")


def parse(args, fields=FIELDS):
    return filters.parse(args, fields, now=NOW, tz=MADRID)


def connect(path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None)
    register_functions(conn)
    migrate(conn)
    for stmt in TEST_TABLES.split(";"):
        if stmt.strip():
            conn.execute(stmt)
    return conn


SEED = """
INSERT INTO users (id, name, created_at, updated_at) VALUES
  (1, 'alice', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z'),
  (2, 'bob', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z');
INSERT INTO orgs (id, name, domain, city, owner_id, custom, created_at, updated_at) VALUES
  (1, 'Acme SL', 'acme.es', 'Madrid', 1, '{"tier": "gold"}',
   '2025-06-01T10:00:00Z', '2026-03-01T10:00:00Z'),
  (2, 'Globex', 'globex.fr', 'Paris', NULL, '{}', '2025-07-01T10:00:00Z', '2025-07-01T10:00:00Z'),
  (3, 'Initech', NULL, NULL, 2, '{}', '2026-03-09T10:00:00Z', '2026-03-09T10:00:00Z');
INSERT INTO contacts (id, name, first_name, last_name, org_id, city, stage, owner_id, consent,
                      birthday, custom, created_at, updated_at) VALUES
  (1, 'Ana García', 'Ana', 'García', 1, 'Madrid', 'lead', 1, 'granted', '--05-17',
   '{"industry": "retail", "score": 7}', '2026-03-01T10:00:00Z', '2026-03-09T10:00:00Z'),
  (2, 'Bob O''Neil', 'Bob', 'O''Neil', 1, NULL, 'customer', 2, 'unknown', NULL,
   '{"score": "12.5"}', '2026-02-28T23:30:00Z', '2026-03-10T07:00:00Z'),
  (3, 'Carla Núñez', 'Carla', 'Núñez', 2, 'Barcelona', 'customer', NULL, 'opted_out', NULL,
   '{"industry": "Retail Banking", "renewal": "2026-06-01"}',
   '2026-03-01T23:30:00Z', '2026-03-02T00:00:00Z'),
  (4, 'dave', NULL, NULL, NULL, '', NULL, NULL, 'unknown', '1990-01-02', '{}',
   '2025-12-01T12:00:00Z', '2025-12-01T12:00:00Z');
INSERT INTO emails (contact_id, value) VALUES
  (1, 'ana@example.com'), (1, 'ana.garcia@acme.es'), (2, 'BOB@acme.es'), (3, 'carla@globex.fr');
INSERT INTO phones (contact_id, org_id, value, raw) VALUES
  (1, NULL, '+34600111222', '600 11 12 22'),
  (3, NULL, '+33123456789', '01 23 45 67 89'),
  (NULL, 1, '+34910000000', '91 000 00 00');
INSERT INTO contact_tags (contact_id, tag) VALUES (1, 'vip'), (1, 'madrid'), (2, 'VIP'),
  (3, 'partner');
INSERT INTO org_tags (org_id, tag) VALUES (1, 'key-account');
INSERT INTO t (id, name, stage, amount_minor, created_at, due_date, active, custom) VALUES
  (1, 'one', 'open', 150000, '2026-03-10T08:00:00Z', '2026-03-10', 1, '{"n": 1}'),
  (2, 'two', 'won', 99999, '2026-03-09T08:00:00Z', '2026-03-11', 0, '{}'),
  (3, 'three', NULL, NULL, NULL, NULL, NULL, '{}');
INSERT INTO t_tags VALUES (1, 'a'), (2, 'b');
INSERT INTO t_emails VALUES (1, 'one@x.org');
"""


@pytest.fixture
def db(tmp_path):
    conn = connect(tmp_path / "filters.db")
    for stmt in SEED.split(";\n"):
        if stmt.strip():
            conn.execute(stmt)
    yield conn
    conn.close()


_ENTITIES = {
    "contacts": ("SELECT c.id FROM contacts c WHERE {} ORDER BY c.id", CONTACT_FIELDS),
    "orgs": ("SELECT o.id FROM orgs o WHERE {} ORDER BY o.id", ORG_FIELDS),
    "t": ("SELECT t.id FROM t WHERE {} ORDER BY t.id", TEST_SPEC),
}


def ids(conn, entity, args) -> list[int]:
    select, spec = _ENTITIES[entity]
    node = filters.parse(args, filter_types(spec), now=NOW, tz=MADRID)
    where, params = compile_filter(node, spec)
    assert where.count("?") == len(params)
    return [r[0] for r in conn.execute(select.format(where), params)]


# -- parsing: shapes ---------------------------------------------------------


def test_empty_is_none():
    assert parse([]) is None
    assert parse("") is None
    assert parse(["", "   "]) is None


def test_single_terms():
    assert parse("name:ana") == Cond("name", "=", "ana")
    assert parse("name=ana") == Cond("name", "=", "ana")
    assert parse("name!=ana") == Cond("name", "!=", "ana")
    assert parse("name~ana") == Cond("name", "~", "ana")
    assert parse("name!~ana") == Cond("name", "!~", "ana")
    assert parse("id>3") == Cond("id", ">", 3)
    assert parse("id>=-3") == Cond("id", ">=", -3)
    assert parse("id<3") == Cond("id", "<", 3)
    assert parse("id<=3") == Cond("id", "<=", 3)
    assert parse("tag:vip") == Cond("tag", "=", "vip")
    assert parse("has:email") == Cond("email", "has", None)
    assert parse("NO:Email") == Cond("email", "no", None)
    assert parse("active:yes") == Cond("active", "=", True)
    assert parse("active!=false") == Cond("active", "!=", False)


def test_args_are_anded_and_juxtaposition_is_and():
    vip, garcia = Cond("tag", "=", "vip"), Cond("name", "~", "garcia")
    assert parse(["!tag:vip", "name~garcia"]) == And((Not(vip), garcia))
    assert parse("tag:vip name~garcia") == And((vip, garcia))
    assert parse("tag:vip AND name~garcia") == And((vip, garcia))
    assert parse(["tag:vip name~garcia", "id:1"]) == And((vip, garcia, Cond("id", "=", 1)))


def test_or_binds_looser_than_and():
    a, b, c = Cond("id", "=", 1), Cond("id", "=", 2), Cond("id", "=", 3)
    assert parse("id:1 id:2 or id:3") == Or((And((a, b)), c))
    assert parse("id:1 (id:2 or id:3)") == And((a, Or((b, c))))
    assert parse("id:1 or id:2 Or id:3") == Or((a, b, c))
    assert parse(["id:1 or id:2", "id:3"]) == And((Or((a, b)), c))


def test_negation():
    a, b = Cond("id", "=", 1), Cond("id", "=", 2)
    assert parse("!id:1") == Not(a)
    assert parse("! id:1") == Not(a)
    assert parse("not id:1") == Not(a)
    assert parse("NOT(id:1 or id:2)") == Not(Or((a, b)))
    assert parse("!(id:1 id:2)") == Not(And((a, b)))
    assert parse("!!id:1") == Not(Not(a))
    assert parse("not id:1 id:2") == And((Not(a), b))


def test_keywords_only_when_bare():
    assert parse("name:or") == Cond("name", "=", "or")
    assert parse("name:'and'") == Cond("name", "=", "and")
    with pytest.raises(InvalidInput, match="unknown field 'or'"):
        parse("or:1")


def test_quoting_and_escapes():
    assert parse('name:"Acme SL"') == Cond("name", "=", "Acme SL")
    assert parse("name~'o\\'neil'") == Cond("name", "~", "o'neil")
    assert parse("name~o'neil") == Cond("name", "~", "o'neil")
    assert parse('name:"a \\"b\\" \\\\ c"') == Cond("name", "=", 'a "b" \\ c')
    assert parse("name:a\\ b") == Cond("name", "=", "a b")
    assert parse('name:""') == Cond("name", "=", "")
    assert parse('(name:"x y")') == Cond("name", "=", "x y")
    assert parse("name:a(name:b)") == And((Cond("name", "=", "a"), Cond("name", "=", "b")))


def test_custom_fields():
    assert parse("field.industry:retail") == Cond("field.industry", "=", "retail")
    assert parse("field.lead-score>4.5") == Cond("field.lead-score", ">", "4.5")
    assert parse("has:field.industry") == Cond("field.industry", "has", None)
    assert parse("has:field") == Cond("field", "has", None)


def test_field_names_are_case_insensitive():
    assert parse("NAME:x") == Cond("name", "=", "x")
    assert parse("Field.Key:x") == Cond("field.Key", "=", "x")


def test_money_uses_config_currency(tmp_path):
    assert parse("amount>1,000.50") == Cond("amount", ">", Amount(100050, 2))
    assert parse("amount:€3") == Cond("amount", "=", Amount(300, 2))
    cfg = tmp_path / "jpy"
    cfg.mkdir()
    (cfg / "config.toml").write_text('[money]\ncurrency = "JPY"\n')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRM_CONFIG_DIR", str(cfg))
        assert parse("amount>1000") == Cond("amount", ">", Amount(1000, 0))
        with pytest.raises(InvalidInput, match="JPY takes no decimals"):
            parse("amount>1.5")


def test_instants_become_spans():
    assert parse("created:2024-01-01") == Cond(
        "created", "=", ("2023-12-31T23:00:00Z", "2024-01-01T23:00:00Z")
    )
    assert parse("created>-30d") == Cond(
        "created", ">", ("2026-02-07T23:00:00Z", "2026-02-08T23:00:00Z")
    )
    assert parse("created<'2024-01-01 10:00'") == Cond(
        "created", "<", ("2024-01-01T09:00:00Z", "2024-01-01T09:00:00Z")
    )
    assert parse("created:2024-01-01..2024-01-31") == Cond(
        "created", "=", ("2023-12-31T23:00:00Z", "2024-01-31T23:00:00Z")
    )
    assert parse("created>=yesterday") == Cond(
        "created", ">=", ("2026-03-08T23:00:00Z", "2026-03-09T23:00:00Z")
    )


def test_dates_become_day_spans():
    assert parse("due:today") == Cond("due", "=", ("2026-03-10", "2026-03-11"))
    assert parse("due<'tomorrow 9am'") == Cond("due", "<", ("2026-03-11", "2026-03-12"))
    assert parse("due:2026-03-01..2026-03-31") == Cond("due", "=", ("2026-03-01", "2026-04-01"))


# -- parsing: errors ---------------------------------------------------------

VALID = "active, amount, created, due, email, field.KEY, id, name, stage, tag"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo:1", f"filter 'foo:1': unknown field 'foo'; valid fields: {VALID}"),
        ("has:foo", f"unknown field 'foo'; valid fields: {VALID}"),
        ("name~", "missing value after 'name~'"),
        ("name: x", "missing value after 'name:'"),
        ("(name:x", "'(' is never closed"),
        ("(", "'(' is never closed"),
        ("name:x)", "unbalanced ')'"),
        (")", "unbalanced ')'"),
        ("()", "empty parentheses"),
        ("name:x or", "'or' needs a filter after it"),
        ("or name:x", "'or' needs a filter before it"),
        ("name:x or or name:y", "'or' needs a filter after it"),
        ("name:x and", "'and' needs a filter after it"),
        ("name:x (or name:y)", "'or' needs a filter before it"),
        ("!", "'!' needs a filter after it"),
        ("not", "'not' needs a filter after it"),
        ("name:x !", "'!' needs a filter after it"),
        ("id~3", "'~' does not apply to 'id' (number); use :, !=, >, >=, <, <="),
        ("tag>3", "'>' does not apply to 'tag' (tag)"),
        ("name>b", "'>' does not apply to 'name' (text)"),
        ("created~2024", "'~' does not apply to 'created' (instant)"),
        ("active>1", "'>' does not apply to 'active' (bool)"),
        ("id:abc", "'id' takes a whole number, not 'abc'"),
        ("id:1.5", "'id' takes a whole number"),
        ("id:99999999999999999999", "'id' takes a whole number"),
        ("active:maybe", "'active' takes true or false"),
        ("amount>12,5", "use '.' for decimals"),
        ("amount>1.234", "too many decimals"),
        ("amount>$5", "does not stand for EUR"),
        ("created>someday", "cannot read 'someday' as a date or time"),
        ("created:2024-02-01..2024-01-01", "ends before it starts"),
        ("created:2024-01-01..", "a range needs both ends"),
        ('name:"abc', 'unterminated " quote'),
        ("name:'abc", "unterminated ' quote"),
        ('name:"a"b', "unexpected text 'b' right after a quoted value"),
        ("name:abc\\", "a backslash at the end"),
        ("ana", "'ana' is not a filter term: write field:value, e.g. name~ana"),
        ("name", "'name' needs an operator and a value, e.g. name:VALUE"),
        ("name!x", "expected an operator after 'name', not '!x'"),
        (":x", "missing field name before ':x'"),
        ("'x'", "a value needs a field in front of it"),
        ("has>email", "write has:FIELD"),
        ("field:x", "custom fields are written field.KEY"),
        ("field.a$b:x", "custom field key 'a$b' may hold only"),
        ("field.:x", "custom field key '' may hold only"),
        ("@", "'@' is not a filter term"),
    ],
)
def test_errors(text, message):
    with pytest.raises(InvalidInput) as exc:
        parse(text)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_error_names_the_argument():
    with pytest.raises(InvalidInput, match=r"^filter 'id~3': "):
        parse(["name:x", "id~3"])


def test_non_text_argument():
    with pytest.raises(InvalidInput):
        parse([3])  # type: ignore[list-item]


def test_deep_nesting_is_invalid_input_not_a_crash():
    with pytest.raises(InvalidInput):
        parse("(" * 5000 + "id:1" + ")" * 5000)


# -- render ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("node", "text"),
    [
        (Cond("name", "=", "ana"), "name:ana"),
        (Cond("name", "=", "Acme SL"), 'name:"Acme SL"'),
        (Cond("name", "~", 'o"neil'), 'name~"o\\"neil"'),
        (Cond("name", "!=", ""), 'name!=""'),
        (Cond("name", "=", "=x"), 'name:"=x"'),
        (Cond("id", ">", -3), "id>-3"),
        (Cond("active", "=", True), "active:true"),
        (Cond("amount", ">=", Amount(-150, 2)), "amount>=-1.50"),
        (Cond("email", "has", None), "has:email"),
        (Cond("due", "=", ("2026-03-10", "2026-03-11")), "due:2026-03-10"),
        (Cond("due", "=", ("2026-03-01", "2026-04-01")), "due:2026-03-01..2026-03-31"),
        (
            Cond("created", "<", ("2024-01-01T09:00:00Z", "2024-01-01T09:00:00Z")),
            "created<2024-01-01T09:00:00Z",
        ),
        (
            Cond("created", "=", ("2023-12-31T23:00:00Z", "2024-01-01T23:00:00Z")),
            "created:2023-12-31T23:00:00Z..2024-01-01T23:00:00Z",
        ),
        (Not(Cond("tag", "=", "vip")), "!tag:vip"),
        (Not(Or((Cond("id", "=", 1), Cond("id", "=", 2)))), "!(id:1 or id:2)"),
        (
            And((Or((Cond("id", "=", 1), Cond("id", "=", 2))), Cond("tag", "=", "x"))),
            "(id:1 or id:2) tag:x",
        ),
        (
            Or((And((Cond("id", "=", 1), Cond("id", "=", 2))), Cond("id", "=", 3))),
            "id:1 id:2 or id:3",
        ),
        (None, ""),
    ],
)
def test_render(node, text):
    assert render(node) == text
    assert parse(text) == node


# -- SQL: contacts -----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("tag:vip", [1, 2]),
        ("tag:VIP", [1, 2]),
        ("!tag:vip", [3, 4]),
        ("tag!=vip", [3, 4]),
        ("tag~art", [3]),
        ("tag!~ad", [2, 3, 4]),
        ("has:tag", [1, 2, 3]),
        ("no:tag", [4]),
        ("name~garcia", [1]),
        ("name~GARCÍA", [1]),
        ("name~nunez", [3]),
        ('name:"ana garcía"', [1]),
        ("name~'o\\'neil'", [2]),
        ("name!=dave", [1, 2, 3]),
        ("name!~a", [2]),
        ("first_name:ana last_name~garc", [1]),
        ("email:ANA@EXAMPLE.COM", [1]),
        ("email~acme", [1, 2]),
        ("email!=bob@acme.es", [1, 3, 4]),
        ("email!~acme", [3, 4]),
        ("has:email", [1, 2, 3]),
        ("no:email", [4]),
        ("phone:+34600111222", [1]),
        ('phone:"600 11 12 22"', [1]),
        ("phone~600", [1]),
        ("phone~'45 67'", [3]),
        ("no:phone", [2, 4]),
        ('org:"acme sl"', [1, 2]),
        ("org~glob", [3]),
        ("no:org", [4]),
        ("org_id:1", [1, 2]),
        ("owner:ALICE", [1]),
        ("no:owner", [3, 4]),
        ("city:madrid", [1]),
        ("city!=madrid", [2, 3, 4]),
        ("!city:madrid", [2, 3, 4]),
        ("has:city", [1, 3]),
        ("no:city", [2, 4]),
        ("stage:lead or stage:customer", [1, 2, 3]),
        ("stage!=lead", [2, 3, 4]),
        ("(stage:customer or tag:vip) !org~globex", [1, 2]),
        ("not (stage:customer or tag:vip)", [4]),
        ("consent:granted", [1]),
        ("consent:unknown", [2, 4]),
        ("birthday~05-17", [1]),
        ("has:birthday", [1, 4]),
        ("id>2", [3, 4]),
        ("id<=2", [1, 2]),
        ("id!=1", [2, 3, 4]),
        ("created:2026-03-01", [1, 2]),
        ("created>2026-03-01", [3]),
        ("created>=2026-03-01", [1, 2, 3]),
        ("created<2026-03-01", [4]),
        ("created<=2026-03-01", [1, 2, 4]),
        ("created!=2026-03-01", [3, 4]),
        ("created>-30d", [1, 2, 3]),
        ("created<-30d", [4]),
        ("created:2026-02-28..2026-03-01", [1, 2]),
        ("created>='2026-03-01 11:00'", [1, 3]),
        ("created:2026-03-01T10:00:00Z", [1]),
        ("created>2026-03-01T10:00:00Z", [3]),
        ("created<=2026-03-01T10:00:00Z", [1, 2, 4]),
        ("updated:today", [2]),
        ("updated>=yesterday", [1, 2]),
        ("field.industry:retail", [1]),
        ("field.industry:RETAIL", [1]),
        ("field.industry~retail", [1, 3]),
        ("field.score>5", [1, 2]),
        ("field.score<10", [1]),
        ("field.score>=12.5", [2]),
        ("field.score:7", [1]),
        ("field.score!=7", [2, 3, 4]),
        ("field.renewal>2026-01-01", [3]),
        ("field.industry>=r", [1]),
        ("has:field.industry", [1, 3]),
        ("no:field.industry", [2, 4]),
        ("has:field", [1, 2, 3]),
        ("no:field", [4]),
        (["tag:vip", "city:madrid"], [1]),
        ([], [1, 2, 3, 4]),
    ],
)
def test_contact_filters(db, args, expected):
    assert ids(db, "contacts", args) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("people>1", [1]),
        ("people:0", [3]),
        ("people:1", [2]),
        ("tag:key-account", [1]),
        ("no:tag", [2, 3]),
        ("phone~910", [1]),
        ("phone:'91 000 00 00'", [1]),
        ("name~acme", [1]),
        ("domain:ACME.ES", [1]),
        ("no:domain", [3]),
        ("city:paris or owner:bob", [2, 3]),
        ("owner:alice", [1]),
        ("field.tier:gold", [1]),
        ("created>-7d", [3]),
        ("updated<2026-01-01", [2]),
    ],
)
def test_org_filters(db, args, expected):
    assert ids(db, "orgs", args) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("amount>1000", [1]),
        ("amount<=999.99", [2]),
        ("amount:1500", [1]),
        ("amount!=1500", [2, 3]),
        ("has:amount", [1, 2]),
        ("no:amount", [3]),
        ("active:true", [1]),
        ("active:false", [2, 3]),
        ("active!=true", [2, 3]),
        ("due:today", [1]),
        ("due>today", [2]),
        ("due<=tomorrow", [1, 2]),
        ("due<tomorrow", [1]),
        ("due:2026-03-10..2026-03-11", [1, 2]),
        ("due!=today", [2, 3]),
        ("no:due", [3]),
        ("created:today", [1]),
        ("created>=yesterday", [1, 2]),
        ("created<now", [2]),
        ("created<=now", [1, 2]),
        ("created!=today", [2, 3]),
        ("stage~pe", [1]),
        ("email:ONE@x.org", [1]),
        ("!email~x.org", [2, 3]),
        ("tag:a or tag:b", [1, 2]),
        ("field.n>0", [1]),
    ],
)
def test_other_types(db, args, expected):
    assert ids(db, "t", args) == expected


def test_money_filter_in_jpy(db, tmp_path, monkeypatch):
    cfg = tmp_path / "jpy"
    cfg.mkdir()
    (cfg / "config.toml").write_text('[money]\ncurrency = "JPY"\n')
    monkeypatch.setenv("CRM_CONFIG_DIR", str(cfg))
    assert ids(db, "t", "amount>100000") == [1]


# -- SQL: safety -------------------------------------------------------------

NASTY = [
    "'); DROP TABLE contacts; --",
    '" OR 1=1 --',
    "x' OR '1'='1",
    '$.a") OR 1 --',
    "{cond}",
    "%s ? :x",
]


@pytest.mark.parametrize("value", NASTY)
@pytest.mark.parametrize(
    "field", ["name", "email", "tag", "phone", "org", "owner", "stage", "field.k"]
)
@pytest.mark.parametrize("op", ["=", "!=", "~", "!~"])
def test_values_never_reach_the_sql_text(db, field, op, value):
    node = Cond(field, op, value)
    where, params = compile_filter(node, CONTACT_FIELDS)
    assert value not in where
    assert value in params or fold(value) in params
    assert where.count("?") == len(params)
    db.execute(f"SELECT c.id FROM contacts c WHERE {where}", params).fetchall()
    assert db.execute("SELECT count(*) FROM contacts").fetchone()[0] == 4


def test_custom_key_travels_as_a_json_path_parameter():
    where, params = compile_filter(Cond("field.my-key", "=", "v"), CONTACT_FIELDS)
    assert "my-key" not in where
    assert params == ['$."my-key"', "v"]


def test_compile_none_and_validation():
    assert compile_filter(None, CONTACT_FIELDS) == ("1", [])
    with pytest.raises(InvalidInput, match="unknown filter field"):
        compile_filter(Cond("nope", "=", "x"), CONTACT_FIELDS)
    with pytest.raises(InvalidInput, match="does not apply"):
        compile_filter(Cond("id", "~", "x"), CONTACT_FIELDS)
    with pytest.raises(InvalidInput, match="wrong type"):
        compile_filter(Cond("id", "=", "1"), CONTACT_FIELDS)
    with pytest.raises(InvalidInput, match="unknown filter field"):
        compile_filter(Cond('field.a"b', "=", "x"), CONTACT_FIELDS)
    with pytest.raises(ValueError):
        compile_filter(Cond("id", "=", 1), CONTACT_FIELDS, fold_sql="x; DROP TABLE t")


def test_field_sql_checks_its_shape():
    with pytest.raises(ValueError):
        FieldSql("text")
    with pytest.raises(ValueError):
        FieldSql("weird", "c.x")
    with pytest.raises(ValueError):
        FieldSql("tag", "x.tag")
    with pytest.raises(ValueError):
        FieldSql("text", "c.x = ?")
    with pytest.raises(ValueError):
        FieldSql("text", "c.x", "EXISTS ({cond})")


def test_specs_have_docs_and_types():
    for spec in (CONTACT_FIELDS, ORG_FIELDS):
        for name, fs in spec.items():
            assert fs.doc and "\n" not in fs.doc, name
    assert CONTACT_TYPES["email"] == "multi" and CONTACT_TYPES["tag"] == "tag"
    assert CONTACT_TYPES["created"] == "instant" and CONTACT_TYPES["field"] == "custom"
    assert ORG_TYPES["people"] == "number"


# -- properties --------------------------------------------------------------

_text = st.text(max_size=12)
_key = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,7}", fullmatch=True)
_instant = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)).map(
    lambda d: dates.to_db(d.replace(microsecond=0, tzinfo=UTC))
)


@st.composite
def _instant_span(draw):
    a, b = sorted((draw(_instant), draw(_instant)))
    return (a, a) if draw(st.booleans()) else (a, b)


@st.composite
def _date_span(draw):
    d = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1)))
    return d.isoformat(), (d + timedelta(days=draw(st.integers(1, 400)))).isoformat()


_VALUES = {
    "text": _text,
    "enum": _text,
    "tag": _text,
    "multi": _text,
    "custom": _text,
    "number": st.integers(-(10**18) + 1, 10**18 - 1),
    "money": st.integers(-MAX_MINOR, MAX_MINOR).map(lambda m: Amount(m, 2)),
    "bool": st.booleans(),
    "instant": _instant_span(),
    "date": _date_span(),
}


def _conds(fields: dict[str, str]):
    options = []
    presence = st.sampled_from(["has", "no"])
    for name, ftype in sorted(fields.items()):
        if ftype == "custom":
            fname = _key.map(lambda k, n=name: f"{n}.{k}")
            options.append(st.builds(Cond, st.just(name), presence))
        else:
            fname = st.just(name)
        ops = st.sampled_from(OPS_BY_TYPE[ftype])
        options.append(st.builds(Cond, fname, ops, _VALUES[ftype]))
        options.append(st.builds(Cond, fname, presence))
    return st.one_of(options)


def _group(kind, items):
    flat = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))


def _trees(fields: dict[str, str]):
    return st.recursive(
        _conds(fields),
        lambda kids: st.one_of(
            st.builds(Not, kids),
            st.lists(kids, min_size=2, max_size=3).map(lambda xs: _group(And, xs)),
            st.lists(kids, min_size=2, max_size=3).map(lambda xs: _group(Or, xs)),
        ),
        max_leaves=8,
    )


@given(_trees(FIELDS))
@PROPS
def test_parse_render_round_trip(tree):
    assert parse(render(tree)) == tree


@given(_trees(CONTACT_TYPES), _trees(CONTACT_TYPES))
@PROPS
def test_args_round_trip_as_and(a, b):
    assert parse([render(a), render(b)], CONTACT_TYPES) == _group(And, [a, b])


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory):
    conn = connect(tmp_path_factory.mktemp("filters") / "shared.db")
    for stmt in SEED.split(";\n"):
        if stmt.strip():
            conn.execute(stmt)
    yield conn
    conn.close()


def _executes(conn, entity, tree):
    select, spec = _ENTITIES[entity]
    where, params = compile_filter(tree, spec)
    assert where.count("?") == len(params)
    conn.execute(select.format(where), params).fetchall()


@given(_trees(FIELDS))
@PROPS
def test_every_tree_compiles_to_sql_that_runs_on_test_table(shared_db, tree):
    _executes(shared_db, "t", tree)


@given(_trees(CONTACT_TYPES))
@PROPS
def test_every_contact_tree_runs_on_the_real_schema(shared_db, tree):
    _executes(shared_db, "contacts", tree)


@given(_trees(ORG_TYPES))
@PROPS
def test_every_org_tree_runs_on_the_real_schema(shared_db, tree):
    _executes(shared_db, "orgs", tree)


@given(st.text(max_size=40))
@PROPS
def test_arbitrary_text_raises_only_invalid_input(text):
    try:
        parse(text)
    except InvalidInput as e:
        assert "\n" not in str(e)


_PIECES = [
    *FIELDS, "has", "no", "field.k", "field.", "NAME", ":", "=", "!=", "~", "!~", ">", ">=", "<",
    "<=", "vip", "1", "-3", "1.5", "€5", "-30d", "today", "2024-01-01", "..", "'a b'", '"x"', "'",
    '"', "\\", "(", ")", "!", "or", "and", "not", "OR", " ", " ", "true",
]  # fmt: skip


@given(st.lists(st.sampled_from(_PIECES), max_size=12))
@PROPS
def test_token_soup_raises_only_invalid_input_and_successes_run(shared_db, pieces):
    try:
        tree = parse("".join(pieces))
    except InvalidInput:
        return
    _executes(shared_db, "t", tree)
    assert tree is None or parse(render(tree)) == tree


_TEXTS = st.text(alphabet=st.sampled_from(list("abcxyzABCXYZ _%\\\t-éÉñÑüßøﬁİ'")), max_size=12)


@given(values=st.lists(_TEXTS, min_size=1, max_size=6), needle=_TEXTS.filter(lambda s: s.strip()))
@PROPS
def test_contains_agrees_with_folding_in_python(values, needle):
    """name~X in SQL (LIKE prefilter + fold) finds exactly the values whose fold contains
    fold(X): escapes (%, _, \\), accents, case, non-ASCII and control characters."""
    conn = _memory()
    conn.execute("DELETE FROM t")
    conn.executemany("INSERT INTO t (id, name) VALUES (?, ?)", list(enumerate(values, 1)))
    for op in ("~", "!~"):
        where, params = compile_filter(Cond("name", op, needle), TEST_SPEC)
        got = {r[0] for r in conn.execute(f"SELECT id FROM t WHERE {where}", params)}
        inside = {i for i, v in enumerate(values, 1) if fold(needle) in fold(v)}
        assert got == (inside if op == "~" else set(range(1, len(values) + 1)) - inside)


_MEMORY: list[sqlite3.Connection] = []


def _memory() -> sqlite3.Connection:
    """One in-memory database for all examples (migrating one per example is slow)."""
    if not _MEMORY:
        _MEMORY.append(connect(":memory:"))
    return _MEMORY[0]
