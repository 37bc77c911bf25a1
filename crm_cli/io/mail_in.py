"""Mail in: .eml files, mbox files and Maildir folders read into plain message records.

``read(paths)`` walks what it is given -- a Maildir (``cur``/``new``), an mbox (a file that
starts with a ``From `` separator line), a single RFC 5322 message (.eml or any name), or a
folder of those -- and yields one ``Message`` per message: a plain record of what the
message says, or the reason it cannot be read. Nothing raises out of it for what a file
holds; ``open_source`` wraps it as an import ``Source`` for ``crm import mail``.

How it reads:

- Messages are parsed by the stdlib ``email`` package with a compat32 policy that returns
  header values raw (its header blocks; bodies and common multiparts are split here, see
  ``_parse_bytes``: same result, a quarter of the time). ``policy.default`` costs ~1.6 ms a
  message against ~0.2 ms and raises on some real headers (a group in ``To``); the
  header values are decoded here instead: RFC 2047 encoded words (adjacent words of one
  charset joined before decoding, so split multibyte characters survive; unknown charsets
  and broken base64 tolerated), raw UTF-8 (RFC 6532) or the message's own charset for
  8-bit bytes, obsolete syntax and comments in addresses, ids and dates.
- mbox: a ``From `` line is a separator only at the start of the file or after a blank
  line, when its first word is ``-`` (Thunderbird), an address-like word (``user@host``,
  ``MAILER-DAEMON``, Gmail Takeout's ``1844…@xxx``) or it ends in an asctime date, and the
  next line is a header. Body lines beginning ``From `` that were not escaped (mboxo) are
  not separators; ``>From`` lines are unescaped (mboxrd).
- The text body is the text/plain parts (not attachments), else the HTML ones as text
  (paragraphs and line breaks kept, scripts and styles dropped, entities decoded), in the
  declared charset, else UTF-8, else cp1252; capped at ``BODY_LIMIT`` characters.
- The record's ``kind`` says what the message is: ``message``; ``bounce`` (an RFC 3464
  delivery status notification, or a plain-text one from a mail daemon whose failed
  address can be found reliably: X-Failed-Recipients, or an address the embedded original
  was sent to); ``complaint`` (an ARF feedback report, also AOL's and Yahoo's loops);
  ``auto_reply`` (RFC 3834 Auto-Submitted, X-Autoreply/X-Autorespond, Precedence
  auto_reply, or an out-of-office subject); ``receipt`` (a read receipt, RFC 8098);
  ``report`` (mail-system mail that reports nothing about an address: a successful
  delivery report, a bounce whose address cannot be found reliably).
"""

from __future__ import annotations

import hashlib
import mmap
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy as _policies
from email.parser import BytesParser, HeaderParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path

BODY_LIMIT = 20_000  # characters of body text kept per message
_PART_BYTES = 1 << 20  # bytes of one text part decoded at most
_HTML_BYTES = 300_000  # bytes of one HTML part converted at most
_MAX_DEPTH = 40  # MIME nesting followed at most


class _RawPolicy(_policies.Compat32):
    """compat32, but header values come back as the raw text (8-bit bytes as surrogates)."""

    def header_fetch_parse(self, name, value):
        return value


_POLICY = _RawPolicy()


@dataclass(slots=True)
class Message:
    """One message as read: where it came from, and its record or why it cannot be read."""

    path: str  # the file (for a Maildir message, the message's own file)
    n: int  # its number in the file (mbox), 1 for a file holding one message
    folder: str  # the mailbox it came from: Maildir or mbox name, or the folder of a .eml
    record: dict | None = None
    problem: str | None = None
    mbox: bool = False

    @property
    def where(self) -> str:
        """The file, and for an mbox the message's number in it: 'inbox.mbox#12'."""
        return f"{self.path}#{self.n}" if self.mbox else self.path


@dataclass
class Walk:
    """What ``read`` met besides messages: the files it read, the files of a walked folder
    that are not mail (skipped), and the messages it could not read (``open_source``)."""

    files: int = 0
    skipped: list[str] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)


# ---------------------------------------------------------------- finding messages


def check_paths(paths: list[str]) -> list[Path]:
    """The paths as Paths; raises FileNotFoundError naming the first that does not exist."""
    out = []
    for p in paths:
        path = Path(p).expanduser()
        if not path.exists():
            raise FileNotFoundError(p)
        out.append(path)
    return out


def is_maildir(path: Path) -> bool:
    return path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir()


def read(
    paths: list[Path], walk: Walk | None = None, now: datetime | None = None
) -> Iterator[Message]:
    """Every message in these files and folders, in a stable order. ``now`` is the import's
    time: a date after it is a wrong clock, not the message's time."""
    walk = walk if walk is not None else Walk()
    now = now or datetime.now(UTC)
    for path in paths:
        if path.is_dir():
            yield from _read_dir(path, walk, now)
        else:
            walk.files += 1
            yield from _read_file(path, path.parent.name or path.name, now)


def _read_dir(path: Path, walk: Walk, now: datetime) -> Iterator[Message]:
    if is_maildir(path):
        yield from _read_maildir(path, walk, now)
        return
    try:
        entries = sorted(path.iterdir(), key=lambda p: p.name)
    except OSError as e:
        yield Message(str(path), 1, path.name, problem=f"cannot read the folder: {e.strerror}")
        return
    for p in entries:
        if p.name.startswith("."):
            continue  # hidden files: editor backups, .DS_Store, a mail client's indexes
        if p.is_dir():
            yield from _read_dir(p, walk, now)
        elif p.is_file():
            walk.files += 1
            yield from _read_file(p, path.name, now, walked=True, walk=walk)


def _read_maildir(root: Path, walk: Walk, now: datetime) -> Iterator[Message]:
    """A Maildir's cur/ and new/ (tmp/ holds mail still being delivered), then its
    Maildir++ subfolders (.Sent, .Archive …), each message a file."""
    folders = [(root, root.name)]
    try:
        folders += [(p, p.name.lstrip(".")) for p in sorted(root.iterdir())
                    if p.name.startswith(".") and is_maildir(p)]  # fmt: skip
    except OSError:
        pass
    for folder, name in folders:
        for sub in ("cur", "new"):
            try:
                files = sorted(p for p in (folder / sub).iterdir() if not p.name.startswith("."))
            except OSError as e:
                yield Message(str(folder / sub), 1, name, problem=f"cannot read: {e.strerror}")
                continue
            for p in files:
                if p.is_file():
                    walk.files += 1
                    yield _one(p, name, _read_bytes(p), now)


def _read_bytes(path: Path) -> bytes | str:
    try:
        return path.read_bytes()
    except OSError as e:
        return f"cannot read the file: {e.strerror}"


