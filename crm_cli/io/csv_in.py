"""Read CSV files as they come: any common encoding, delimiter and line end, streamed row by row.

``open_csv`` looks at a sample of the file (encoding, delimiter, junk lines before
the header, the header itself); ``CsvFile.rows()`` then streams the records with
the physical line each starts on and its text as read, so an importer can write a
reject file that holds each bad row as it was. Rows the reader cannot trust (more
cells than the header, a NUL byte, undecodable bytes, a quote left open) carry a
``problem``; rows with fewer cells than the header are padded with ``''``.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from crm_cli.errors import InvalidInput

SAMPLE_BYTES = 64 * 1024
DELIMITERS = (",", "\t", ";", "|")  # preference order when the sample cannot tell
MAX_JUNK_LINES = 20
_WESTERN = {"cp1252", "latin_1", "iso8859_1", "iso8859_15", "cp1250", "cp1254"}
_NOT_IN_CP1252 = frozenset(b"\x81\x8d\x8f\x90\x9d")
_MAGIC = {
    b"PK\x03\x04": "a zip archive (an .xlsx or .ods spreadsheet?); export it as CSV",
    b"\xd0\xcf\x11\xe0": "an Office document (an .xls spreadsheet?); export it as CSV",
    b"%PDF": "a PDF document",
    b"SQLite format 3\x00": "an SQLite database",
    b"\x1f\x8b": "a gzip archive",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
}
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f]")
_SPACES = re.compile(r"\s+")
# Our exporter puts a ' before cells a spreadsheet would run as a formula.
_GUARDED = ("=", "+", "-", "@", "\t", "\r")


def guard(value: str) -> str:
    """Neutralise a cell a spreadsheet would read as a formula (for CSV export)."""
    return "'" + value if value.startswith(_GUARDED) else value


def unguard(value: str) -> str:
    """Remove the formula guard ``guard`` added, so '+34 600… reads back as +34 600…."""
    if len(value) > 1 and value[0] == "'" and value[1] in _GUARDED:
        return value[1:]
    return value


@dataclass(frozen=True)
class Row:
    line: int  # 1-based physical line where the record starts
    raw: str  # the record's text as read (decoded, line ends included)
    values: dict[str, str]  # header -> cell; '' for missing trailing cells
    problem: str | None = None  # why the row cannot be trusted; None when fine
    warning: str | None = None  # something the row survived (padded short row)


@dataclass
class CsvFile:
    """A CSV file's detected layout; ``rows()`` streams its records."""

    path: str
    encoding: str
    delimiter: str
    header: list[str]
    skipped: int  # physical lines before the header (blank or junk)
    header_lines: int = 1  # physical lines the header record spans
    blank: int = field(default=0)  # blank or all-empty records skipped by the last rows()

    def rows(self) -> Iterator[Row]:
        """Yield the data records after the header, one at a time."""
        self.blank = 0
        width = len(self.header)
        records = _records(self.path, self.encoding, self.delimiter, self.skipped)
        next(records, None)  # the header record
        for line, raw, cells, problem in records:
            if problem is None and not any(c.strip() for c in cells):
                self.blank += 1
                continue
            warning = None
            if problem is None and len(cells) > width:
                extra = cells[width:]
                if any(c.strip() for c in extra):
                    problem = f"row has {len(cells)} fields, the header has {width}"
            if len(cells) < width:
                if problem is None and cells:
                    warning = f"row has {len(cells)} fields, the header has {width}; padded"
                cells = cells + [""] * (width - len(cells))
            values = dict(zip(self.header, cells))
            yield Row(line, raw, values, problem, warning)


