"""Read and write vCards (2.1, 3.0, 4.0, jCard, xCard) as plain contact and organization records.

A tolerant reader of our own: vobject fails on 22 of the real files in ``realdata/vcard``
(quoted-printable soft line breaks, Shift_JIS and Latin-1 bytes, ``#`` comment lines, bad
base64). Bytes are decoded per property (its CHARSET, else UTF-8, else cp1252), so one file
may mix encodings. Each card comes back as a :class:`Card` holding either a record in the
shape ``crm contact add --from-ndjson`` accepts (orgs: the ``crm org add`` fields) or a
one-line reason why it cannot be imported. No rules of our own live here: the domain
validates and normalises what it is given.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Card", "read_vcards", "write_vcards"]


@dataclass(frozen=True)
class Card:
    """One card as read: a record (contact or org) or the reason it is invalid."""

    line: int  # 1-based line of BEGIN:VCARD in the file
    raw: str  # the card's text as read (decoded), for a reject file
    kind: str  # "contact" or "org"
    record: dict | None  # None when error is set
    error: str | None  # one-line reason the card cannot be imported
    notes: tuple[str, ...] = field(default=())  # what was skipped or moved (bad photo, ...)


# --------------------------------------------------------------------------- decoding


def _decode(data: bytes, charset: str | None = None) -> str:
    """Decode bytes: the declared charset, else UTF-8, else cp1252 (Latin-1 for its holes)."""
    if charset:
        try:
            return data.decode(_charset(charset))
        except (LookupError, UnicodeDecodeError):
            if _charset(charset) in ("utf-8", "utf8"):  # declared UTF-8 with a stray byte
                return data.decode("utf-8", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _charset(name: str) -> str:
    n = name.strip().strip('"').lower().replace("_", "-")
    return {"shift-jis": "shift_jis", "sjis": "shift_jis", "x-sjis": "shift_jis"}.get(n, n)


def _file_bytes(data: bytes) -> bytes:
    """Strip a BOM; turn UTF-16/32 text into UTF-8 bytes (the rest stays bytes, per property)."""
    for bom, enc in ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
                     (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):  # fmt: skip
        if data.startswith(bom):
            return data[len(bom) :].decode(enc, errors="replace").encode("utf-8")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:]
    head = data[:200]
    if head and head.count(b"\x00") > len(head) // 4:  # UTF-16 without a BOM
        enc = "utf-16-le" if head[1:2] == b"\x00" else "utf-16-be"
        return data.decode(enc, errors="replace").encode("utf-8")
    return data


# --------------------------------------------------------------------------- properties


@dataclass
class _Prop:
    name: str  # upper case
    group: str | None  # lower case
    params: dict[str, list[str]]  # keys upper case
    text: str  # the whole value, unescaped
    parts: list[str]  # components split on ';' (N, ADR, ORG, ...), unescaped
    items: list[str]  # values split on ',' (CATEGORIES, NICKNAME), unescaped
    encoded: bool = False  # base64 data (PHOTO, LOGO, KEY, ...)

    def types(self) -> list[str]:
        return [
            x.strip().lower()
            for t in self.params.get("TYPE", [])
            for x in t.split(",")
            if x.strip()
        ]

    def param(self, key: str) -> str | None:
        v = self.params.get(key)
        return v[0] if v else None


_PROP_LINE = re.compile(rb"^(?:[A-Za-z0-9_-]+\.)?[A-Za-z0-9_/-]+[ \t]*[;:]")
_BEGIN = re.compile(rb"^[ \t]*BEGIN[ \t]*:[ \t]*VCARD[ \t]*$", re.I)
_END = re.compile(rb"^[ \t]*END[ \t]*:[ \t]*VCARD[ \t]*$", re.I)
_VERSION = re.compile(rb"^[ \t]*VERSION[ \t]*:[ \t]*([0-9.]+)", re.I)
_B64_LINE = re.compile(rb"^[ \t]*[A-Za-z0-9+/=]+[ \t]*$")
_KNOWN = {
    "ADR", "AGENT", "ANNIVERSARY", "BDAY", "BEGIN", "CALADRURI", "CALURI", "CATEGORIES", "CLASS",
    "CLIENTPIDMAP", "EMAIL", "END", "FBURL", "FN", "GENDER", "GEO", "IMPP", "KEY", "KIND",
    "LABEL", "LANG", "LOGO", "MAILER", "MEMBER", "N", "NAME", "NICKNAME", "NOTE", "ORG",
    "PHOTO", "PRODID", "PROFILE", "RELATED", "REV", "ROLE", "SORT-STRING", "SOUND", "SOURCE",
    "TEL", "TITLE", "TZ", "UID", "URL", "VERSION", "XML",
}  # fmt: skip
_STRUCTURED = {"N", "ADR", "ORG", "GENDER", "CLIENTPIDMAP", "X-ANDROID-CUSTOM"}
_BARE_ENCODINGS = {"QUOTED-PRINTABLE", "BASE64", "B", "8BIT", "7BIT"}


def _strict_prop_line(line: bytes) -> bool:
    """A line that surely starts a property (used to end a QP value that ends in a stray '=')."""
    m = re.match(rb"^(?:[A-Za-z0-9_-]+\.)?([A-Za-z0-9-]+)[;:]", line)
    if not m:
        return False
    name = m.group(1).decode("ascii")
    if not (name.isupper() or name.islower()):
        return False
    return name.upper() in _KNOWN or name.upper().startswith("X-")


def _is_qp(head: bytes) -> bool:
    h = head.upper()
    return b"QUOTED-PRINTABLE" in h or re.search(rb";\s*ENCODING\s*=\s*QP\b", h) is not None


def _is_b64(head: bytes) -> bool:
    h = head.upper()
    return re.search(rb";\s*(ENCODING\s*=\s*)?(BASE64|B)\s*(;|$)", h) is not None


def _head(line: bytes) -> bytes:
    """The name and parameters of a property line (up to the first ':' outside quotes)."""
    i = _colon(line)
    return line[:i] if i >= 0 else line


def _colon(line: bytes) -> int:
    quoted = False
    for i, c in enumerate(line):
        if c == 0x22:
            quoted = not quoted
        elif c == 0x3A and not quoted:
            return i
    return line.find(b":")


def _logical_lines(lines: list[bytes], version: str) -> list[bytes]:
    """Unfold a card's physical lines: folding, QP soft breaks, 2.1 base64 runs, comments."""
    out: list[bytes] = []
    qp_open = False  # the last logical line is QP and ended with a soft break '='
    b64 = False  # the last logical line is base64 data (2.1 runs continue without a fold)
    for line in lines:
        if qp_open and out:
            if _END.match(line) or _BEGIN.match(line) or _strict_prop_line(line):
                out[-1] = out[-1][:-1]  # a stray '=' at the end: drop it
                qp_open = False
            else:
                out[-1] = out[-1][:-1] + line
                qp_open = out[-1].endswith(b"=")
                continue
        if not line.strip():
            b64 = False
            continue
        if line[:1] in (b" ", b"\t") and out:
            if b64:
                out[-1] += line.strip()
            elif version == "2.1":
                out[-1] += line
            else:
                out[-1] += line[1:]
            qp_open = _is_qp(_head(out[-1])) and out[-1].endswith(b"=")
            continue
        if line.startswith(b"#"):
            continue
        if not _PROP_LINE.match(line) and out:
            if b64 or (_B64_LINE.match(line) and _is_b64(_head(out[-1]))):
                out[-1] += line.strip()
                b64 = True
            elif out[-1].endswith(b"\\"):
                out[-1] = out[-1][:-1] + b"\n" + line  # 2.1 writers continue with a backslash
            else:
                out[-1] += b"\n" + line
            continue
        out.append(line)
        head = _head(line)
        b64 = _is_b64(head)
        qp_open = _is_qp(head) and line.endswith(b"=")
    if qp_open and out:
        out[-1] = out[-1][:-1]
    return out