def _one(path: Path, folder: str, data: bytes | str, now: datetime) -> Message:
    if isinstance(data, str):
        return Message(str(path), 1, folder, problem=data)
    return Message(str(path), 1, folder, **parse(data, now, mtime=_mtime(path)))


def _mtime(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except (OSError, ValueError, OverflowError):
        return None


_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
_LEADING_BLANKS = re.compile(rb"\A(?:[ \t]*\r?\n)+")  # whitespace-only lines before the headers
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_OBS_COLON = re.compile(rb"^([!-9;-~]+)[ \t]+:", re.M)  # 'Subject  : …' (RFC 5322 obsolete syntax)
_BOM = b"\xef\xbb\xbf"


def _read_file(
    path: Path, folder: str, now: datetime, *, walked: bool = False, walk: Walk | None = None
) -> Iterator[Message]:
    try:
        size = path.stat().st_size
        f = open(path, "rb")
    except OSError as e:
        yield Message(str(path), 1, folder, problem=f"cannot read the file: {e.strerror}")
        return
    with f:
        head = f.read(4096)
        start = len(_BOM) if head.startswith(_BOM) else 0
        if head[start:].startswith(b"From ") and _separator_at(head, start):
            if size == 0:
                return
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                yield from _read_mbox(path, data, start, now)
            return
        body = _LEADING_BLANKS.sub(b"", head[start:])
        if walked and not _HEADER_LINE.match(body):
            # A folder walked for mail also holds other files (a README, a list of
            # addresses): said once, not counted as an unreadable message.
            if walk is not None:
                walk.skipped.append(str(path))
            return
        try:
            data = head + f.read()
        except OSError as e:
            yield Message(str(path), 1, folder, problem=f"cannot read the file: {e.strerror}")
            return
    yield _one(path, folder, data[start:], now)


# A separator's first word: '-' (Thunderbird), an address or a bare mail-daemon name.
_SEP_TOKEN = re.compile(rb"-|\S*@\S*|MAILER-DAEMON|mailer-daemon|postmaster", re.I)
_ASCTIME = re.compile(
    rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    rb"\s+\d{1,2}\s+\d{1,2}:\d{2}(?::\d{2})?\s+(?:[A-Z]{2,5}\s+|[+-]\d{4}\s+)?\d{4}\s*$"
)
_FROM_LINE = re.compile(rb"^From (\S*)([^\r\n]*)\r?\n", re.M)
_FROM_HERE = re.compile(rb"From (\S*)([^\r\n]*)\r?\n")  # at a given position (after a BOM)


def _separator_at(data, pos: int) -> bool:
    """Whether the 'From ' line at pos is an mbox separator (see the module)."""
    m = _FROM_HERE.match(data, pos)
    if m is None:
        return False
    token, rest = m.group(1), m.group(2)
    if not (_SEP_TOKEN.fullmatch(token) or _ASCTIME.search(rest)):
        return False
    nxt = m.end()
    return _HEADER_LINE.match(data, nxt) is not None or data[nxt : nxt + 1] == b""


def _blank_before(data, pos: int) -> bool:
    return pos == 0 or data[pos - 2 : pos] == b"\n\n" or data[pos - 4 : pos] == b"\r\n\r\n"


def _separators(data, start: int) -> Iterator[tuple[int, int, bytes]]:
    """(line start, body start, the line) of every separator line; the file's first line
    (at start, after a BOM) is one."""
    first = _FROM_HERE.match(data, start)
    yield start, first.end(), first.group(0)
    for m in _FROM_LINE.finditer(data, first.end()):
        pos = m.start()
        if not _blank_before(data, pos) and not _ASCTIME.search(m.group(2)):
            continue
        if _separator_at(data, pos):
            yield pos, m.end(), m.group(0)


_ESCAPED = re.compile(rb"^>(>*From )", re.M)


def _read_mbox(path: Path, data, start: int, now: datetime) -> Iterator[Message]:
    name = path.stem or path.name
    seps = list(_separators(data, start))
    many = len(seps) > 1  # a .eml that starts with a 'From ' line is one message, not an mbox
    for n, (_pos, body_at, line) in enumerate(seps, 1):
        end = seps[n][0] if n < len(seps) else len(data)
        raw = data[body_at:end]
        if raw.endswith(b"\r\n\r\n"):
            raw = raw[:-2]
        elif raw.endswith(b"\n\n"):
            raw = raw[:-1]
        if b">From " in raw:
            raw = _ESCAPED.sub(rb"\1", raw)
        if not raw.strip():
            yield Message(str(path), n, name, problem="empty message", mbox=many)
            continue
        yield Message(str(path), n, name, mbox=many,
                      **parse(raw, now, mtime=lambda line=line: _asctime(line), mtime_from="mbox"))  # fmt: skip


def _asctime(line: bytes) -> datetime | None:
    """The delivery time on an mbox separator line (asctime, taken as UTC)."""
    m = _ASCTIME.search(line.rstrip(b"\r\n"))
    if not m:
        return None
    text = re.sub(r"\s+", " ", m.group(0).decode("ascii", "replace")).strip()
    for fmt in ("%a %b %d %H:%M:%S %Y", "%a %b %d %H:%M %Y"):
        try:
            return datetime.strptime(re.sub(r" [A-Z]{2,5} | [+-]\d{4} ", " ", text), fmt).replace(
                tzinfo=UTC
            )
        except ValueError:
            continue
    return None


# ---------------------------------------------------------------- one message


def parse(
    data: bytes, now: datetime | None = None, *, mtime=None, mtime_from: str = "mtime"
) -> dict:
    """One message's bytes as {"record": …} or {"problem": reason}; never raises.

    Its date is the Date header, else the newest Received header's, else ``mtime`` (the
    file's, or the mbox separator's: ``mtime_from`` says which; a datetime, or a function
    giving one when needed); ``date_from`` names the source, and both are None when there
    is none (the import then uses its own time).
    """
    try:
        return {"record": _record(data, now or datetime.now(UTC), mtime, mtime_from)}
    except _Unreadable as e:
        return {"problem": str(e)}
    except (RecursionError, MemoryError):
        return {"problem": "cannot read: the message is nested too deeply"}
    except Exception as e:  # a parser bug on odd input must not stop an import
        return {"problem": f"cannot read: {type(e).__name__}: {e}"[:300]}


class _Unreadable(Exception):
    pass


_HEADER_NAMES = (b"from:", b"to:", b"subject:", b"date:", b"message-id:", b"received:",
                 b"content-type:", b"mime-version:", b"return-path:", b"cc:", b"sender:")  # fmt: skip


def _record(data: bytes, now: datetime, mtime, mtime_from: str) -> dict:
    body = data
    if data[:1] in (b" ", b"\t", b"\r", b"\n"):
        m = _LEADING_BLANKS.match(data)
        body = data[m.end() :] if m else data
    if not body or body.isspace():
        raise _Unreadable("empty message")
    if not _HEADER_LINE.match(body):
        raise _Unreadable("not a mail message: it does not start with header lines")
    end = _HEAD_END.search(body)
    head_end = end.start() if end else len(body)
    if _OBS_COLON.search(body, 0, head_end):
        body = _OBS_COLON.sub(rb"\1:", body[:head_end]) + body[head_end:]
    msg = _parse_bytes(body, head_end)
    if not msg.keys():
        raise _Unreadable("not a mail message: no header could be read")
    head = body[:4096].lower()
    if not any(h in head for h in _HEADER_NAMES):
        raise _Unreadable("not a mail message: none of From, To, Subject, Date, Message-ID")
    hint = _charset_hint(body)
    h = _Headers(msg, hint)
    mid = _first_id(h.raw("message-id"))
    refs = _ids(h.raw("references"))
    irt = _first_id(h.raw("in-reply-to"))
    when, when_from = _date(h.raw("date"), now), "date"
    if when is None:
        when, when_from = _received_date(msg, now), "received"
    if when is None and callable(mtime):
        mtime = mtime()
    if when is None and mtime is not None and mtime <= now:
        when, when_from = mtime, mtime_from
    if when is None:
        when_from = None
    rec = {
        "message_id": mid,
        "hash": None if mid else "sha256:" + hashlib.sha256(_normal(body)).hexdigest(),
        "in_reply_to": irt,
        "references": refs,
        "date": _to_db(when) if when is not None else None,
        "date_from": when_from,
        "from": h.addresses("from") or h.addresses("sender"),
        "to": h.addresses("to"),
        "cc": h.addresses("cc"),
        "subject": h.text("subject"),
        "body": None,
        "attachments": [],
        "kind": "message",
        "why": None,  # what made it a bounce, complaint, auto-reply …
        "report": None,
    }
    leaves = list(_leaves(msg))
    rec["body"], rec["attachments"] = _body(leaves, hint)
    _classify(msg, h, leaves, rec, hint)
    return rec


FAST_PARSE = True  # tests compare this parse with the stdlib's own on every real file
_FAST_SUBTYPES = (b"multipart/mixed", b"multipart/alternative", b"multipart/related")


def _parse_bytes(data: bytes, head_end: int, depth: int = 0):
    """The message as the stdlib's compat32 parser would build it, faster.

    The stdlib's feed parser walks every line of the body in Python (a base64 attachment
    or an HTML part costs thousands of steps) and compiles a regular expression for each
    multipart boundary. Here only the header block goes through it: a leaf body becomes
    the payload as it is (what the stdlib would join it back into), and a
    multipart/mixed, alternative or related body is split at its boundary lines,
    each part read the same way. Anything else -- message/… parts, a digest, a missing
    closing boundary, parts with no headers -- goes to the stdlib whole."""
    if not FAST_PARSE or depth > 8 or head_end <= 0:
        return BytesParser(policy=_POLICY).parsebytes(data)
    lowered = data[:head_end].lower()
    if b"multipart/" in lowered:
        if any(t in lowered for t in _FAST_SUBTYPES):
            msg = _split_multipart(data, head_end, depth)
            if msg is not None:
                return msg
        return BytesParser(policy=_POLICY).parsebytes(data)
    if b"message/" in lowered:
        return BytesParser(policy=_POLICY).parsebytes(data)
    msg = _headers_only(data, head_end)
    if msg is None or msg.get_content_maintype() in ("multipart", "message"):
        return BytesParser(policy=_POLICY).parsebytes(data)
    m = _HEAD_END.match(data, head_end)
    msg.set_payload(data[m.end() if m else len(data) :].decode("ascii", "surrogateescape"))
    return msg


def _headers_only(data: bytes, head_end: int):
    """The header block parsed alone; None when the stdlib would not end it where we do."""
    msg = BytesParser(policy=_POLICY).parsebytes(data[:head_end] + b"\n\n", headersonly=True)
    if msg.defects or msg.get_payload():
        return None  # a line that is not a header ended the headers earlier
    return msg


def _split_multipart(data: bytes, head_end: int, depth: int):
    msg = _headers_only(data, head_end)
    if msg is None or msg.get_content_type() not in (
        "multipart/mixed",
        "multipart/alternative",
        "multipart/related",
    ):
        return None
    boundary = msg.get_boundary()
    if not boundary:
        return None
    m = _HEAD_END.match(data, head_end)
    body = data[m.end() if m else head_end :]
    delim = b"--" + boundary.encode("ascii", "surrogateescape")
    marks: list[tuple[int, int, bool]] = []  # (line start, next line start, closing)
    i = 0
    while True:
        j = body.find(delim, i)
        if j < 0:
            break
        i = j + 1
        if j and body[j - 1 : j] != b"\n":
            continue
        k = j + len(delim)
        closing = body[k : k + 2] == b"--"
        eol = body.find(b"\n", k)
        end = len(body) if eol < 0 else eol + 1
        if body[k + 2 * closing : end].strip(b" \t\r\n"):
            continue  # a longer boundary that starts with this one
        marks.append((j, end, closing))
        if closing:
            break
    if len(marks) < 2 or marks[0][2] or not marks[-1][2]:
        return None  # no part, or no closing line: the stdlib says what is wrong
    parts = []
    for (_, start, _), (stop, _, _) in zip(marks, marks[1:]):
        chunk = body[start:stop]
        if chunk.endswith(b"\r\n"):
            chunk = chunk[:-2]
        elif chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        if chunk[:1] in (b"\n", b"\r"):
            return None  # a part with no headers: the stdlib's defaults for it
        end = _HEAD_END.search(chunk)
        parts.append(_parse_bytes(chunk, end.start() if end else len(chunk), depth + 1))
    msg.set_payload(parts)
    msg.preamble = body[: marks[0][0]].decode("ascii", "surrogateescape") or None
    return msg


def _normal(body: bytes) -> bytes:
    """The bytes a content hash is taken of: line ends and trailing space made alike, so
    the same message from an mbox and from a .eml file is one message."""
    return body.replace(b"\r\n", b"\n").strip()


def _to_db(dt: datetime) -> str:
    from crm_cli.domain import dates

    return dates.to_db(dt)


# ---------------------------------------------------------------- header values


class _Headers:
    """Header values decoded to text, on demand (the raw values read once)."""

    __slots__ = ("map", "hint")

    def __init__(self, msg, hint: str | None):
        self.hint = hint
        self.map: dict[str, list[str]] = {}
        for k, v in msg.items():
            self.map.setdefault(k.lower(), []).append(v if isinstance(v, str) else str(v))

    def raw(self, name: str) -> str | None:
        v = self.map.get(name)
        return _unicode(v[0], self.hint) if v else None

    def all(self, name: str) -> list[str]:
        return [_unicode(v, self.hint) for v in self.map.get(name, ())]

    def text(self, name: str) -> str | None:
        v = self.raw(name)
        return one_line(decode_words(unfold(v))) if v is not None else None

    def addresses(self, name: str) -> list[tuple[str, str]]:
        return addresses(self.all(name))


def _unicode(value: str, hint: str | None) -> str:
    """A raw header value (8-bit bytes as surrogates) as text: UTF-8 (RFC 6532), else the
    message's charset, else cp1252."""
    if value.isascii():
        return value
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return decode_bytes(raw, hint)


def decode_text(raw: bytes, charset: str | None) -> str:
    """A body part's bytes as text in its declared charset. A single-byte charset
    (ISO-8859-x, windows-125x) that holds valid UTF-8 was declared wrongly: UTF-8 wins.
    Others (ISO-2022-JP, Shift_JIS …) go first; bytes they cannot read fall back to UTF-8,
    then cp1252."""
    codec = _codec(charset)
    if codec is None or codec in ("ascii", "utf-8"):
        return decode_bytes(raw, None)
    if codec.startswith(("iso8859", "cp125", "latin", "mac-", "koi8")):
        return decode_bytes(raw, codec)
    try:
        return raw.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return decode_bytes(raw, codec)


def decode_bytes(raw: bytes, charset: str | None) -> str:
    """Bytes as text: UTF-8 when they are, else the declared charset, else cp1252."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    codec = _codec(charset)
    if codec and codec not in ("utf-8", "ascii"):
        try:
            return raw.decode(codec)
        except (UnicodeDecodeError, LookupError):
            pass
    return raw.decode("cp1252", "replace")


_ALIASES = {"unknown-8bit": None, "x-unknown": None, "none": None, "default": None,
            "x-user-defined": None, "utf8": "utf-8", "ks_c_5601-1987": "cp949",
            "iso-8859-8-i": "iso-8859-8", "x-sjis": "shift_jis", "gb2312": "gb18030",
            "gbk": "gb18030", "windows-874": "cp874", "ansi_x3.4-1968": "ascii"}  # fmt: skip


def _codec(charset: str | None) -> str | None:
    """A Python codec for a MIME charset name, or None when it has none."""
    if not charset:
        return None
    import codecs

    name = charset.strip().strip('"').split("*", 1)[0].lower()
    name = _ALIASES.get(name, name)
    if name is None:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


_CHARSET = re.compile(rb'charset\s*=\s*"?([A-Za-z0-9_.:-]+)', re.I)


def _charset_hint(data: bytes) -> str | None:
    """The charset the message declares first (for 8-bit header bytes)."""
    for m in _CHARSET.finditer(data, 0, 8192):
        cs = m.group(1).decode("ascii")
        if _codec(cs) not in (None, "ascii"):
            return cs
    return None


_FOLD = re.compile(r"\r?\n(?=[ \t])")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufeff]")


def unfold(value: str) -> str:
    return _FOLD.sub("", value)


def one_line(text: str) -> str | None:
    """Text for a one-line field: control characters and line breaks become spaces."""
    t = " ".join(_CONTROL.sub(" ", text.replace("\r", " ").replace("\n", " ")).split())
    return t or None


_ENCODED = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words; whitespace between adjacent words goes, and adjacent
    words of one charset are decoded together (a character may be split across them)."""
    if "=?" not in value:
        return value
    pieces: list[str | tuple[str | None, bytes]] = []
    pos = 0
    for m in _ENCODED.finditer(value):
        text = value[pos : m.start()]
        if text and not (text.isspace() and pieces and isinstance(pieces[-1], tuple)):
            pieces.append(text)
        charset, enc, payload = m.groups()
        data = _word_bytes(enc, payload)
        codec = _codec(charset)
        last = pieces[-1] if pieces else None
        if isinstance(last, tuple) and last[0] == codec:
            pieces[-1] = (codec, last[1] + data)
        else:
            pieces.append((codec, data))
        pos = m.end()
    pieces.append(value[pos:])
    out = []
    for p in pieces:
        if isinstance(p, str):
            out.append(p)
        else:
            codec, data = p
            try:
                out.append(data.decode(codec) if codec else decode_bytes(data, None))
            except (UnicodeDecodeError, LookupError):
                out.append(decode_bytes(data, None))
    return "".join(out)


def _word_bytes(enc: str, payload: str) -> bytes:
    import binascii

    if enc in "bB":
        clean = re.sub(r"[^A-Za-z0-9+/]", "", payload)
        clean += "=" * (-len(clean) % 4)
        try:
            return binascii.a2b_base64(clean)
        except binascii.Error:
            return payload.encode("ascii", "replace")
    b = payload.replace("_", " ").encode("ascii", "replace")
    return binascii.a2b_qp(b)


_ADDR = re.compile(r"[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+\.[^@\s<>(),;:\"\[\]]+")


def addresses(values: list[str]) -> list[tuple[str, str]]:
    """(display name, lower-case address) of each address in these header values; the
    names decoded; groups, comments and obsolete syntax read; junk left out."""
    out: list[tuple[str, str]] = []
    seen = set()
    for value in values:
        text = unfold(value).replace("\r", " ").replace("\n", " ")
        pairs = _simple_addresses(text)
        if pairs is None:
            try:
                pairs = getaddresses([text])
            except Exception:
                pairs = []
        if not pairs or all(not a for _, a in pairs):
            pairs = [("", a) for a in _ADDR.findall(decode_words(text))]
        for name, addr in pairs:
            addr = addr.strip().strip("<>").lower()
            if "=?" in addr:
                addr = decode_words(addr)
            if not _ADDR.fullmatch(addr) or addr in seen:
                continue
            seen.add(addr)
            out.append((one_line(decode_words(name)) or "", addr))
    return out


_PLAIN = re.compile(r"\s*([^\s<>@\"(),;:\[\]\\]+@[^\s<>@\"(),;:\[\]\\]+)\s*")
_NAMED = re.compile(
    r'\s*(?:"([^"\\]*)"|([^<>"(),;:\[\]\\@]*?))\s*'
    r'<([^\s<>@"(),;:\[\]\\]+@[^\s<>@"(),;:\[\]\\]+)>\s*'
)


def _simple_addresses(text: str) -> list[tuple[str, str]] | None:
    """The common forms ('a@b', 'Name <a@b>', '"Name, Inc." <a@b>', lists of them) read
    without the stdlib's general parser; None when the value needs that parser."""
    if "(" in text or ";" in text or ":" in text:
        return None
    pieces = [text] if '"' in text else text.split(",")
    out = []
    for piece in pieces:
        if not piece.strip():
            continue
        m = _PLAIN.fullmatch(piece)
        if m:
            out.append(("", m.group(1)))
            continue
        m = _NAMED.fullmatch(piece)
        if m is None:
            return None
        out.append((m.group(1) if m.group(1) is not None else m.group(2), m.group(3)))
    return out


_ID = re.compile(r"<([^<>]*)>")
_COMMENT = re.compile(r"\([^()]*\)")


def _clean_id(text: str) -> str | None:
    t = text
    if "(" in t:
        t = _COMMENT.sub("", t)
    if not t.isalnum():
        t = "".join(t.split())
    return f"<{t}>" if t and "@" in t or (t and len(t) > 3 and " " not in t) else None


def _ids(value: str | None) -> list[str]:
    """Message ids in a References-like value, as '<id>', in order, once each."""
    if not value:
        return []
    value = unfold(value)
    found = [_clean_id(x) for x in _ID.findall(value)]
    if not found:  # ids written without angle brackets
        found = [_clean_id(x) for x in value.replace(",", " ").split() if "@" in x]
    return list(dict.fromkeys(x for x in found if x))


def _first_id(value: str | None) -> str | None:
    ids = _ids(value)
    return ids[0] if ids else None


def _date(value: str | None, now: datetime) -> datetime | None:
    """A Date value as an aware UTC datetime; None when it cannot be read or is in the
    future (a wrong clock: another time source is better)."""
    if not value:
        return None
    try:
        dt = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        text = " ".join(_COMMENT.sub(" ", unfold(value)).split())
        text = re.sub(r"\s*:\s*", ":", text)  # obsolete syntax: '09 :  55  :  06'
        try:
            dt = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        dt = dt.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    if dt.year < 1970 or dt > now + timedelta(days=1):
        return None
    return dt


def _received_date(msg, now: datetime) -> datetime | None:
    """The time the newest Received header gives (after its last ';')."""
    for value in msg.get_all("received") or ():
        v = str(value)
        if ";" in v:
            dt = _date(v.rsplit(";", 1)[1], now)
            if dt is not None:
                return dt
    return None


# ---------------------------------------------------------------- parts and body


def _ct(part) -> str:
    """A part's content type, worked out once."""
    d = part.__dict__
    ct = d.get("_crm_ct")
    if ct is None:
        ct = d["_crm_ct"] = part.get_content_type()
    return ct


def _walk(part, depth: int):
    """The part and every part inside it, not descending into attached messages."""
    yield part
    if depth > _MAX_DEPTH or _ct(part).startswith("message/"):
        return
    if part.is_multipart():
        for sub in part.get_payload():
            if hasattr(sub, "get_content_type"):
                yield from _walk(sub, depth + 1)


def _leaves(msg):
    """The message's leaf parts: text, attachments, attached messages, report parts."""
    for part in _walk(msg, 0):
        message = _ct(part).startswith("message/")
        if message or not part.is_multipart():
            if part is msg and message:
                continue  # a whole message typed message/…: its fields are read elsewhere
            yield part


def _h(part, name: str) -> str:
    """A part's raw header value ('' when absent), the headers read once."""
    d = part.__dict__
    hs = d.get("_crm_h")
    if hs is None:
        hs = d["_crm_h"] = {}
        for k, v in part._headers:
            hs.setdefault(k.lower(), v if isinstance(v, str) else str(v))
    return hs.get(name, "")


def _disposition(part) -> str:
    v = _h(part, "content-disposition")
    return v.split(";", 1)[0].strip().lower() if v else ""


def _filename(part, hint) -> str | None:
    try:
        name = part.get_filename() or part.get_param("name")
    except Exception:
        return None
    if isinstance(name, tuple):  # an RFC 2231 value compat32 left undecoded
        from email.utils import collapse_rfc2231_value

        name = collapse_rfc2231_value(name)
    if not name:
        return None
    return one_line(decode_words(_unicode(str(name), hint)))


def _is_attachment(part, name: str | None) -> bool:
    if name or _disposition(part) == "attachment":
        return True
    return not _ct(part).startswith(("text/", "multipart/"))


def _may_have_name(part) -> bool:
    """Cheaply: whether the part's headers could give a file name at all."""
    return (
        "name" in _h(part, "content-type").lower()
        or "name" in _h(part, "content-disposition").lower()
    )


def _part_text(part, hint, limit: int = _PART_BYTES) -> str:
    """A leaf's content as text (transfer encoding undone, charset applied)."""
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if data is None:
        payload = part.get_payload()
        data = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
    data = data[:limit]
    m = _CHARSET_PARAM.search(_h(part, "content-type"))
    charset = m.group(1) if m else None
    return decode_text(data, charset or hint)


_CHARSET_PARAM = re.compile(r'charset\s*=\s*"?([^";\s]+)', re.I)


def _body(leaves, hint) -> tuple[str | None, list[str]]:
    plain: list[str] = []
    html: list = []
    names: list[str] = []
    for part in leaves:
        ctype = _ct(part)
        name = _filename(part, hint) if _may_have_name(part) else None
        if ctype == "message/rfc822":
            names.append(name or _attached_name(part))
            continue
        if ctype.startswith("message/") or ctype == "text/rfc822-headers":
            continue  # report parts: read by _classify
        if _is_attachment(part, name):
            if name:
                names.append(name)
            continue
        if ctype == "text/html":
            html.append(part)
        elif ctype.startswith("text/"):
            text = _part_text(part, hint)
            if text.strip():
                plain.append(text)
    if plain:
        text = "\n\n".join(t.strip("\r\n") for t in plain)
    elif html:
        text = "\n\n".join(html_to_text(_part_text(p, hint, _HTML_BYTES)) for p in html)
    else:
        text = ""
    return clean_body(text), list(dict.fromkeys(names))


def _attached_name(part) -> str:
    try:
        inner = part.get_payload(0)
        subject = one_line(decode_words(unfold(_unicode(str(inner.get("subject", "")), None))))
    except Exception:
        subject = None
    return f"{subject or 'message'}.eml"


_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_MANY_LINES = re.compile(r"\n{4,}")
_NOT_BODY = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufeff]")