def open_csv(
    path,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    skip_lines: int | None = None,
) -> CsvFile:
    """Detect a CSV file's encoding, delimiter, junk lines and header."""
    path = os.fspath(path)
    name = os.path.basename(path)
    try:
        with open(path, "rb") as f:
            sample = f.read(SAMPLE_BYTES)
            whole = len(sample) < SAMPLE_BYTES or not f.read(1)
    except OSError as e:
        raise InvalidInput(f"{path}: cannot read: {e.strerror or e}") from None
    if not sample:
        raise InvalidInput(f"{path}: the file is empty")
    for magic, what in _MAGIC.items():
        if sample.startswith(magic):
            raise InvalidInput(f"{path}: this is {what}, not a CSV file")
    if encoding:
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            raise InvalidInput(f"unknown encoding {encoding!r}") from None
    else:
        encoding = detect_encoding(sample)
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample, final=whole)
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise InvalidInput(f"{path}: the file holds no rows")
    if len(_CONTROL.findall(text)) > max(8, len(text) // 20):
        raise InvalidInput(f"{path}: binary data, not a CSV file")
    if delimiter:
        delimiter = {"tab": "\t", "\\t": "\t"}.get(delimiter.lower(), delimiter)
        if len(delimiter) != 1 or delimiter in '"\r\n':
            raise InvalidInput(f"--delimiter must be one character, not {delimiter!r}")
    else:
        delimiter = sniff_delimiter(text, whole)
    if skip_lines is not None and skip_lines < 0:
        raise InvalidInput("--skip-lines must be 0 or more")
    if skip_lines is None:
        skip_lines = _junk_lines(text, delimiter, whole)
    try:
        found = _header(path, encoding, delimiter, skip_lines)
    except UnicodeError as e:  # an explicit --encoding that cannot decode the file
        raise InvalidInput(f"{path}: cannot decode as {encoding}: {e}") from None
    if found is None:
        raise InvalidInput(f"{path}: no header row found in {name}")
    skipped, header_lines, cells = found
    return CsvFile(path, encoding, delimiter, clean_header(cells), skipped, header_lines)


def detect_encoding(sample: bytes) -> str:
    """Name the codec of a file from its first bytes (BOM, UTF-8, UTF-16, else charset-normalizer)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if sample.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le"
    if sample.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be"
    # UTF-16 without a BOM: ASCII-heavy text has a NUL in every other byte.
    pairs = len(sample) // 2
    if pairs >= 2:
        even = sample[0 : pairs * 2 : 2].count(0)
        odd = sample[1 : pairs * 2 : 2].count(0)
        if odd > pairs * 0.3 and even < pairs * 0.05:
            return "utf-16-le"
        if even > pairs * 0.3 and odd < pairs * 0.05:
            return "utf-16-be"
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(sample, final=False)
    bad = text.count("\ufffd")
    if bad == 0 or sum(c >= "\x80" for c in text) - bad >= 10 * bad:
        return "utf-8"  # UTF-8 with a few stray bytes: those rows are reported, not the file
    western = "latin-1" if _NOT_IN_CP1252 & set(sample) else "cp1252"
    if sum(b >= 0x80 for b in sample) < 8:
        return western  # too little evidence for a statistical guess
    from charset_normalizer import from_bytes

    results = list(from_bytes(sample))
    if not results:
        return western
    best = results[0]
    # Western single-byte code pages tie on Latin text; prefer cp1252 unless clearly worse.
    for r in results:
        if r.encoding in _WESTERN and r.chaos <= best.chaos + 0.1:
            return western
    return codecs.lookup(best.encoding).name


def sniff_delimiter(text: str, whole: bool = True) -> str:
    """Pick the delimiter that splits the sample's records most consistently."""
    best, best_score = ",", None
    for rank, d in enumerate(DELIMITERS):
        if d not in text:
            continue
        counts = [len(r) for r in _sample_records(text, d, whole) if any(c.strip() for c in r)]
        if not counts:
            continue
        width, n = Counter(counts).most_common(1)[0]
        if width < 2:
            continue
        score = (round(n / len(counts), 2), -rank)
        if best_score is None or score > best_score:
            best, best_score = d, score
    return best


def clean_header(cells: list[str]) -> list[str]:
    """Strip header cells, name empty ones column_N and make repeated names unique."""
    out: list[str] = []
    seen: set[str] = set()
    for i, cell in enumerate(cells, 1):
        name = _SPACES.sub(" ", cell.replace("\ufeff", "").replace("\x00", "")).strip()
        name = name or f"column_{i}"
        base, n = name, 1
        while name.casefold() in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name.casefold())
        out.append(name)
    return out


# ---------------------------------------------------------------- internals


def _sample_records(text: str, delimiter: str, whole: bool, limit: int = 200) -> list[list[str]]:
    lines = io.StringIO(text.replace("\x00", ""), newline="")
    out = []
    try:
        for rec in csv.reader(lines, delimiter=delimiter):
            out.append(rec)
            if len(out) >= limit:
                return out
    except csv.Error:
        pass
    if not whole and out:
        out.pop()  # the sample may end inside the last record
    return out


