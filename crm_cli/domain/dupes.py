"""Find likely duplicate contacts and organizations: normalise, block, score, cluster.

The core works on plain dicts so it runs without a database (bench/dedupe.py uses it
on the ground-truth sets). Names are folded (case, accents, punctuation); hyphens and
apostrophes count both as separators and joined ('Jean-Luc' = 'Jean Luc' = 'Jeanluc'),
and organization names lose their legal form ('Acme, Inc.' = 'ACME'). Scoring follows
Fellegi-Sunter: every field compared adds a fixed log2 likelihood ratio (agreement for,
disagreement against, a missing value nothing), and the sum becomes a probability with
one fixed prior. Candidate pairs come from blocking keys (emails, phones, birth dates,
whole names, name tokens, street numbers), so only records sharing a key are compared.
Clusters are the connected components of strong pairs, re-split by average linkage so
that one weak bridge cannot chain two people together.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz
from rapidfuzz.distance import Indel, JaroWinkler, Levenshtein

DEFAULT_MIN_SCORE = 0.5
PRIOR_BITS = 8.0  # evidence (log2) needed for even odds: about 1 duplicate pair per 256
MAX_BLOCK = 100  # blocks larger than this carry too little information to compare all pairs
VETO_BITS = -4.0
KEEP_SCORE = 0.0  # pairs below this are not returned by the *_candidates functions


@dataclass(frozen=True)
class Pair:
    a: int
    b: int
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Cluster:
    ids: tuple[int, ...]
    score: float
    reasons: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"ids": list(self.ids), "score": round(self.score, 3), "reasons": list(self.reasons)}


# ---------------------------------------------------------------- normalisation

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_DIGITS = re.compile(r"\D+")


def fold(text: object) -> str:
    """Lower-case, strip accents and punctuation, collapse whitespace."""
    if text is None:
        return ""
    s = unicodedata.normalize("NFKD", str(text))
    s = "".join(ch for ch in s if not unicodedata.combining(ch)).lower()
    s = s.replace("&", " and ").replace("'", "").replace("\u2019", "")
    return _NON_ALNUM.sub(" ", s).strip()


def norm_email(value: object) -> str:
    """Lower-case an address and drop a '+tag' from its local part."""
    s = str(value or "").strip().lower()
    if "@" not in s:
        return s
    local, _, domain = s.rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def norm_phone(value: object) -> str:
    """Digits of a phone number (E.164 values keep their country code as digits)."""
    return _DIGITS.sub("", str(value or ""))


def same_phone(a: str, b: str) -> bool:
    """Equal numbers, or one written without its area/country code (7+ digits in common)."""
    if a == b:
        return len(a) >= 7
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return len(short) >= 7 and long.endswith(short)


_STREET_WORDS = {
    "avenue": "ave", "av": "ave", "street": "st", "str": "st", "road": "rd", "drive": "dr",
    "boulevard": "blvd", "blvrd": "blvd", "place": "pl", "court": "ct", "lane": "ln",
    "parkway": "pkwy", "terrace": "ter", "square": "sq", "highway": "hwy", "plaza": "plz",
    "north": "n", "south": "s", "east": "e", "west": "w", "calle": "c", "avenida": "av",
}  # fmt: skip
_STREET_NOISE = {"suite", "ste", "rm", "room", "unit", "apt", "fl", "floor", "site", "no"}
_ORDINAL = re.compile(r"^(\d+)(st|nd|rd|th)$")
_STREET_TYPES = {"ave", "st", "rd", "dr", "blvd", "pl", "ct", "ln", "pkwy", "ter", "sq", "hwy",
                 "plz", "n", "s", "e", "w", "c", "av"}  # fmt: skip


def norm_street(value: object) -> tuple[str, tuple[str, ...]]:
    """Split a street address into (house number, street name tokens), abbreviations unified."""
    tokens = fold(value).split()
    out: list[str] = []
    skip = False
    for t in tokens:
        if skip:
            skip = False
            continue
        if t in _STREET_NOISE:
            skip = True  # 'Rm 105', 'Suite 2'
            continue
        m = _ORDINAL.match(t)
        t = m.group(1) if m else t
        out.append(_STREET_WORDS.get(t, t))
    number = ""
    if out and out[0].isdigit():
        number = out.pop(0)
    name = tuple(t for t in out if t not in _STREET_TYPES)
    return number, name


# ---------------------------------------------------------------- similarity


def _jw(a: str, b: str) -> float:
    return JaroWinkler.normalized_similarity(a, b)


def joined(text: str) -> str:
    """A folded name without its separators: 'jean luc' (Jean-Luc) and 'jeanluc' agree."""
    return text.replace(" ", "")


def name_sim(a: str, b: str) -> float:
    """Similarity of two folded names in [0, 1]: the best of Jaro-Winkler and edit distance.

    Names equal but for separators (hyphens, apostrophes, spaces) are the same name.
    """
    if a == b or joined(a) == joined(b):
        return 1.0
    return max(_jw(a, b), Levenshtein.normalized_similarity(a, b))


def letters_sim(a: str, b: str) -> float:
    """Similarity of the names' letters in sorted order: scrambles and dropped letters."""
    a, b = "".join(sorted(a.replace(" ", ""))), "".join(sorted(b.replace(" ", "")))
    if min(len(a), len(b)) < 2:
        return 0.0
    return Indel.normalized_similarity(a, b)