def clean_body(text: str) -> str | None:
    """Body text as stored: CRLF made LF, control characters out, at most BODY_LIMIT long."""
    t = text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text
    if _NOT_BODY.search(t):
        t = _NOT_BODY.sub("", t)
    if " \n" in t or "\t\n" in t:
        t = _TRAILING_SPACE.sub("\n", t)
    if "\n\n\n\n" in t:
        t = _MANY_LINES.sub("\n\n\n", t)
    t = t.strip()
    if len(t) > BODY_LIMIT:
        t = t[:BODY_LIMIT].rstrip() + "\n[… cut: the message is longer]"
    return t or None


class _HtmlText(HTMLParser):
    """HTML as plain text: block elements break lines, scripts and styles are dropped."""

    BLOCK = {"p", "div", "section", "article", "header", "footer", "blockquote", "pre", "table",
             "tr", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
             "address", "center", "form", "fieldset", "main", "nav", "aside", "figure"}  # fmt: skip
    SKIP = {"script", "style", "head", "title", "noscript", "template", "svg"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.pre = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag in self.BLOCK:
            self.out.append("\n\n" if tag in ("p", "blockquote", "table", "ul", "ol") else "\n")
            if tag == "pre":
                self.pre += 1
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt and not self.skip:
                self.out.append(f" {alt} ")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCK:
            self.out.append("\n\n" if tag in ("p", "blockquote", "table", "ul", "ol") else "\n")
            if tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_data(self, data):
        if self.skip:
            return
        if self.pre:
            self.out.append(data.replace("\n", "\x00"))  # kept through the whitespace pass
        elif data.isspace():
            self.out.append(" ")
        else:
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """HTML as readable plain text (stdlib html.parser; never raises)."""
    p = _HtmlText()
    try:
        p.feed(html)
        p.close()
    except Exception:
        pass
    text = "".join(p.out)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text.replace("\x00", "\n")


# ---------------------------------------------------------------- what the message is

_DAEMON = re.compile(r"^(?:mailer-daemon|mail-daemon|mailerdaemon|postmaster|mail\.?delivery"
                     r"(?:\.?system|\.?subsystem)?|mdaemon)(?:[+-].*)?$", re.I)  # fmt: skip
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:delivery status notification|undeliver(?:ed|able)|returned mail|mail delivery"
    r" (?:failed|failure|subsystem)|delivery (?:failure|failed|has failed|notification)|failure"
    r" notice|mail system error|non[- ]?delivery|warning: could not send|delayed mail)",
    re.I,
)
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:auto(?:matic)?[ _-]?(?:reply|response|antwort|respuesta)|autoreply|"
    r"out of (?:the )?office|abwesenheitsnotiz|abwesenheit|r[ée]ponse automatique|"
    r"respuesta autom[aá]tica|risposta automatica|automatisch antwoord|resposta autom[aá]tica|"
    r"fuera de la oficina|absent du bureau)\b",
    re.I,
)
_FBL_SENDERS = {"scomp@aol.net", "feedback@arf.mail.yahoo.com", "staff@hotmail.com",
                "complaints@email-abuse.amazonses.com"}  # fmt: skip