def _junk_lines(text: str, delimiter: str, whole: bool) -> int:
    """Count physical lines before the header: blank lines, then title-like lines.

    Conservative: a line is junk only when it has at most one non-empty cell while
    the records after it agree on a width of three or more cells, and it is either
    shorter than that width or followed by a fully filled record of that width.
    """
    lines = io.StringIO(text.replace("\x00", ""), newline="")
    consumed = 0
    recs: list[tuple[int, list[str]]] = []
    feed = _counting(lines)
    reader = csv.reader(feed, delimiter=delimiter)
    try:
        for rec in reader:
            recs.append((consumed, rec))
            consumed = feed.count
            if len(recs) > MAX_JUNK_LINES + 20:
                break
    except csv.Error:
        pass
    if not whole and len(recs) > 1:
        recs.pop()
    i = 0
    while i < len(recs) and not any(c.strip() for c in recs[i][1]):
        i += 1  # blank lines: always skipped
    start = i
    widths = Counter(len(r) for _, r in recs[start + 1 :] if any(c.strip() for c in r))
    if widths:
        width, n = widths.most_common(1)[0]
        if width >= 3 and n >= 0.8 * sum(widths.values()):
            while i < len(recs) and i - start < MAX_JUNK_LINES:
                cells = recs[i][1]
                if sum(1 for c in cells if c.strip()) > 1:
                    break
                if len(cells) >= width and not _full_width_follows(recs, i + 1, width):
                    break
                i += 1
            while i < len(recs) and not any(c.strip() for c in recs[i][1]):
                i += 1
    return recs[i][0] if i < len(recs) else 0


def _full_width_follows(recs, i: int, width: int) -> bool:
    """Whether the next non-blank record has ``width`` cells, all filled (a header)."""
    for _, cells in recs[i:]:
        if any(c.strip() for c in cells):
            return len(cells) == width and all(c.strip() for c in cells)
    return False


class _counting:
    """Iterate over lines: count them, keep the current record's text, drop BOM and NULs."""

    def __init__(self, lines):
        self._lines = lines
        self.count = 0
        self.buf: list[str] = []
        self.nul = False  # a NUL byte was dropped from the current record

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        if not self.count:
            line = line.removeprefix("\ufeff")
        self.count += 1
        self.buf.append(line)
        if "\x00" in line:
            self.nul = True
            line = line.replace("\x00", "")
        return line


def _header(path: str, encoding: str, delimiter: str, skip: int):
    """Return (lines before the header, lines it spans, cells) or None."""
    before = skip
    for line, raw, cells, _ in _records(path, encoding, delimiter, skip):
        if not any(c.strip() for c in cells):
            before = line
            continue
        return before, max(1, len(_EOL.findall(raw.rstrip("\r\n"))) + 1), cells
    return None


_BAD_BYTES = [0]  # decoding errors seen (monotonic; only ever compared with 0 per file)


def _count_bad(e: UnicodeError):
    _BAD_BYTES[0] += 1
    return ("\ufffd", e.end)


codecs.register_error("crm-csv-replace", _count_bad)
_EOL = re.compile(r"\r\n|\r|\n")


def _records(path: str, encoding: str, delimiter: str, skip: int):
    """Yield (line, raw, cells, problem) for every record after ``skip`` physical lines."""
    bad_at_open = _BAD_BYTES[0]
    with open(path, "rb") as f:
        text = io.TextIOWrapper(f, encoding=encoding, errors="crm-csv-replace", newline="")
        feed = _counting(text)
        for _ in range(skip):
            if next(feed, None) is None:
                return
        feed.buf.clear()
        feed.nul = False
        reader = csv.reader(feed, delimiter=delimiter, strict=False)
        while True:
            start = feed.count + 1
            problem = None
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                cells, problem = [], f"unreadable CSV record: {e}"
            raw = "".join(feed.buf)
            feed.buf.clear()
            if not raw and problem is None:
                return
            if problem is None:
                if feed.nul:
                    problem = "row holds a NUL byte"
                elif _BAD_BYTES[0] != bad_at_open and "\ufffd" in raw:
                    problem = f"row holds bytes that are not valid {encoding}"
                elif raw.count('"') % 2 and "".join(cells).count('"') % 2 == 0:
                    problem = "a quoted field is never closed"
            feed.nul = False
            yield start, raw, cells, problem
