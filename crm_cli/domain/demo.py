"""A realistic, seeded sample: always the same people and companies for the same version."""

from __future__ import annotations

import random
import unicodedata

from crm_cli.domain import contacts, orgs, settings
from crm_cli.storage import contacts as contact_store
from crm_cli.storage import orgs as org_store
from crm_cli.storage.db import Db, transaction

SEED = 20260301

ES_FIRST = ["Ana", "Lucía", "María José", "Carmen", "Pablo", "Javier", "Sergio", "Marta", "Irene", "Álvaro",
            "Nuria", "Íñigo", "Begoña", "Raúl", "Elena", "Jordi", "Montserrat", "Andrés", "Rocío", "Víctor"]  # fmt: skip
ES_LAST = ["García", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Ruiz", "Díaz",
           "Muñoz", "Álvarez", "Romero", "Navarro", "Torres", "Domínguez", "Gil", "Vázquez", "Ibáñez"]  # fmt: skip
EN_FIRST = ["Oliver", "Emma", "James", "Sophie", "Harry", "Grace", "Jack", "Chloe", "George", "Amelia",
            "Thomas", "Isla", "Daniel", "Hannah", "Liam", "Olivia", "Noah", "Ruby"]  # fmt: skip
EN_LAST = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Evans",
           "O'Neill", "Walker", "Wright", "Thompson", "Hughes", "Clarke", "Patel"]  # fmt: skip

ORGS = [
    # name, domain, industry, size, city, country, phone, lang
    ("Acme SL", "acme.es", "manufacturing", "51-200", "Valencia", "ES", "+34 963 123 456", "es"),
    ("Olivares Logística SA", "olivares-logistica.es", "logistics", "201-500", "Zaragoza", "ES", "+34 976 555 010", "es"),
    ("Bodegas Río Seco", "rioseco.wine", "food & beverage", "11-50", "Logroño", "ES", "+34 941 220 330", "es"),
    ("Clínica Dental Sonrisa", "sonrisadental.es", "healthcare", "1-10", "Sevilla", "ES", "+34 954 700 800", "es"),
    ("Northwind Traders Ltd", "northwind.co.uk", "wholesale", "51-200", "Leeds", "GB", "+44 113 496 0000", "en"),
    ("Brightside Software", "brightside.io", "software", "11-50", "Bristol", "GB", "+44 117 496 0123", "en"),
    ("Harbour & Finch LLP", "harbourfinch.com", "legal", "11-50", "London", "GB", "+44 20 7946 0991", "en"),
    ("Greenfield Schools Trust", "greenfield.org.uk", "education", "501-1000", "Manchester", "GB", "+44 161 496 0456", "en"),
]  # fmt: skip

TITLES = ["CEO", "CTO", "Head of Sales", "Purchasing Manager", "Operations Director", "Office Manager",
          "Marketing Lead", "Finance Director", "IT Manager", "Account Executive"]  # fmt: skip
ES_CITIES = ["Madrid", "Barcelona", "Valencia", "Bilbao", "Málaga", "Granada", "Murcia", "A Coruña"]
EN_CITIES = ["London", "Birmingham", "Glasgow", "Cardiff", "Brighton", "York", "Belfast", "Oxford"]
SOURCES = ["website", "referral", "fair2024", "linkedin", "cold-call", "newsletter"]


def _slug(text: str) -> str:
    s = unicodedata.normalize("NFKD", text)
    s = "".join(c for c in s if not unicodedata.combining(c)).lower()
    return "".join(c for c in s if c.isalnum() or c == " ").replace(" ", "")


def _person(rng: random.Random, lang: str) -> tuple[str, str]:
    if lang == "es":
        return rng.choice(ES_FIRST), f"{rng.choice(ES_LAST)} {rng.choice(ES_LAST)}"
    return rng.choice(EN_FIRST), rng.choice(EN_LAST)