def _split_params(head: str) -> list[str]:
    out, cur, quoted = [], [], False
    for ch in head:
        if ch == '"':
            quoted = not quoted
            cur.append(ch)
        elif ch == ";" and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def _caret(v: str) -> str:
    """RFC 6868 parameter value encoding: ^n newline, ^' quote, ^^ caret."""
    if "^" not in v:
        return v
    return re.sub(r"\^([n'^])", lambda m: {"n": "\n", "'": '"', "^": "^"}[m.group(1)], v)


def _param_values(v: str) -> list[str]:
    out, cur, quoted = [], [], False
    for ch in v:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [_caret(x.strip()) for x in out]


def _parse_params(raw_params: list[str]) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for p in raw_params:
        p = p.strip()
        if not p:
            continue
        if "=" in p:
            k, v = p.split("=", 1)
            key = k.strip().upper()
            vals = _param_values(v)
        else:  # vCard 2.1 bare parameter: a TYPE, or an ENCODING
            key = "ENCODING" if p.upper() in _BARE_ENCODINGS else "TYPE"
            vals = [p]
        params.setdefault(key, []).extend(vals)
    return params


def _unescape(s: str, version: str) -> str:
    if "\\" not in s:
        return s
    if version == "2.1":  # 2.1 escapes only ';' (and writers use '\\' and '\:' loosely)
        return re.sub(r"\\([;\\:])", r"\1", s)
    table = {"n": "\n", "N": "\n", "\\": "\\", ",": ",", ";": ";", ":": ":", '"': '"', "'": "'"}
    return re.sub(r"\\(.)", lambda m: table.get(m.group(1), m.group(0)), s, flags=re.S)


def _split_unescaped(s: str, sep: str) -> list[str]:
    out, cur, i = [], [], 0
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s):
            cur.append(s[i : i + 2])
            i += 2
            continue
        if ch == sep:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


def _parse_line(line: bytes, version: str, notes: list[str]) -> _Prop | None:
    i = _colon(line)
    if i < 0:
        notes.append(f"skipped a line without ':': {_decode(line)[:40]!r}")
        return None
    head, value = line[:i], line[i + 1 :]
    head_s = _decode(head)
    pieces = _split_params(head_s)
    name = pieces[0].strip()
    group = None
    if "." in name:
        group, name = name.rsplit(".", 1)
        group = group.strip().lower()
    name = name.strip().upper()
    if not name:
        return None
    params = _parse_params(pieces[1:])
    adr = _split_unescaped(_decode(value), ";") if name == "ADR" else []
    if adr and (len(adr) > 7 or ":" in adr[0]):
        value = _adr_value(line, i)
    enc = (params.get("ENCODING") or [""])[0].upper()
    if enc in ("BASE64", "B"):
        data = re.sub(r"\s+", "", _decode(value))
        return _Prop(name, group, params, data, [data], [data], encoded=True)
    if enc in ("QUOTED-PRINTABLE", "QP"):
        value = binascii.a2b_qp(value)
    text = _decode(value, (params.get("CHARSET") or [None])[0])
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    parts = [_unescape(c, version) for c in _split_unescaped(text, ";")]
    items = [_unescape(c, version) for c in _split_unescaped(text, ",")]
    whole = text if version == "2.1" else _unescape(text, version)
    return _Prop(name, group, params, whole, parts, items)