def to_score(bits: float) -> float:
    """Evidence in bits to a match probability with the fixed prior."""
    x = bits - PRIOR_BITS
    if x > 60:
        return 1.0
    if x < -60:
        return 0.0
    return 1.0 / (1.0 + 2.0 ** (-x))


# ---------------------------------------------------------------- people


@dataclass(slots=True)
class _Person:
    id: int
    first: str
    last: str
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    dob: str
    city: str
    org: str


def _person(r: dict) -> _Person:
    first, last = fold(r.get("first_name")), fold(r.get("last_name"))
    if not first and not last and r.get("name"):
        parts = fold(r["name"]).split()
        first = parts[0] if parts else ""
        last = " ".join(parts[1:])
    emails = tuple(sorted({norm_email(e) for e in _many(r.get("emails", r.get("email"))) if e}))
    phones = tuple(sorted({p for p in (norm_phone(x) for x in _many(r.get("phones", r.get("phone")))) if len(p) >= 7}))  # fmt: skip
    dob = str(r.get("birthday") or r.get("dob") or "").strip()
    org = "".join(_org_tokens(r.get("org"))) if r.get("org") else ""  # 'Acme Inc.' = 'ACME'
    return _Person(int(r["id"]), first, last, emails, phones, dob, fold(r.get("city")), org)


def _many(v) -> list[str]:
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return [str(x["value"] if isinstance(x, dict) else x).strip() for x in v if x]
    return [str(v).strip()] if str(v).strip() else []


# Log2 likelihood ratios: log2(P(level | same person) / P(level | different people)).
W_EMAIL, W_EMAIL_FUZZY, W_EMAIL_DIFF = 10.0, 6.0, -1.0
W_PHONE, W_PHONE_DIFF = 8.0, -1.0
W_DOB, W_DOB_CLOSE, W_DOB_DIFF = 7.0, 1.0, -2.5
W_CITY, W_CITY_FUZZY, W_CITY_DIFF = 1.5, 1.0, -3.0
W_ORG, W_ORG_DIFF = 2.0, -1.0
# names: (similarity floor, bits) from best to worst; below the last: W_NAME_DIFF
W_FIRST = ((1.0, 4.0), (0.92, 3.0), (0.85, 1.0))
W_LAST = ((1.0, 5.0), (0.92, 4.0), (0.85, 1.5))
W_NAME_DIFF = -4.0
W_SWAPPED = -0.5  # first and last name agree crosswise (or split elsewhere): a little less sure
W_NAME_SCRAMBLED = 0.5  # same letters, scrambled or some dropped
W_FIRST_DIFF = -8.0  # a clearly different first name: relatives share the rest