def _classify(msg, h: _Headers, leaves, rec: dict, hint) -> None:
    ctype = _ct(msg)
    report_type = (_param(msg, "report-type") or "").lower() if ctype == "multipart/report" else ""
    types = {_ct(p) for p in leaves} | {ctype}
    sender = rec["from"][0][1] if rec["from"] else ""
    if (
        report_type == "feedback-report"
        or "message/feedback-report" in types
        or (sender in _FBL_SENDERS and "message/rfc822" in types)
    ):
        _complaint(leaves, rec, hint)
        return
    if report_type in ("delivery-status", "global-delivery-status") or types & {
        "message/delivery-status", "message/global-delivery-status"
    }:  # fmt: skip
        if _dsn(msg, leaves, rec, hint):
            return
    if report_type == "disposition-notification" or "message/disposition-notification" in types:
        rec["kind"], rec["why"] = "receipt", "read receipt (disposition notification)"
        for part in leaves:
            if _ct(part) == "message/disposition-notification":
                fields = _fields(part, hint)
                oid = _first_id(fields.get("original-message-id"))
                if oid:
                    rec["report"] = {"original_message_id": oid}
                    rec["in_reply_to"] = rec["in_reply_to"] or oid
        return
    local = sender.split("@", 1)[0]
    # A mail system's message: from a daemon's address, or with a bounce's subject and a
    # null sender (Return-Path <>) or Auto-Submitted -- a shop's "Delivery notification"
    # from a person's address is a message.
    null_sender = any((h.text(n) or "").strip() == "<>" for n in ("return-path", "x-envelope-from"))
    bounce_subject = bool(_BOUNCE_SUBJECT.match(rec["subject"] or ""))
    automatic = null_sender or h.raw("auto-submitted") is not None
    daemon = (
        bool(_DAEMON.match(local)) and (bounce_subject or automatic or bool(report_type))
    ) or (bounce_subject and automatic and not rec["in_reply_to"])
    if (
        daemon
        or report_type in ("delivery-status", "global-delivery-status")
        or h.raw("x-failed-recipients")
    ):
        if _plain_bounce(msg, h, leaves, rec, hint):
            return
        if daemon or report_type:
            rec["kind"], rec["why"] = "report", "mail-system message naming no failed address"
            return
    why = _auto_reply(h, rec)
    if why:
        rec["kind"], rec["why"] = "auto_reply", why