def _adr_value(line: bytes, first: int) -> bytes:
    """An ADR whose unquoted LABEL parameter holds ':' (ez-vcard issue 114): find the real value."""
    for m in re.finditer(rb":", line):
        if m.start() <= first:
            continue
        value = line[m.start() + 1 :]
        parts = _split_unescaped(_decode(value), ";")
        if len(parts) == 7 and ":" not in parts[0]:
            return value
    return line[first + 1 :]


# --------------------------------------------------------------------------- text cards


def _split_cards(data: bytes) -> Iterator[tuple[int, list[bytes], str | None]]:
    """Yield (line, physical lines, error) per card, nested cards as cards of their own."""
    lines = re.sub(rb"\r*\n|\r", b"\n", data).split(b"\n")
    stack: list[tuple[int, list[bytes]]] = []
    done: list[tuple[int, list[bytes], str | None]] = []
    for no, line in enumerate(lines, 1):
        if _BEGIN.match(line):
            stack.append((no, [line]))
            continue
        if _END.match(line):
            if stack:
                start, body = stack.pop()
                body.append(line)
                done.append((start, body, None))
                if not stack:
                    yield from sorted(done, key=lambda c: c[0])
                    done = []
            continue
        if stack:
            stack[-1][1].append(line)
    for start, body in stack:
        done.append(
            (start, body, "the card is not closed: no END:VCARD before the end of the file")
        )
    yield from sorted(done, key=lambda c: c[0])


def _line_charset(line: bytes) -> str | None:
    m = re.search(rb";\s*CHARSET\s*=\s*\"?([A-Za-z0-9_.:-]+)", _head(line), re.I)
    return m.group(1).decode("ascii") if m else None


def _read_text(data: bytes, photos: str) -> Iterator[Card]:
    found = False
    for start, body, error in _split_cards(data):
        found = True
        raw = "\n".join(_decode(b, _line_charset(b)) for b in body)
        if error:
            yield Card(start, raw, "contact", None, error)
            continue
        version = "3.0"
        for b in body:
            m = _VERSION.match(b)
            if m:
                v = m.group(1).decode("ascii")
                version = {"4": "4.0", "3": "3.0", "2": "2.1"}.get(v, v)
                break
        else:  # no VERSION line: 2.1 writers leave it out; QP or bare params say so too
            heads = b"\n".join(_head(b) for b in body[1:-1])
            if b"QUOTED-PRINTABLE" in heads.upper() or re.search(rb"^[A-Z]+;[A-Z]+:", heads, re.M):
                version = "2.1"
        notes: list[str] = []
        try:
            props = []
            for line in _logical_lines(body[1:-1], version):
                p = _parse_line(line, version, notes)
                if p is not None and p.name not in ("VERSION", "BEGIN", "END"):
                    props.append(p)
            yield _card(start, raw, props, photos, notes)
        except Exception as e:  # a reader of outside data never crashes on one card
            yield Card(start, raw, "contact", None, f"unreadable card: {type(e).__name__}: {e}")
    if not found:
        text = _decode(data).strip()
        if text:
            yield Card(1, text[:2000], "contact", None, "no BEGIN:VCARD found: not a vCard file")


# --------------------------------------------------------------------------- jCard and xCard


def _struct_prop(name, group, params, values, version="4.0") -> _Prop:
    """Build a property from already-decoded values (jCard and xCard)."""
    comps = []
    for v in values:
        if isinstance(v, list):
            comps.append(",".join("" if x is None else str(x) for x in v))
        else:
            comps.append("" if v is None else str(v))
    text = ";".join(comps) if len(comps) > 1 else (comps[0] if comps else "")
    items = [x for c in comps for x in c.split(",")] if name.upper() != "NOTE" else [text]
    return _Prop(name.upper(), group, params, text, comps, items)


def _read_jcard(text: str, photos: str) -> Iterator[Card]:
    try:
        doc = json.loads(text)
    except ValueError as e:
        yield Card(1, text[:2000], "contact", None, f"invalid jCard JSON: {e}")
        return
    cards = [doc] if isinstance(doc, list) and doc[:1] == ["vcard"] else doc
    if not isinstance(cards, list):
        cards = [cards]
    starts = [text.count("\n", 0, m.start()) + 1 for m in re.finditer(r'"vcard"', text)]
    for n, c in enumerate(cards):
        line = starts[n] if n < len(starts) else 1
        raw = json.dumps(c, ensure_ascii=False)
        if not (isinstance(c, list) and len(c) >= 2 and c[0] == "vcard" and isinstance(c[1], list)):
            yield Card(line, raw, "contact", None, 'not a jCard: expected ["vcard", [properties]]')
            continue
        props, notes = [], []
        for p in c[1]:
            if not (isinstance(p, list) and len(p) >= 4 and isinstance(p[0], str)):
                notes.append(f"skipped a malformed jCard property: {json.dumps(p)[:40]}")
                continue
            raw_params = p[1] if isinstance(p[1], dict) else {}
            params = {
                str(k).upper(): [str(x) for x in (v if isinstance(v, list) else [v])]
                for k, v in raw_params.items()
            }
            group = params.pop("GROUP", [None])[0]
            vals = p[3:]
            if len(vals) == 1 and isinstance(vals[0], list):
                vals = vals[0]
            if p[0].lower() == "version":
                continue
            props.append(_struct_prop(p[0], group, params, vals))
        yield _card(line, raw, props, photos, notes)