def _level(a: str, b: str, table, different: float) -> float:
    """Bits for two names: agreement levels, an inconclusive middle, or clear disagreement."""
    sim = name_sim(a, b)
    for floor, bits in table:
        if sim >= floor:
            return bits
    if letters_sim(a, b) >= 0.8:
        return W_NAME_SCRAMBLED
    if sim >= 0.7 or (min(len(a), len(b)) == 1 and a[0] == b[0]):  # close, or an initial
        return 0.0
    return different


def _names(a: _Person, b: _Person) -> tuple[float, list[str]]:
    """Compare first and last names, straight or swapped, a missing part counting nothing."""

    def pair(x1, x2, y1, y2, last=W_LAST, diff=W_FIRST_DIFF) -> tuple[float, float, float]:
        f = _level(x1, y1, W_FIRST, diff) if x1 and y1 else 0.0
        la = _level(x2, y2, last, W_NAME_DIFF) if x2 and y2 else 0.0
        return f + la, f, la

    straight, f, la = pair(a.first, a.last, b.first, b.last)
    # Swapped: both cross comparisons use one table, so the score does not depend on order.
    swapped, sf, sl = pair(a.first, a.last, b.last, b.first, W_FIRST, W_NAME_DIFF)
    reasons: list[str] = []
    if swapped > straight + 1.0 and max(sf, sl) > 0 and min(sf, sl) >= 0:
        bits, f, la = swapped + W_SWAPPED, sf, sl
        reasons.append("swapped first/last")
    else:
        bits = straight
    # Split elsewhere: 'Jean-Luc | Picard' and 'Jean | Luc Picard' are one full name.
    if a.first and a.last and b.first and b.last:
        whole_a = {joined(a.first + a.last), joined(a.last + a.first)}
        if whole_a & {joined(b.first + b.last), joined(b.last + b.first)}:
            top = W_FIRST[0][1] + W_FIRST[0][1] + W_SWAPPED
            if top > bits:
                return top, ["same full name"]
    if f > 0 and la > 0:
        top_last = (W_FIRST if reasons else W_LAST)[0][1]  # a swap compares with W_FIRST
        same = f == W_FIRST[0][1] and la == top_last
        reasons.append("same name" if same else "similar name")
    elif f > 0:
        reasons.append("same first name" if f == W_FIRST[0][1] else "similar first name")
    elif la > 0:
        reasons.append("same last name" if la == W_LAST[0][1] else "similar last name")
    if (f < 0 or la < 0) and bits < 0:
        reasons.append("different name")
    return bits, reasons