def _mobile(rng: random.Random, lang: str) -> str:
    if lang == "es":
        return f"+34 6{rng.randint(0, 99):02d} {rng.randint(0, 999):03d} {rng.randint(0, 999):03d}"
    return f"+44 7700 900{rng.randint(0, 999):03d}"


def records(seed: int = SEED) -> tuple[list[dict], list[dict]]:
    """The sample's organizations and contacts as plain records (deterministic)."""
    rng = random.Random(seed)
    org_recs, people = [], []
    used: set[str] = set()
    for name, domain, industry, size, city, country, phone, lang in ORGS:
        org_recs.append({"name": name, "domain": domain, "industry": industry, "size": size,
                         "city": city, "country": country, "phones": [f"office={phone}"],
                         "tags": ["key-account"] if size in ("201-500", "501-1000") else []})  # fmt: skip
        for _ in range(rng.randint(3, 6)):
            first, last = _person(rng, lang)
            local = f"{_slug(first)}.{_slug(last.split()[0])}"
            while local in used:
                local += str(rng.randint(1, 9))
            used.add(local)
            people.append({
                "first_name": first, "last_name": last, "name": f"{first} {last}",
                "emails": [f"work={local}@{domain}"], "phones": [f"mobile={_mobile(rng, lang)}"],
                "title": rng.choice(TITLES), "org": name, "city": city, "country": country,
                "stage": rng.choice(["lead", "prospect", "customer", "customer"]),
                "source": rng.choice(SOURCES),
                "tags": rng.sample(["vip", "newsletter", "decision-maker", "technical", "events"], rng.randint(0, 2)),
                "consent": rng.choice(["granted", "granted", "unknown"]),
            })  # fmt: skip
    for i in range(30):  # B2C consumers: no organization
        lang = "es" if i % 3 else "en"
        first, last = _person(rng, lang)
        local = f"{_slug(first)}{_slug(last.split()[0])}{rng.randint(10, 99)}"
        provider = rng.choice(
            ["gmail.com", "outlook.com", "yahoo.es" if lang == "es" else "btinternet.com"]
        )
        year, month, day = rng.randint(1955, 2004), rng.randint(1, 12), rng.randint(1, 28)
        people.append({
            "first_name": first, "last_name": last, "name": f"{first} {last}",
            "emails": [f"home={local}@{provider}"], "phones": [f"mobile={_mobile(rng, lang)}"],
            "city": rng.choice(ES_CITIES if lang == "es" else EN_CITIES),
            "country": "ES" if lang == "es" else "GB",
            "stage": rng.choice(["lead", "customer", "customer", "churned"]),
            "source": rng.choice(["website", "newsletter", "store"]),
            "tags": rng.sample(["b2c", "newsletter", "loyalty", "vip"], rng.randint(1, 2)),
            "consent": rng.choice(["granted", "opted_out", "unknown"]),
            "birthday": f"{year:04d}-{month:02d}-{day:02d}",
        })  # fmt: skip
    return org_recs, people


def load_demo(db: Db) -> dict | None:
    """Fill an empty database with the sample; on a non-empty one change nothing (None)."""
    org_recs, people = records()
    # The sample speaks of the default stages; map them onto the team's own by position.
    st = settings.stages(db)
    default = ["lead", "prospect", "customer", "churned"]
    mapping = {name: st[min(i, len(st) - 1)] if i < 3 else st[-1] for i, name in enumerate(default)}
    people = [{**p, "stage": mapping[p["stage"]]} for p in people]
    with transaction(db, "demo"):
        # Checked under the write lock, so two demos at once cannot both fill it.
        if contact_store.count(db) or org_store.count(db):
            return None
        for rec in org_recs:
            rec = dict(rec)
            orgs.add(db, rec.pop("name"), **rec)
        ids = contacts.add_many(db, people, label="demo")
    return {"orgs": len(org_recs), "contacts": len(ids)}