_XC_N = ("surname", "given", "additional", "prefix", "suffix")
_XC_ADR = ("pobox", "ext", "street", "locality", "region", "code", "country")


def _read_xcard(text: str, photos: str) -> Iterator[Card]:
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as e:
        yield Card(1, text[:2000], "contact", None, f"invalid xCard XML: {e}")
        return

    def local(tag: str) -> str:
        return tag.rsplit("}", 1)[-1].lower()

    vcards = [root] if local(root.tag) == "vcard" else [e for e in root if local(e.tag) == "vcard"]
    lines = [text.count("\n", 0, m.start()) + 1 for m in re.finditer(r"<(\w+:)?vcard[\s>]", text)]
    for n, vc in enumerate(vcards):
        line = lines[n] if n < len(lines) else 1
        raw = ET.tostring(vc, encoding="unicode")
        props: list[_Prop] = []

        def add(el, group=None, props=props):
            name = local(el.tag)
            if name == "group":
                for child in el:
                    add(child, el.get("name"))
                return
            params: dict[str, list[str]] = {}
            values: list = []
            kids = {}
            for child in el:
                cn = local(child.tag)
                if cn == "parameters":
                    for prm in child:
                        params[local(prm.tag).upper()] = [(x.text or "").strip() for x in prm]
                else:
                    kids.setdefault(cn, []).append((child.text or "").strip())
            order = _XC_N if name == "n" else _XC_ADR if name == "adr" else None
            if order:
                values = [kids.get(k, []) for k in order]
                values = [v if len(v) > 1 else (v[0] if v else "") for v in values]
            else:
                values = [v for vs in kids.values() for v in vs]
                if name not in ("org", "categories", "nickname") and len(values) > 1:
                    values = [values[0]]
            props.append(_struct_prop(name, group, params, values))

        for el in vc:
            add(el)
        yield _card(line, raw, props, photos, [])


# --------------------------------------------------------------------------- public API


def read_vcards(path_or_bytes, *, photos: str = "skip") -> Iterator[Card]:
    """Read every card of a vCard, jCard or xCard file (a path, or its bytes) as a Card."""
    if photos not in ("skip", "keep"):
        raise ValueError(f"photos must be 'skip' or 'keep', not {photos!r}")
    if isinstance(path_or_bytes, bytes | bytearray | memoryview):
        data = bytes(path_or_bytes)
    elif isinstance(path_or_bytes, str) and "\n" in path_or_bytes:
        data = path_or_bytes.encode("utf-8")
    else:
        data = Path(path_or_bytes).read_bytes()
    data = _file_bytes(data)
    first = data.lstrip()[:1]
    if first in (b"[", b"{"):
        return _read_jcard(_decode(data), photos)
    if first == b"<":
        return _read_xcard(_decode(data), photos)
    return _read_text(data, photos)


# --------------------------------------------------------------------------- to records

_NOISE_TYPES = {"pref", "internet", "voice", "x400", "msg", "dom", "intl", "postal", "parcel",
                "text", "uri", "x-internet", "encoding", "charset"}  # fmt: skip
_LABEL_OK = re.compile(r"[^a-z0-9 _-]+")
_FREE_MAIL = {"gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com",
              "live.com", "aol.com", "icloud.com", "me.com", "gmx.de", "gmx.net", "web.de",
              "mail.ru", "yandex.ru", "protonmail.com", "msn.com"}  # fmt: skip
_IM = {"X-AIM": "aim", "X-GTALK": "gtalk", "X-GOOGLE-TALK": "gtalk", "X-YAHOO": "yahoo",
       "X-SKYPE": "skype", "X-SKYPE-USERNAME": "skype", "X-QQ": "qq", "X-MSN": "msn",
       "X-ICQ": "icq", "X-JABBER": "jabber", "X-SIP": "sip", "X-MS-IMADDRESS": "im",
       "X-KADDRESSBOOK-X-IMADDRESS": "im", "X-TWITTER": "twitter"}  # fmt: skip
_SCHEMES = {"xmpp": "xmpp", "skype": "skype", "ymsgr": "yahoo", "aim": "aim", "sip": "sip",
            "msnim": "msn", "icq": "icq", "gtalk": "gtalk", "irc": "irc"}  # fmt: skip