def _emails(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[float, str | None]:
    if not a or not b:
        return 0.0, None
    if set(a) & set(b):
        return W_EMAIL, "same email"
    best = max(Levenshtein.normalized_similarity(x, y) for x in a for y in b)
    if best >= 0.9:
        return W_EMAIL_FUZZY, f"similar email {best:.2f}"
    if best >= 0.8:
        return W_EMAIL_FUZZY / 2, f"similar email {best:.2f}"
    return W_EMAIL_DIFF, None


def _dob(a: str, b: str) -> tuple[float, str | None]:
    if not a or not b:
        return 0.0, None
    if a == b:
        return W_DOB, "same birth date"
    if Levenshtein.distance(a, b) <= 1 or (a[:4] == b[:4] and a[5:] == b[8:] + "-" + b[5:7]):
        return W_DOB_CLOSE, "birth date typo"
    return W_DOB_DIFF, None


def _city(a: str, b: str) -> tuple[float, str | None]:
    if not a or not b:
        return 0.0, None
    if a == b:
        return W_CITY, "same city"
    if name_sim(a, b) >= 0.8 or letters_sim(a, b) >= 0.8:
        return W_CITY_FUZZY, "similar city"
    return W_CITY_DIFF, "different city"


def _compare_people(a: _Person, b: _Person) -> tuple[float, tuple[str, ...]]:
    bits, reasons = _names(a, b)
    for w, why in (
        _emails(a.emails, b.emails),
        (W_PHONE, "same phone")
        if a.phones and b.phones and any(same_phone(x, y) for x in a.phones for y in b.phones)
        else ((W_PHONE_DIFF, None) if a.phones and b.phones else (0.0, None)),
        _dob(a.dob, b.dob),
        _city(a.city, b.city),
        ((W_ORG, "same organization") if a.org == b.org else (W_ORG_DIFF, None))
        if a.org and b.org
        else (0.0, None),
    ):
        bits += w
        if why:
            reasons.append(why)
    return bits, tuple(reasons)


def person_score(a: dict, b: dict) -> Pair:
    """Score two person records against each other."""
    pa, pb = _person(a), _person(b)
    bits, reasons = _compare_people(pa, pb)
    return Pair(pa.id, pb.id, to_score(bits), reasons)


def _person_keys(p: _Person) -> Iterable[str]:
    for e in p.emails:
        yield "e:" + e
        local = e.split("@", 1)[0]
        if len(local) >= 5:
            yield "el:" + local
            domain = e.rpartition("@")[2]
            yield f"el4:{local[:4]}|{domain[:3]}"  # typos further along the address
            yield f"el4r:{local[-4:]}|{domain[-3:]}"
    for ph in p.phones:
        yield "p:" + ph[-7:]
    if p.dob:
        yield "d:" + p.dob
    names = [t for t in (joined(p.first), joined(p.last)) if t]
    if len(names) == 2:
        # The full name without separators, both ways round: blocks swapped names and
        # names split elsewhere ('Jean-Luc | Picard', 'Jean | Luc Picard', 'Jeanluc | Picard').
        yield "n:" + names[0] + names[1]
        yield "n:" + names[1] + names[0]
    for n in names:
        if p.city:
            yield f"nc:{n}|{p.city}"
        if p.dob:
            yield f"ny:{n[:3]}|{p.dob[:4]}"


def person_candidates(records: list[dict], *, keep: float = KEEP_SCORE) -> list[Pair]:
    """Score the pairs of person records that share a blocking key; return those worth keeping."""
    people = [_person(r) for r in records]
    return _candidates(people, _person_keys, _compare_people, keep)


# ---------------------------------------------------------------- organizations

_ORG_STOP = {"the", "of", "and", "at", "for", "a", "de", "la", "el", "y", "und", "et"}
# Legal forms, dotted or not ('S.L.' folds to 's l', joined to 'sl' by _org_tokens). They
# also appear mid-name, before a site or brand ('Lava Inc. - Chatterbox Preschool').
_LEGAL_FORMS = {
    "inc", "incorporated", "llc", "llp", "pllc", "ltd", "limited", "co", "corp", "corporation",
    "company", "cia", "plc", "pty", "sl", "slu", "sll", "sa", "sau", "sarl", "srl", "gmbh",
    "bv", "scoop",
}  # fmt: skip
# Short forms that are also words or initials: legal forms only at the end of a name.
_LEGAL_SUFFIXES = {"ag", "kg", "ohg", "ug", "nv", "oy", "ab", "as", "aps", "sc", "cv", "sas",
                   "spa", "lp", "coop", "sac"}  # fmt: skip


@dataclass(slots=True)
class _Org:
    id: int
    tokens: tuple[str, ...]
    number: str
    street: tuple[str, ...]
    postal: str
    phones: tuple[str, ...]
    domain: str
    city: str

    @property
    def key(self) -> str:
        """The normalised name without separators: 'Coca-Cola Ltd' and 'CocaCola' agree."""
        return "".join(self.tokens)


_DOTTED = re.compile(r"\b(\w)\.\s?(?=\w\b)")  # 'S.L.', 'S. A.', 'J.P.': initials


def _org_tokens(name: object) -> tuple[str, ...]:
    """Name tokens without stop words and legal forms; dotted initials joined ('S.L.' -> 'sl')."""
    raw = fold(_DOTTED.sub(r"\1", str(name or ""))).split()
    end = len(raw)
    if end > 1 and raw[end - 1] in _LEGAL_SUFFIXES:  # 'Bar GmbH & Co. KG'
        end -= 1
    tokens = tuple(t for t in raw[:end] if t not in _ORG_STOP and t not in _LEGAL_FORMS)
    return tokens or tuple(raw[:end])  # a name made only of such words keeps them


def _org(r: dict) -> _Org:
    tokens = _org_tokens(r.get("name"))
    number, street = norm_street(r.get("street") or r.get("address"))
    phones = tuple(sorted({p for p in (norm_phone(x) for x in _many(r.get("phones", r.get("phone")))) if len(p) >= 7}))  # fmt: skip
    domain = str(r.get("domain") or "").strip().lower().removeprefix("www.")
    postal = fold(r.get("postal_code") or r.get("zip")).replace(" ", "")
    return _Org(int(r["id"]), tokens, number, street, postal, phones, domain, fold(r.get("city")))


W_ADDR, W_ADDR_NEAR, W_ADDR_DIFF = 7.0, 0.0, -5.0
W_OPHONE, W_OPHONE_DIFF = 6.0, -2.0
W_POSTAL, W_POSTAL_DIFF = 1.0, -1.0
W_DOMAIN, W_DOMAIN_DIFF = 8.0, -2.0
# Names: equal once normalised (case, punctuation, legal form), less for a name many records
# share (a chain's sites); IDF-weighted token overlap otherwise.
W_ONAME_SAME, W_ONAME_SIMILAR = 8.5, 5.0


class _OrgScorer:
    """Compares organizations; name tokens are weighted by rarity (IDF) within the set."""

    def __init__(self, orgs: list[_Org]):
        df: dict[str, int] = defaultdict(int)
        for o in orgs:
            for t in set(o.tokens):
                df[t] += 1
        self.same_name: dict[str, int] = defaultdict(int)
        for o in orgs:
            self.same_name[o.key] += 1
        n = max(len(orgs), 1)
        self.idf = {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}
        self.default_idf = math.log(n + 1)

    def name(self, a: tuple[str, ...], b: tuple[str, ...]) -> float:
        """IDF-weighted soft overlap of name tokens in [0, 1] (a short name inside a long one counts)."""
        if not a or not b:
            return -1.0
        idf = self.idf
        wa = sum(idf.get(t, self.default_idf) for t in set(a))
        wb = sum(idf.get(t, self.default_idf) for t in set(b))
        small, big = (set(a), set(b)) if wa <= wb else (set(b), set(a))
        matched = 0.0
        for t in small:
            w = idf.get(t, self.default_idf)
            if t in big:
                matched += w
            elif len(t) >= 4:
                best = max((_jw(t, u) for u in big if len(u) >= 4), default=0.0)
                if best >= 0.9:
                    matched += w * best
        overlap = matched / min(wa, wb)
        dice = 2 * matched / (wa + wb)
        return 0.5 * (overlap + dice)

    def compare(self, a: _Org, b: _Org) -> tuple[float, tuple[str, ...]]:
        bits, reasons, contradicted = self._other_fields(a, b)
        sim = self.name(a.tokens, b.tokens)
        if a.tokens and a.key == b.key:
            # An equal name is strong evidence unless another field says "another site":
            # then it is explained by one organization's branches and counts as similar.
            same = W_ONAME_SAME - math.log2(max(self.same_name[a.key] - 1, 1))
            bits += W_ONAME_SIMILAR if contradicted else max(same, W_ONAME_SIMILAR)
            reasons.insert(0, "same name")
        elif sim >= 0:
            if sim >= 0.9:
                bits += W_ONAME_SIMILAR
                reasons.insert(0, f"similar name {sim:.2f}")
            elif sim >= 0.6:
                bits += 10 * (sim - 0.6) - 0.5
                reasons.insert(0, f"similar name {sim:.2f}")
            else:
                bits += -4.0 + 5 * sim
        return bits, tuple(reasons)

    def _other_fields(self, a: _Org, b: _Org) -> tuple[float, list[str], bool]:
        """Bits from address, phone, postal code, domain and city; and whether any disagrees."""
        bits = 0.0
        reasons: list[str] = []
        contradicted = False
        if a.street and b.street:
            ssim = max(
                name_sim(" ".join(a.street), " ".join(b.street)),
                fuzz.token_set_ratio(a.street, b.street) / 100,
            )
            if a.number and b.number and a.number == b.number and ssim >= 0.85:
                bits += W_ADDR
                reasons.append("same address")
            elif ssim >= 0.85 and a.number != b.number:
                bits += W_ADDR_NEAR
                contradicted = bool(a.number and b.number)
            else:
                bits += W_ADDR_DIFF
                contradicted = True
        if a.phones and b.phones:
            if any(same_phone(x, y) for x in a.phones for y in b.phones):
                bits += W_OPHONE
                reasons.append("same phone")
            elif not any(_near_phone(x, y) for x in a.phones for y in b.phones):
                bits += W_OPHONE_DIFF
                contradicted = True
        if a.postal and b.postal:
            if a.postal == b.postal:
                bits += W_POSTAL
            else:
                bits += W_POSTAL_DIFF
                contradicted = True
        if a.domain and b.domain:
            if a.domain == b.domain:
                bits += W_DOMAIN
                reasons.append("same domain")
            else:
                bits += W_DOMAIN_DIFF
                contradicted = True
        if a.city and b.city and a.city != b.city and name_sim(a.city, b.city) < 0.8:
            bits += W_CITY_DIFF
            reasons.append("different city")
            contradicted = True
        return bits, reasons, contradicted


def _near_phone(a: str, b: str) -> bool:
    """Numbers of one switchboard: equal but for the last two digits."""
    n = min(len(a), len(b))
    return n >= 7 and a[-n:-2] == b[-n:-2]


def _org_keys(o: _Org, rare: set[str]) -> Iterable[str]:
    for ph in o.phones:
        yield "p:" + ph[-7:]
    if o.number and o.street:
        yield f"a:{o.number}|{o.street[0]}"
        yield f"a:{o.number}|{o.postal}" if o.postal else f"an:{o.number}|{o.street[0][:2]}"
    if o.domain:
        yield "d:" + o.domain
    if o.tokens:
        yield "n:" + o.key
    for t in o.tokens:
        if t in rare:
            yield "t:" + t


def org_candidates(records: list[dict], *, keep: float = KEEP_SCORE) -> list[Pair]:
    """Score the pairs of organization records that share a blocking key."""
    orgs = [_org(r) for r in records]
    scorer = _OrgScorer(orgs)
    rare = {t for t, w in scorer.idf.items() if len(t) >= 3 and w >= math.log(len(orgs) / 20 + 1)}
    return _candidates(orgs, lambda o: _org_keys(o, rare), scorer.compare, keep)


def org_score(records: list[dict], a: int, b: int) -> Pair:
    """Score records[a] against records[b] (name rarity taken from all the records)."""
    orgs = [_org(r) for r in records]
    bits, reasons = _OrgScorer(orgs).compare(orgs[a], orgs[b])
    return Pair(orgs[a].id, orgs[b].id, to_score(bits), reasons)


# ---------------------------------------------------------------- shared machinery


def _candidates(items: list, keys, compare, keep: float) -> list[Pair]:
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        for k in set(keys(it)):
            blocks[k].append(i)
    seen: set[tuple[int, int]] = set()
    out: dict[tuple[int, int], tuple[float, tuple[str, ...]]] = {}
    for members in blocks.values():
        if len(members) < 2 or len(members) > MAX_BLOCK:
            continue
        for x in range(len(members)):
            i = members[x]
            for j in members[x + 1 :]:
                key = (i, j) if i < j else (j, i)
                if key in seen:
                    continue
                seen.add(key)
                bits, reasons = compare(items[key[0]], items[key[1]])
                out[key] = (to_score(bits), reasons)
    # Complete small components: every pair inside a group of linked records gets scored,
    # so clustering sees the evidence against a member and not only the links for it.
    strong = [k for k, (s, _) in out.items() if s >= DEFAULT_MIN_SCORE * 0.5]
    for comp in _components(strong):
        if len(comp) > 60:
            continue
        comp = sorted(comp)
        for x, i in enumerate(comp):
            for j in comp[x + 1 :]:
                if (i, j) not in out:
                    bits, reasons = compare(items[i], items[j])
                    out[(i, j)] = (to_score(bits), reasons)
    pairs = []
    for (i, j), (score, reasons) in out.items():
        if score >= keep:
            a, b = items[i].id, items[j].id
            if a > b:
                a, b = b, a
            pairs.append(Pair(a, b, score, reasons))
    pairs.sort(key=lambda p: (-p.score, p.a, p.b))
    return pairs


def _components(edges: Iterable[tuple[int, int]]) -> list[list[int]]:
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
    groups: dict[int, list[int]] = defaultdict(list)
    for x in parent:
        groups[find(x)].append(x)
    return list(groups.values())


def clusters(pairs: Iterable[Pair], threshold: float = DEFAULT_MIN_SCORE) -> list[Cluster]:
    """Group records linked by pairs scoring >= threshold, guarded against chaining.

    Strong pairs are taken best first and join their two groups (single linkage),
    except when some pair across the two groups was scored with net evidence against
    a match (score below VETO): a chain a~b~c never joins a and c when a and c are
    known to differ, e.g. two relatives linked through a shared phone.
    """
    pairs = list(pairs)
    score = {(p.a, p.b): p for p in pairs}
    groups: dict[int, list[int]] = {}
    for p in sorted((p for p in pairs if p.score >= threshold), key=lambda p: (-p.score, p.a, p.b)):
        ga = groups.get(p.a, [p.a])
        gb = groups.get(p.b, [p.b])
        if ga is gb:
            continue
        if any(_vetoed(score, x, y) for x in ga for y in gb):
            continue
        merged = ga + gb
        for i in merged:
            groups[i] = merged
    out: list[Cluster] = []
    seen: set[int] = set()
    for group in groups.values():
        if id(group) in seen:
            continue
        seen.add(id(group))
        group = sorted(group)
        inner = [
            score[(a, b)] for x, a in enumerate(group) for b in group[x + 1 :] if (a, b) in score
        ]
        linked = [p for p in inner if p.score >= threshold]
        reasons: dict[str, int] = defaultdict(int)
        for p in linked:
            for r in p.reasons:
                reasons[_reason_key(r)] += 1
        top = tuple(r for r, _ in sorted(reasons.items(), key=lambda kv: -kv[1])[:4])
        mean = sum(p.score for p in linked) / len(linked)
        out.append(Cluster(tuple(group), mean, top))
    out.sort(key=lambda c: (-c.score, c.ids))
    return out


VETO = to_score(VETO_BITS)  # a pair with strong evidence against a match


def _vetoed(score: dict, a: int, b: int) -> bool:
    p = score.get((a, b) if a < b else (b, a))
    return p is not None and p.score < VETO


def _reason_key(reason: str) -> str:
    return re.sub(r" \d\.\d+$", "", reason)


# ---------------------------------------------------------------- database entry points


def contact_dupes(
    db, filter_args: list[str] | None = None, *, min_score: float | None = None
) -> list[Cluster]:
    """Clusters of likely duplicate contacts among those matching the filters."""
    from crm_cli.domain.selectors import where_for
    from crm_cli.storage import dupes as store

    where, params = where_for(filter_args, "contacts", db=db)
    records = store.contact_records(db, where, params)
    return clusters(person_candidates(records), _threshold(min_score))


def org_dupes(
    db, filter_args: list[str] | None = None, *, min_score: float | None = None
) -> list[Cluster]:
    """Clusters of likely duplicate organizations among those matching the filters."""
    from crm_cli.domain.selectors import where_for
    from crm_cli.storage import dupes as store

    where, params = where_for(filter_args, "orgs")
    records = store.org_records(db, where, params)
    return clusters(org_candidates(records), _threshold(min_score))


def _threshold(min_score: float | None) -> float:
    if min_score is None:
        return DEFAULT_MIN_SCORE
    if not 0 <= min_score <= 1:
        from crm_cli.errors import InvalidInput

        raise InvalidInput(f"--min-score must be between 0 and 1, not {min_score}")
    return min_score