def _param(part, name: str) -> str | None:
    try:
        v = part.get_param(name)
    except Exception:
        return None
    if isinstance(v, tuple):
        v = v[2]
    return str(v) if v is not None else None


def _auto_reply(h: _Headers, rec: dict) -> str | None:
    auto = (h.text("auto-submitted") or "").split(";", 1)[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    for name in ("x-autoreply", "x-autorespond", "x-autoresponse"):
        v = (h.text(name) or "").strip().lower()
        if v and v not in ("no", "false", "0"):
            return f"{name.title()}: {v}"
    for name in ("precedence", "x-precedence"):
        if (h.text(name) or "").strip().lower() == "auto_reply":
            return "Precedence: auto_reply"
    if (h.text("x-autogenerated") or "").strip().lower() == "reply":
        return "X-Autogenerated: Reply"
    if _AUTO_SUBJECT.match(rec["subject"] or ""):
        return f"subject: {rec['subject'][:60]}"
    return None


def _fields(part, hint) -> dict[str, str]:
    """The fields of a report part (message/feedback-report, message/disposition-…),
    lower-case names, first value of each, decoded and unfolded."""
    out: dict[str, str] = {}
    for block in _blocks(part, hint):
        for k, v in block:
            out.setdefault(k, v)
    return out


def _blocks(part, hint) -> list[list[tuple[str, str]]]:
    """A report part's field blocks (RFC 3464 per-message and per-recipient groups)."""
    payload = part.get_payload()
    blocks: list[list[tuple[str, str]]] = []
    if isinstance(payload, list):
        encoded = False
        for sub in payload:
            if not hasattr(sub, "items"):
                continue
            items = [(k.lower(), one_line(unfold(_unicode(str(v), hint))) or "")
                     for k, v in sub.items()]  # fmt: skip
            blocks.append(items)
            inner = sub.get_payload()
            if isinstance(inner, str) and inner.strip():  # fields after a stray blank line,
                if not items and encoded:  # or the rest in base64, announced by the block before
                    import binascii

                    try:
                        inner = binascii.a2b_base64(re.sub(r"[^A-Za-z0-9+/=]", "", inner))
                        blocks += _text_blocks(decode_bytes(inner, None), hint)
                    except binascii.Error:
                        pass
                else:
                    blocks += _text_blocks(_part_text(sub, hint), hint)
            encoded = dict(items).get("content-transfer-encoding", "").lower() == "base64"
        return blocks
    if isinstance(payload, str):
        return _text_blocks(_part_text(part, hint), hint)
    return blocks


def _text_blocks(text: str, hint) -> list[list[tuple[str, str]]]:
    out = []
    for chunk in re.split(r"\r?\n[ \t]*\r?\n", text.replace("\r\n", "\n")):
        if not chunk.strip():
            continue
        try:
            fields = HeaderParser(policy=_POLICY).parsestr(chunk.strip() + "\n\n", headersonly=True)
        except Exception:
            continue
        items = [(k.lower(), one_line(unfold(_unicode(str(v), hint))) or "")
                 for k, v in fields.items()]  # fmt: skip
        if items:
            out.append(items)
    return out


def _field_address(value: str | None) -> str | None:
    """The address of a DSN/ARF field value such as 'rfc822; <a@b.example>'."""
    if not value:
        return None
    v = value.split(";", 1)[1] if ";" in value else value
    m = _ADDR.search(v.strip().strip("<>"))
    return m.group(0).lower() if m else None


_STATUS = re.compile(r"\b([245])\.\d{1,3}\.\d{1,3}\b")
_SMTP_CODE = re.compile(r"\b([245])\d\d\b")


def _dsn(msg, leaves, rec: dict, hint) -> bool:
    """An RFC 3464 report: one entry per failed or delayed recipient. False when it
    names none (then the plain-text reading is tried)."""
    recipients = []
    for part in [*leaves, msg]:
        if _ct(part) not in ("message/delivery-status",
                                           "message/global-delivery-status"):  # fmt: skip
            continue
        for block in _blocks(part, hint):
            f = dict(block)
            addr = _field_address(f.get("final-recipient")) or _field_address(
                f.get("original-recipient")
            )
            if not addr:
                continue
            action = (f.get("action") or "").strip().lower().split()[0:1]
            action = action[0] if action else ""
            diag = f.get("diagnostic-code") or ""
            diag = diag.split(";", 1)[1].strip() if ";" in diag[:12] else diag.strip()
            m = _STATUS.search(f.get("status") or "") or _STATUS.search(diag)
            status = m.group(0) if m else None
            klass = m.group(1) if m else None
            if klass is None and diag:
                c = _SMTP_CODE.search(diag)
                klass = c.group(1) if c else None
            if action in ("delivered", "relayed", "expanded") or klass == "2":
                continue  # a success notice about this recipient
            if action == "delayed" or klass == "4":
                hard = False  # given up after retries, or still trying: not a bad address
            elif action == "failed" or klass == "5":
                hard = True
            else:
                continue
            original = _field_address(f.get("original-recipient"))
            recipients.append({"address": addr, "original": original if original != addr else None,
                               "action": action or None, "status": status,
                               "diagnostic": (diag or status or action)[:500] or None,
                               "hard": hard})  # fmt: skip
    if not recipients:
        return False
    _set_bounce(rec, recipients, _original(leaves, rec, hint), "delivery status notification")
    return True


def _set_bounce(rec: dict, recipients: list[dict], original: dict, why: str) -> None:
    seen: dict[str, dict] = {}
    for r in recipients:  # one entry per address; a hard failure wins over a delay
        have = seen.get(r["address"])
        if have is None or (r["hard"] and not have["hard"]):
            seen[r["address"]] = r
    rec["kind"], rec["why"] = "bounce", why
    rec["report"] = {"recipients": list(seen.values()), **original}


def _original(leaves, rec: dict, hint) -> dict:
    """What a report says of the message it is about: its Message-ID and recipients."""
    for part in leaves:
        ctype = _ct(part)
        inner = None
        if ctype in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
        elif ctype in ("text/rfc822-headers", "message/rfc822-headers",
                       "message/global-headers"):  # fmt: skip
            inner = _headers_in(_part_text(part, hint))
        if inner is not None and hasattr(inner, "get"):
            h = _Headers(inner, hint)
            oid = _first_id(h.raw("message-id"))
            to = [a for _, a in h.addresses("to") + h.addresses("cc")]
            if oid or to:
                return {"original_message_id": oid, "original_to": to}
    text = rec.get("body") or ""
    m = _ORIGINAL_MARK.search(text)
    if m:
        inner = _headers_in(text[m.end() :])
        if inner is not None:
            h = _Headers(inner, hint)
            return {"original_message_id": _first_id(h.raw("message-id")),
                    "original_to": [a for _, a in h.addresses("to") + h.addresses("cc")]}  # fmt: skip
    return {"original_message_id": None, "original_to": []}


_ORIGINAL_MARK = re.compile(
    r"^[ \t]*-*[ \t]*(?:original message(?: follows)?|this is a copy of the message.*|"
    r"undelivered message (?:headers )?follows|below this line is a copy of the message)"
    r"[ \t.:-]*$",
    re.I | re.M,
)


def _headers_in(text: str):
    text = text.lstrip("\r\n")
    if not re.match(r"[!-9;-~]+[ \t]*:", text):
        return None
    try:
        return HeaderParser(policy=_POLICY).parsestr(text, headersonly=True)
    except Exception:
        return None


# Phrases a plain-text bounce puts before its indented list of failed addresses.
_FAILED_LIST = re.compile(
    r"(?:failed permanently|following address(?:es|\(es\))? failed|following recipients?"
    r" (?:failed|could not be reached|had permanent fatal errors)|(?:has|have) been delayed)"
    r"[^\n]*\n",
    re.I,
)
_LISTED = re.compile(r"^[ \t]+<?([^\s<>@]+@[^\s<>]+?)>?:?[ \t]*$", re.M)
_DELIVERY_FAILED = re.compile(r"Delivery failed(?: \d+ attempts?)?:\s*<?([^\s<>]+@[^\s<>]+?)>?\s*$",
                              re.I | re.M)  # fmt: skip
_POSTFIX = re.compile(r"^<([^\s<>@]+@[^\s<>]+)>:? ", re.M)
_SOFT_WORDS = re.compile(
    r"delayed|will be retried|still being retried|temporar|could not send message for past|"
    r"warning:? (?:message|could not)|will keep trying|not yet been delivered|deferred",
    re.I,
)


def _plain_bounce(msg, h: _Headers, leaves, rec: dict, hint) -> bool:
    """A bounce without a readable RFC 3464 part (Gmail's and Exim's plain text, old MTAs):
    True when the failed address is certain -- X-Failed-Recipients, or an address the text
    names that the embedded original was sent to."""
    text = rec.get("body") or ""
    original = _original(leaves, rec, hint)
    sent_to = set(original["original_to"])
    own = {a for _, a in rec["to"]}
    failed: list[str] = []
    header = h.raw("x-failed-recipients")
    if header:
        failed = [a for _, a in addresses([header])]
    if not failed:
        spots = []
        for m in _FAILED_LIST.finditer(text):
            lines = []
            for line in text[m.end() : m.end() + 2000].split("\n"):
                if line.strip() and not line[:1].isspace():
                    break  # the indented list ends at the next paragraph
                lines.append(line)
            spots += _LISTED.findall("\n".join(lines))
        certain = bool(spots)
        spots += _DELIVERY_FAILED.findall(text)
        certain = certain or bool(spots)
        if not spots:
            spots = _POSTFIX.findall(text)
        spots = [s.lower().rstrip(".") for s in spots]
        failed = [a for a in dict.fromkeys(spots) if _ADDR.fullmatch(a) and a not in own
                  and (a in sent_to or (certain and not sent_to))]  # fmt: skip
    if not failed:
        return False
    soft = bool(_SOFT_WORDS.search(" ".join(filter(None, (rec["subject"], text[:3000])))))
    code = re.search(r"\b([45])\d\d[ -]#?([45])\.\d{1,3}\.\d{1,3}[^\n]*", text)
    if code:
        soft = code.group(2) == "4"
    diag = code.group(0).strip()[:500] if code else None
    if diag is None:
        line = re.search(r"^.*(?:fail|error|reject|unknown|not found|full|denied).*$", text,
                         re.I | re.M)  # fmt: skip
        diag = one_line(line.group(0))[:500] if line else None
    recipients = [{"address": a, "original": None, "action": "delayed" if soft else "failed",
                   "status": None, "diagnostic": diag, "hard": not soft} for a in failed]  # fmt: skip
    _set_bounce(rec, recipients, original, "bounce text from a mail system")
    return True


def _complaint(leaves, rec: dict, hint) -> None:
    fields: dict[str, list[str]] = {}
    for part in leaves:
        if _ct(part) == "message/feedback-report":
            for block in _blocks(part, hint):
                for k, v in block:
                    fields.setdefault(k, []).append(v)
    ftype = (fields.get("feedback-type") or ["abuse"])[0].strip().lower() or "abuse"
    original = _original(leaves, rec, hint)
    addrs = [a for v in fields.get("original-rcpt-to", []) + fields.get("removal-recipient", [])
             if (a := _field_address(v))]  # fmt: skip
    if not addrs:
        addrs = original["original_to"][:1]
    if original["original_message_id"] is None:  # AOL says it in the text part
        m = re.search(r"message-id of <?([^\s<>]+@[^\s<>]+?)>? ", rec.get("body") or "")
        if m:
            original["original_message_id"] = f"<{m.group(1)}>"
    if ftype == "not-spam":
        rec["kind"], rec["why"] = "report", "feedback report: not spam"
    else:
        rec["kind"], rec["why"] = "complaint", f"feedback report: {ftype}"
    rec["report"] = {"feedback_type": ftype, "addresses": list(dict.fromkeys(addrs)), **original}


# ---------------------------------------------------------------- the import source


def open_source(paths: list[str], opts):
    """The messages under these paths as an import Source (items in file order)."""
    from crm_cli.domain import dates
    from crm_cli.domain.imports import Item
    from crm_cli.errors import NotFound

    try:
        found = check_paths(paths)
    except FileNotFoundError as e:
        raise NotFound(f"no file or folder {e.args[0]}") from None
    walk = Walk()
    now = dates.now()
    reader = read_in_worker if _worth_a_worker(found) else read

    def items():
        for m in reader(found, walk, now):
            if m.problem:
                walk.problems.append({"where": m.where, "reason": m.problem})
                yield Item(m.n, m.where, problem=m.problem)
            else:
                m.record["path"], m.record["n"], m.record["folder"] = m.path, m.n, m.folder
                yield Item(m.n, m.where, record=m.record)

    return _source(items(), found, walk)


# ---------------------------------------------------------------- a second process

PARALLEL_BYTES = 4 << 20  # mail larger than this is read in a worker process (2+ cores)
_CHUNK = 250  # messages sent to the importing process at a time
_AHEAD = 16  # chunks the worker may read ahead of the import (memory stays bounded)


def _worth_a_worker(paths: list[Path]) -> bool:
    """Whether there is enough mail (and a second core) to read it in another process."""
    if (os.cpu_count() or 1) < 2:
        return False
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_size
        else:
            for folder, _dirs, files in os.walk(path):
                for name in files:
                    try:
                        total += os.stat(os.path.join(folder, name)).st_size
                    except OSError:
                        pass
                    if total > PARALLEL_BYTES:
                        return True
        if total > PARALLEL_BYTES:
            return True
    return False


def read_in_worker(paths: list[Path], walk: Walk, now: datetime) -> Iterator[Message]:
    """``read`` in a second process: parsing (most of an import's time) runs alongside the
    database writes. Same messages, same order."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    # A queue, not a bare pipe: the worker reads on while a batch commits (its feeder
    # thread holds up to _AHEAD chunks), instead of blocking on a full 64 KiB pipe.
    queue = ctx.Queue(maxsize=_AHEAD)
    proc = ctx.Process(target=_worker, args=(paths, now, queue), daemon=True)
    proc.start()
    try:
        while True:
            try:
                what, payload = queue.get(timeout=5)
            except Exception:  # queue.Empty: still working, unless it died
                if proc.is_alive():
                    continue
                raise RuntimeError("the mail reading process ended unexpectedly") from None
            if what == "messages":
                yield from payload
            elif what == "done":
                walk.files, walk.skipped = payload
                return
            else:
                raise RuntimeError(f"the mail reading process failed: {payload}")
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join()
        queue.close()
        queue.cancel_join_thread()


def _worker(paths: list[Path], now: datetime, queue) -> None:
    _die_with_parent()
    walk = Walk()
    chunk: list[Message] = []
    try:
        for m in read(paths, walk, now):
            chunk.append(m)
            if len(chunk) >= _CHUNK:
                queue.put(("messages", chunk))
                chunk = []
        if chunk:
            queue.put(("messages", chunk))
        queue.put(("done", (walk.files, walk.skipped)))
    except Exception as e:  # noqa: BLE001 - said to the importing process, which stops
        queue.put(("error", f"{type(e).__name__}: {e}"))
    queue.close()
    queue.join_thread()


def _die_with_parent() -> None:
    """In the worker: end when the import process ends, even by kill -9 (Linux)."""
    import signal
    import sys

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _source(items, found: list[Path], walk: Walk):
    from crm_cli.domain.imports import Source

    name = "; ".join(str(p.resolve()) for p in found)
    # extra: read by the command after the run (files walked, files that were not mail)
    return Source(items, path=found[0], fmt="mail", system="mail", name=name,
                  extra={"walk": walk})  # fmt: skip