_SIMPLE_FIELDS = {"NICKNAME": "nickname", "ROLE": "role", "GENDER": "gender", "TZ": "timezone",
                  "GEO": "geo", "X-MS-MANAGER": "manager", "X-EVOLUTION-MANAGER": "manager",
                  "X-KADDRESSBOOK-X-MANAGERSNAME": "manager", "X-MS-ASSISTANT": "assistant",
                  "X-EVOLUTION-ASSISTANT": "assistant", "X-KADDRESSBOOK-X-ASSISTANTSNAME":
                  "assistant", "X-MS-SPOUSE": "spouse", "X-EVOLUTION-SPOUSE": "spouse",
                  "X-SPOUSE": "spouse", "ANNIVERSARY": "anniversary",
                  "X-MS-ANNIVERSARY": "anniversary", "X-EVOLUTION-ANNIVERSARY": "anniversary",
                  "X-ANNIVERSARY": "anniversary", "X-KADDRESSBOOK-X-ANNIVERSARY": "anniversary",
                  "X-KADDRESSBOOK-X-DEPARTMENT": "department",
                  "X-KADDRESSBOOK-X-PROFESSION": "profession",
                  "X-KADDRESSBOOK-X-OFFICE": "office"}  # fmt: skip
_AB_LABEL_FIELDS = {"spouse": "spouse", "anniversary": "anniversary", "manager": "manager",
                    "assistant": "assistant"}  # fmt: skip
_FIELD_KEY_BAD = re.compile(r"[^A-Za-z0-9_-]+")


def _label(raw: str | None) -> str | None:
    """A label as the domain accepts it: lower-case letters, digits, space, _ and -, 1-30 chars."""
    if not raw:
        return None
    s = raw.strip()
    m = re.fullmatch(r"_\$!<(.*)>!\$_", s)  # Apple's built-in labels: _$!<HomePage>!$_
    if m:
        s = m.group(1)
    s = _LABEL_OK.sub(" ", s.lower()).strip()
    s = re.sub(r"\s+", " ", s)[:30].strip()
    if not s or not s[0].isalpha() or not s.isascii():
        return None
    return s


def _type_label(p: _Prop, ab_labels: dict[str, str]) -> str | None:
    if p.group and p.group in ab_labels:
        lab = _label(ab_labels[p.group])
        if lab:
            return lab
    sig = [t for t in p.types() if t not in _NOISE_TYPES and not t.startswith("x-")]
    if not sig:
        return None
    return _label(" ".join(dict.fromkeys(sig[:2])))


def _labelled(label: str | None, value: str) -> str:
    return f"{label}={value}" if label else value


def _tags(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        for part in v.split(","):
            t = re.sub(r"[\s,()\"']+", "-", part.strip().lower()).strip("-")
            if t and t not in out:
                out.append(t)
    return out


def _date(text: str) -> str | None:
    from crm_cli.domain.dates import parse_birthday
    from crm_cli.errors import InvalidInput

    s = text.strip()
    m = re.match(r"^(\d{4}-?\d{2}-?\d{2})(?:T.*)?$", s) or re.match(r"^(--\d{2}-?\d{2})$", s)
    if not m:
        return None
    try:
        return parse_birthday(m.group(1))
    except InvalidInput:
        return None


def _email(value: str) -> str:
    v = value.strip()
    if v.lower().startswith("mailto:"):
        v = v[7:]
    m = re.search(r"<([^<>\s]+@[^<>\s]+)>", v)
    if m:
        v = m.group(1)
    return v.strip().strip('"').strip()


def _email_ok(addr: str) -> bool:
    from crm_cli.domain import validate
    from crm_cli.errors import InvalidInput

    try:
        validate.email(addr)
    except InvalidInput:
        return False
    return True


def _photo(p: _Prop, photos: str, notes: list[str]) -> str | None:
    if not p.encoded:
        v = p.text.strip()
        if not v:
            return None
        if v.startswith("data:") or re.match(r"^[a-z][a-z0-9+.-]*:", v, re.I):
            return v if photos == "keep" else None
        data = re.sub(r"\s+", "", v)  # 4.0 writers sometimes put bare base64 without ENCODING
    else:
        data = p.text
    if not data:
        return None
    try:
        decoded = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
        if not decoded:
            raise binascii.Error("empty")
    except (binascii.Error, ValueError):
        notes.append(f"{p.name.lower()} skipped: bad base64 data")
        return None
    if photos != "keep":
        return None
    mt = (p.param("MEDIATYPE") or "").lower()
    if not mt:
        t = next((t for t in p.types() if t), "jpeg")
        mt = t if "/" in t else f"image/{t}"
    return f"data:{mt};base64,{base64.b64encode(decoded).decode('ascii')}"


def _set_field(fields: dict, key: str, value: str) -> None:
    key = _FIELD_KEY_BAD.sub("_", key).strip("_") or "field"
    value = value.strip()
    if not value:
        return
    if key not in fields:
        fields[key] = value
        return
    if fields[key] == value:
        return
    n = 2
    while f"{key}_{n}" in fields:
        if fields[f"{key}_{n}"] == value:
            return
        n += 1
    fields[f"{key}_{n}"] = value


def _social_key(network: str) -> str:
    k = _FIELD_KEY_BAD.sub("-", network.strip().lower()).strip("-_")
    return k or "im"


def _add_social(social: dict, network: str, handle: str) -> None:
    key, handle = _social_key(network), handle.strip()
    if not handle:
        return
    if key in social and social[key] != handle:
        if handle not in social[key].split(", "):
            social[key] = f"{social[key]}, {handle}"
    else:
        social[key] = handle


def _addr_text(parts: list[str]) -> dict:
    p = (parts + [""] * 7)[:7]
    pobox, ext, street, city, region, code, country = (x.strip() for x in p)
    street_full = ", ".join(x for x in (street, ext) if x)
    out = {"street": street_full, "city": city, "region": region, "postal_code": code,
           "country": country}  # fmt: skip
    if pobox:
        out["po_box"] = pobox
    return {k: v for k, v in out.items() if v}


def _one_line(addr: dict) -> str:
    keys = ("street", "city", "region", "postal_code", "country")
    return ", ".join(addr[k].replace("\n", ", ") for k in keys if addr.get(k))


def _card(line: int, raw: str, props: list[_Prop], photos: str, notes: list[str]) -> Card:
    ab_labels = {
        p.group: p.text for p in props if p.name == "X-ABLABEL" and p.group and p.text.strip()
    }
    first: dict[str, _Prop] = {}
    for p in props:
        first.setdefault(p.name, p)

    fn = first["FN"].text.strip() if "FN" in first else ""
    n_parts = [x.strip() for x in (first["N"].parts if "N" in first else [])] + [""] * 5
    family, given, middle, prefix, suffix = n_parts[:5]
    org_parts = [x.strip() for x in first["ORG"].parts] if "ORG" in first else []
    org = org_parts[0] if org_parts else ""
    dept = "; ".join(x for x in org_parts[1:] if x)
    kind_prop = first.get("KIND") or first.get("X-KIND") or first.get("X-ADDRESSBOOKSERVER-KIND")
    kind_p = kind_prop.text.strip().lower() if kind_prop else ""
    show_as = first["X-ABSHOWAS"].text.strip().upper() if "X-ABSHOWAS" in first else ""
    is_org = (
        show_as == "COMPANY"
        or kind_p in ("org", "organization")
        or (bool(org) and not given and not family and (not fn or fn == org))
    ) and kind_p != "individual"

    fields: dict[str, str] = {}
    social: dict[str, str] = {}
    emails: list[str] = []
    phones: list[str] = []
    tags: list[str] = []
    addresses: list[tuple[bool, dict, str | None]] = []
    rec: dict = {}
    photo = None

    for p in props:
        name = p.name
        if name == "EMAIL":
            addr = _email(p.text)
            if not addr:
                continue
            if _email_ok(addr):
                emails.append(_labelled(_type_label(p, ab_labels), addr))
            else:
                _set_field(fields, "invalid_email", addr)
                notes.append(f"email {addr[:60]!r} is not a valid address: kept in fields")
        elif name in ("TEL", "X-MS-TEL"):
            v = p.text.strip()
            if v.lower().startswith("tel:"):
                v = v[4:]
            if v.lower().startswith("sip:"):
                _add_social(social, "sip", v[4:])
                continue
            if not v:
                continue
            if not re.search(r"\d", v):
                _set_field(fields, "invalid_phone", v)
                notes.append(f"phone {v[:40]!r} has no digits: kept in fields")
                continue
            phones.append(_labelled(_type_label(p, ab_labels), " ".join(v.split())))
        elif name == "ADR":
            addr = _addr_text(p.parts)
            if addr:
                addresses.append(("pref" in p.types(), addr, _type_label(p, ab_labels)))
        elif name == "CATEGORIES":
            tags.extend(p.items)
        elif name == "NOTE":
            if p.text.strip():
                prev = fields.get("note")
                fields["note"] = f"{prev}\n\n{p.text.strip()}" if prev else p.text.strip()
        elif name == "URL":
            v = p.text.strip()
            if v:
                _set_field(fields, "url", v)
        elif name == "BDAY":
            if "birthday" in rec or not p.text.strip():
                continue
            d = _date(p.text)
            omit = p.param("X-APPLE-OMIT-YEAR")
            if d and omit and d.startswith(omit.strip() + "-"):
                d = "--" + d[5:]  # the year was a placeholder: a birthday without a year
            if d:
                rec["birthday"] = d
            else:
                _set_field(fields, "bday", p.text)
        elif name == "UID":
            if p.text.strip() and "external_id" not in rec:
                rec["external_id"] = p.text.strip()
        elif name == "TITLE":
            if p.text.strip():
                if "title" in rec:
                    _set_field(fields, "title", p.text)
                else:
                    rec["title"] = p.text.strip()
        elif name == "ORG" and p is not first.get("ORG"):
            other = "; ".join(x.strip() for x in p.parts if x.strip())
            if other:
                _set_field(fields, "other_org", other)
        elif name in ("PHOTO", "LOGO"):
            got = _photo(p, photos, notes)
            if got and photo is None:
                photo = got
        elif name in ("IMPP",):
            v = p.text.strip()
            m = re.match(r"^([a-z][a-z0-9+.-]*):(.*)$", v, re.I)
            network = p.param("X-SERVICE-TYPE") or (
                _SCHEMES.get(m.group(1).lower(), m.group(1)) if m else "im"
            )
            _add_social(social, network, m.group(2) if m else v)
        elif name == "X-SOCIALPROFILE":
            t = [x for x in p.types() if x not in _NOISE_TYPES]
            handle = p.param("X-USER") or p.text
            _add_social(social, t[0] if t else "web", handle)
        elif name in _IM:
            v = p.text.strip()
            if name == "X-SIP" and v.lower().startswith("sip:"):
                v = v[4:]
            _add_social(social, _IM[name], v)
        elif name.startswith("X-MESSAGING/"):
            net = name.split("/", 1)[1].rsplit("-", 1)[0]
            _add_social(social, net, p.text)
        elif name in _SIMPLE_FIELDS:
            key = _SIMPLE_FIELDS[name]
            v = ", ".join(x.strip() for x in p.items if x.strip()) if name == "NICKNAME" else p.text
            if key == "anniversary":
                v = _date(v) or v
            _set_field(fields, key, v)
        elif name in ("X-ABRELATEDNAMES", "X-ABDATE"):
            lab = _label(ab_labels.get(p.group or "", "")) or ""
            key = _AB_LABEL_FIELDS.get(lab) or (
                ("related_" if name == "X-ABRELATEDNAMES" else "date_") + (lab or "other")
            )
            v = p.text
            if name == "X-ABDATE":
                v = _date(v) or v
            _set_field(fields, key, v)
        elif name == "X-CRM-FIELD":
            key = p.param("NAME")
            if key:
                fields[key] = p.text
        elif name == "X-ANDROID-CUSTOM":
            parts = p.parts
            if parts and parts[0] == "vnd.android.cursor.item/nickname" and len(parts) > 1:
                _set_field(fields, "nickname", parts[1])
            elif parts and parts[0] == "vnd.android.cursor.item/contact_event" and len(parts) > 1:
                _set_field(fields, "event", _date(parts[1]) or parts[1])

    # Name.
    name = fn or " ".join(x for x in (given, family) if x)
    if not name and is_org:
        name = org
    if not name:
        for e in emails:
            name = e.split("=", 1)[1] if "=" in e and "@" in e.split("=", 1)[1] else e
            break
    if not name:
        what = (
            ", ".join(sorted({p.name for p in props if p.name not in ("X-ABLABEL",)})) or "nothing"
        )
        return Card(line, raw, "org" if is_org else "contact", None,
                    f"no name: the card has no FN, N, ORG or email (it holds {what[:80]})",
                    tuple(notes))  # fmt: skip

    addresses.sort(key=lambda a: not a[0])  # the preferred address first
    address = addresses[0][1] if addresses else {}
    for _, extra, lab in addresses[1:]:
        text = _one_line(extra)
        if text and text != _one_line(address):
            _set_field(fields, "address_" + (lab or "other").replace(" ", "_"), text)
    if address.get("po_box"):
        _set_field(fields, "po_box", address["po_box"])

    if is_org:
        domain = first["X-CRM-DOMAIN"].text.strip() if "X-CRM-DOMAIN" in first else None
        domain = domain or _org_domain(fields, emails)
        url = fields.get("url", "")
        if domain and re.fullmatch(rf"(?i)(https?://)?(www\.)?{re.escape(domain)}/?", url):
            del fields["url"]  # the domain says it all
        out: dict = {"name": name, "domain": domain}
        if phones:
            out["phones"] = phones
        for k in ("street", "city", "region", "postal_code", "country"):
            if address.get(k):
                out[k] = address[k]
        if tags:
            out["tags"] = _tags(tags)
        person = " ".join(x for x in (given, family) if x)
        if person:
            _set_field(fields, "contact", person)
        for e in emails:
            _set_field(fields, "email", e.split("=", 1)[1] if "=" in e else e)
        if rec.get("title"):
            _set_field(fields, "title", rec["title"])
        if dept:
            _set_field(fields, "department", dept)
        if fields:
            out["fields"] = fields
        if social:
            _set_field(fields, "social", ", ".join(f"{k}: {v}" for k, v in social.items()))
            out["fields"] = fields
        if rec.get("external_id"):
            out["external_id"] = rec["external_id"]
        if photo:
            out["photo"] = photo
        return Card(line, raw, "org", out, None, tuple(notes))

    out = {"name": name}
    if given:
        out["first_name"] = given
    if family:
        out["last_name"] = family
    if middle:
        fields.setdefault("middle_name", middle)
    if prefix:
        fields.setdefault("name_prefix", prefix)
    if suffix:
        fields.setdefault("name_suffix", suffix)
    if rec.get("title"):
        out["title"] = rec["title"]
    if org:
        out["org"] = org
    if dept:
        fields.setdefault("department", dept)
    if emails:
        out["emails"] = emails
    if phones:
        out["phones"] = phones
    if tags:
        out["tags"] = _tags(tags)
    if rec.get("birthday"):
        out["birthday"] = rec["birthday"]
    for k in ("street", "city", "region", "postal_code", "country"):
        if address.get(k):
            out[k] = address[k]
    if fields:
        out["fields"] = fields
    if social:
        out["social"] = social
    if rec.get("external_id"):
        out["external_id"] = rec["external_id"]
    if photo:
        out["photo"] = photo
    return Card(line, raw, "contact", out, None, tuple(notes))


def _org_domain(fields: dict, emails: list[str]) -> str | None:
    url = fields.get("url")
    if url:
        host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", url.strip(), flags=re.I).split("/")[0]
        host = host.split(":")[0].lower().removeprefix("www.")
        if "." in host and " " not in host:
            return host
    for e in emails:
        addr = e.split("=", 1)[1] if "=" in e else e
        dom = addr.rsplit("@", 1)[-1].lower()
        if "." in dom and dom not in _FREE_MAIL:
            return dom
    return None


# --------------------------------------------------------------------------- writer

_STD_LABELS = {"home", "work", "cell", "fax", "pager", "video", "text", "textphone", "main",
               "other", "car", "isdn", "bbs", "modem"}  # fmt: skip
_FIELD_PROPS = {"note": "NOTE", "url": "URL", "nickname": "NICKNAME", "role": "ROLE"}
_N_FIELDS = ("middle_name", "name_prefix", "name_suffix")


def _esc(s: str) -> str:
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace(",", "\\,").replace(";", "\\;")


def _fold(line: str) -> str:
    """Fold a content line at 75 octets without splitting a UTF-8 character."""
    out, cur, size = [], [], 0
    for ch in line:
        n = len(ch.encode("utf-8"))
        if size + n > 75:
            out.append("".join(cur))
            cur, size = [" "], 1
        cur.append(ch)
        size += n
    out.append("".join(cur))
    return "\r\n".join(out)


def _pairs(items, with_raw: bool = False) -> list[tuple[str | None, str]]:
    """Emails or phones as (label, value), from 'label=value' strings or {value, label} dicts."""
    from crm_cli.domain.validate import split_label

    out = []
    for x in items or ():
        if isinstance(x, dict):
            v = x.get("raw") if with_raw and x.get("raw") else x.get("value")
            if v:
                out.append((x.get("label"), str(v)))
        elif isinstance(x, str) and x.strip():
            out.append(split_label(x))
    return out


def write_vcards(records: Iterable[dict], *, version: str = "4.0") -> str:
    """Write contact or org records (as read, or as ``--json`` prints them) as vCard text."""
    if version not in ("4.0", "3.0"):
        raise ValueError(f"version must be '4.0' or '3.0', not {version!r}")
    chunks = []
    for rec in records:
        chunks.append(_write_one(rec, version))
    return "".join(chunks)


def _write_one(rec: dict, version: str) -> str:
    is_org = rec.get("kind") == "org" or ("domain" in rec and "first_name" not in rec)
    lines = ["BEGIN:VCARD", f"VERSION:{version}"]
    group = 0

    def prop(name: str, value: str, params: str = "", label: str | None = None) -> None:
        nonlocal group
        if label and (label in _STD_LABELS):
            lines.append(f"{name};TYPE={label}:{value}")
        elif label:
            group += 1
            lines.append(f"item{group}.{name}{params}:{value}")
            lines.append(f"item{group}.X-ABLabel:{_esc(label)}")
        else:
            lines.append(f"{name}{params}:{value}")

    fields = dict(rec.get("fields") or rec.get("custom") or {})
    name = str(rec.get("name") or "")
    if is_org:
        if version == "4.0":
            lines.append("KIND:org")
        lines.append("X-ABShowAs:COMPANY")
        lines.append(f"FN:{_esc(name)}")
        if version == "3.0":
            lines.append("N:;;;;")
        lines.append(f"ORG:{_esc(name)}")
        if rec.get("domain"):
            lines.append(f"X-CRM-DOMAIN:{_esc(str(rec['domain']))}")
            fields.setdefault("url", f"https://{rec['domain']}")
    else:
        if version == "4.0":
            lines.append("KIND:individual")
        elif rec.get("org") and not (rec.get("first_name") or rec.get("last_name")):
            lines.append("X-KIND:individual")  # else a reader may take it for a company card
        lines.append(f"FN:{_esc(name)}")
        n = [rec.get("last_name") or "", rec.get("first_name") or ""]
        n += [fields.pop(k, "") for k in _N_FIELDS]
        lines.append("N:" + ";".join(_esc(str(x)) for x in n))
        if rec.get("org"):
            dept = fields.pop("department", "")
            lines.append(
                "ORG:" + ";".join(_esc(x) for x in [str(rec["org"]), *([dept] if dept else [])])
            )
        if rec.get("title"):
            lines.append(f"TITLE:{_esc(str(rec['title']))}")
        for label, value in _pairs(rec.get("emails")):
            prop("EMAIL", _esc(value), label=label)
    for label, value in _pairs(rec.get("phones"), with_raw=True):
        prop("TEL", _esc(value), label=label)
    addr = [rec.get(k) or "" for k in ("street", "city", "region", "postal_code", "country")]
    if any(addr):
        lines.append("ADR:;;" + ";".join(_esc(str(x)) for x in addr))
    if rec.get("birthday") and not is_org:
        day = str(rec["birthday"])
        if version == "3.0" and day.startswith("--"):
            # 3.0 has no date without a year: Apple's convention, read back as --MM-DD.
            lines.append(f"BDAY;X-APPLE-OMIT-YEAR=1604:1604{day[1:]}")
        else:
            lines.append(f"BDAY:{day}")
    tags = rec.get("tags") or []
    if isinstance(tags, str):
        tags = [tags]
    if tags:
        lines.append("CATEGORIES:" + ",".join(_esc(str(t)) for t in tags))
    for key, prop_name in _FIELD_PROPS.items():
        if key in fields and str(fields[key]) != "":
            v = str(fields.pop(key))
            lines.append(f"{prop_name}:{_esc(v)}")
    for key, value in sorted(fields.items()):
        if value is None or str(value) == "":
            continue
        lines.append(f'X-CRM-FIELD;NAME="{key}":{_esc(str(value))}')
    for network, handle in sorted((rec.get("social") or {}).items()):
        if handle:
            lines.append(f'X-SOCIALPROFILE;TYPE="{network}":{_esc(str(handle))}')
    ext = rec.get("external_id")
    if ext:
        lines.append(f"UID:{_esc(str(ext))}")
    lines.append("END:VCARD")
    return "".join(_fold(x) + "\r\n" for x in lines)
