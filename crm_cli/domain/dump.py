"""crm dump and crm load: the whole database as sorted JSON Lines, and back into a new file.

The format (version 1), one stream or one directory:

- a meta record: ``format`` ("crm-dump"), ``version``, ``schema`` (the applied migrations'
  names), ``sequences`` (the AUTOINCREMENT id counters), ``tables`` (per table its dumped
  ``columns`` and ``rows`` count) and ``left_out`` (what is not dumped, and why);
- per table, in name order, its rows in primary-key order, one JSON object per line with
  sorted keys (``json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"))``),
  REALs as Python writes them (exact), BLOBs as ``{"$blob": base64}``.

A stream is the meta record on the first line, then for each table a ``{"$table": NAME}``
line followed by its rows. A directory holds ``meta.json`` (indented) and ``NAME.jsonl``
per table; a file is rewritten only when its bytes change, so ``git diff`` shows what
changed and nothing else.

Loading creates a new file beside the target, applies the dump's schema (no rows at
all: no default pipeline, no acting user), inserts every row with its id, restores the
counters, recomputes derived columns and the full-text index, checks foreign keys,
and only then renames the file into place: a failed load leaves nothing behind. A dump
from an older schema is loaded into that schema and then migrated, like an old database
opened by a newer crm; a dump from a newer one is refused.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from crm_cli.errors import InvalidInput
from crm_cli.storage import dump as store
from crm_cli.storage.db import Db
from crm_cli.storage.migrations import MIGRATIONS

FORMAT = "crm-dump"
VERSION = 1
META_FILE = "meta.json"
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class DumpResult:
    tables: int
    rows: int
    changed: list[str] = field(default_factory=list)  # files written (directory dumps)
    removed: list[str] = field(default_factory=list)  # files of tables that are gone


@dataclass
class LoadResult:
    path: Path
    tables: int
    rows: int
    migrated: list[str]  # migrations applied after loading an older dump


# ---------------------------------------------------------------- dump


def _meta(db: Db) -> dict[str, Any]:
    names = store.tables(db)
    tables = {
        t: {"columns": store.dumped_columns(db, t), "rows": store.count(db, t)} for t in names
    }
    derived = {
        t: sorted(store.derived_columns(t) & set(store.insertable_columns(db, t)))
        for t in names
        if store.derived_columns(t) & set(store.insertable_columns(db, t))
    }
    return {
        "format": FORMAT,
        "version": VERSION,
        "schema": store.schema_version(db),
        "sequences": store.sequences(db, names),
        "tables": tables,
        "left_out": {"tables": store.left_out(db), "derived_columns": derived},
    }


def _lines(db: Db, table: str, columns: list[str]) -> Iterator[str]:
    """A table's rows as text, in blocks of lines each ending with a newline."""
    block: list[str] = []
    for line in store.rows(db, table, columns):
        block.append(line)
        if len(block) == 2000:
            yield "\n".join(block) + "\n"
            block = []
    if block:
        yield "\n".join(block) + "\n"


def dump_stream(db: Db, out: IO[str]) -> DumpResult:
    """Write the whole database to a text stream as one JSON Lines document."""
    with store.snapshot(db):
        meta = _meta(db)
        out.write(store.encode(meta) + "\n")
        for table, info in meta["tables"].items():
            out.write(store.encode({"$table": table}) + "\n")
            for block in _lines(db, table, info["columns"]):
                out.write(block)
    return DumpResult(len(meta["tables"]), sum(t["rows"] for t in meta["tables"].values()))


def dump_file(db: Db, path: str | os.PathLike) -> DumpResult:
    """Write the stream to a file, atomically (a temporary file renamed into place)."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise InvalidInput(f"{target} is a directory (use --dir to dump into one)")
    if not target.parent.is_dir():
        raise InvalidInput(f"directory does not exist: {target.parent}")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            result = dump_stream(db, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return result


def _write_if_changed(path: Path, blocks) -> bool:
    """Write the text to path through a temporary file; keep the old file (and its mtime)
    when the bytes are the same. True if the file was (re)written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for block in blocks:
                f.write(block)
        if path.is_file() and filecmp.cmp(tmp, path, shallow=False):
            return False
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _previous_tables(directory: Path) -> list[str]:
    """The tables the directory's last dump held (from its meta.json), if readable."""
    try:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        names = list(meta["tables"])
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [n for n in names if isinstance(n, str) and _TABLE_NAME.fullmatch(n)]


def dump_dir(db: Db, directory: str | os.PathLike) -> DumpResult:
    """Write meta.json and one NAME.jsonl per table into a directory; rewrite only what changed."""
    d = Path(directory).expanduser()
    if d.exists() and not d.is_dir():
        raise InvalidInput(f"{d} exists and is not a directory")
    d.mkdir(parents=True, exist_ok=True)
    before = _previous_tables(d)
    result = DumpResult(0, 0)
    with store.snapshot(db):
        meta = _meta(db)
        for table, info in meta["tables"].items():
            name = f"{table}.jsonl"
            if _write_if_changed(d / name, _lines(db, table, info["columns"])):
                result.changed.append(name)
    for table in before:
        if table not in meta["tables"] and (d / f"{table}.jsonl").is_file():
            (d / f"{table}.jsonl").unlink()
            result.removed.append(f"{table}.jsonl")
    text = json.dumps(meta, sort_keys=True, ensure_ascii=False, indent=2) + "\n"
    if _write_if_changed(d / META_FILE, [text]):
        result.changed.append(META_FILE)
    result.tables = len(meta["tables"])
    result.rows = sum(t["rows"] for t in meta["tables"].values())
    return result


# ---------------------------------------------------------------- reading a dump


class _Reader:
    """A dump's meta record and its tables' rows as (where, raw line) pairs."""

    meta: dict[str, Any]

    def rows(self, table: str) -> Iterator[tuple[int, bytes]]:
        """The table's lines with their line numbers."""
        raise NotImplementedError

    def where(self, table: str, n: int) -> str:
        """Where line n of this table's rows is, for an error message."""
        raise NotImplementedError

    def finish(self) -> None:
        """Refuse what follows the last table."""

    def close(self) -> None:
        pass


def _parse(where: str, line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError as e:
        what = "cut short" if not line.endswith(b"\n") else "not valid JSON"
        raise InvalidInput(f"{where}: {what} ({str(e).split(':')[0]})") from None


class _Stream(_Reader):
    def __init__(self, f: IO[bytes], name: str):
        self.f, self.name, self.lineno = f, name, 0
        first = self._next()
        if first is None:
            raise InvalidInput(f"{name} is empty, not a crm dump")
        self.meta = _parse(self._where(), first)
        self.pending = self._next()

    def _where(self) -> str:
        return f"{self.name} line {self.lineno}"

    def where(self, table: str, n: int) -> str:
        return f"{self.name} line {n}"

    def _next(self) -> bytes | None:
        line = self.f.readline()
        if not line:
            return None
        self.lineno += 1
        return line

    def rows(self, table: str) -> Iterator[tuple[int, bytes]]:
        line = self.pending
        if line is None:
            raise InvalidInput(f"{self.name} ends before table {table}: the dump is cut short")
        if not line.startswith(b'{"$table":') or _parse(self._where(), line) != {"$table": table}:
            raise InvalidInput(f"{self._where()}: expected the rows of table {table}")
        while True:
            line = self._next()
            if line is None or line.startswith(b'{"$table":'):
                self.pending = line
                return
            yield self.lineno, line

    def finish(self) -> None:
        if self.pending is not None:
            raise InvalidInput(f"{self._where()}: more lines after the last table")

    def close(self) -> None:
        self.f.close()


class _Directory(_Reader):
    def __init__(self, d: Path):
        self.d = d
        try:
            text = (d / META_FILE).read_bytes()
        except FileNotFoundError:
            raise InvalidInput(f"{d} holds no {META_FILE}: not a crm dump directory") from None
        self.meta = _parse(f"{d / META_FILE}", text if text.endswith(b"\n") else text + b"\n")

    def where(self, table: str, n: int) -> str:
        return f"{table}.jsonl line {n}"

    def rows(self, table: str) -> Iterator[tuple[int, bytes]]:
        path = self.d / f"{table}.jsonl"
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            raise InvalidInput(f"{path} is missing: the dump is incomplete") from None
        with f:
            yield from enumerate(f, 1)


def _open(source: str) -> _Reader:
    if source == "-":
        return _Stream(sys.stdin.buffer, "stdin")
    p = Path(source).expanduser()
    if p.is_dir():
        return _Directory(p)
    try:
        f = open(p, "rb")
    except FileNotFoundError:
        raise InvalidInput(f"no dump at {p}") from None
    except OSError as e:
        raise InvalidInput(f"cannot read {p}: {e.strerror}") from None
    try:
        return _Stream(f, p.name)
    except BaseException:
        f.close()
        raise


def _check_meta(meta: Any) -> bool:
    """Validate the meta record; return True when its schema is older than ours."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InvalidInput('not a crm dump (its first record has no "format": "crm-dump")')
    if meta.get("version") != VERSION:
        raise InvalidInput(
            f"dump format version {meta.get('version')!r} is not one this crm reads ({VERSION})"
        )
    schema, tables, seqs = meta.get("schema"), meta.get("tables"), meta.get("sequences")
    if (
        not isinstance(schema, list)
        or not all(isinstance(n, str) for n in schema)
        or not isinstance(tables, dict)
        or not isinstance(seqs, dict)
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in seqs.values())
    ):
        raise InvalidInput("the dump's meta record is damaged (schema, tables or sequences)")
    for name, info in tables.items():
        if (
            not _TABLE_NAME.fullmatch(name)
            or not isinstance(info, dict)
            or not isinstance(info.get("rows"), int)
            or not isinstance(info.get("columns"), list)
            or not all(isinstance(c, str) for c in info["columns"])
            or len(set(info["columns"])) != len(info["columns"])
        ):
            raise InvalidInput(f"the dump's meta record is damaged (table {name!r})")
    known = [name for name, _ in MIGRATIONS]
    unknown = [n for n in schema if n not in known]
    if unknown:
        raise InvalidInput(
            f"the dump comes from a newer crm (migrations {', '.join(unknown)}): upgrade crm to load it"
        )
    if not schema or schema != known[: len(schema)]:
        raise InvalidInput("the dump's schema is not a sequence of this crm's migrations")
    return len(schema) < len(known)


def _check_tables(db: Db, meta: dict) -> None:
    """The dump's tables and columns must be the schema's (derived columns may be missing)."""
    have = set(store.tables(db))
    want = set(meta["tables"])
    if have - want:
        raise InvalidInput(f"the dump has no table {sorted(have - want)[0]}: it is incomplete")
    if want - have:
        raise InvalidInput(f"the dump's table {sorted(want - have)[0]} is not in its schema")
    for table, info in meta["tables"].items():
        columns = set(store.insertable_columns(db, table))
        extra = set(info["columns"]) - columns
        if extra:
            raise InvalidInput(
                f"the dump's {table} has a column {sorted(extra)[0]} its schema lacks"
            )
        missing = columns - store.derived_columns(table) - set(info["columns"])
        if missing:
            raise InvalidInput(f"the dump's {table} lacks its column {sorted(missing)[0]}")


def _values(reader: _Reader, table: str, columns: list[str], counted: list[int]):
    """Decode each line of the table into a tuple of values in ``columns`` order, counting them."""
    get = store.row_values(columns)
    width = len(columns)
    loads = json.loads
    n = 0
    for lineno, line in reader.rows(table):
        try:
            row = loads(line)
        except ValueError:
            _parse(reader.where(table, lineno), line)  # raises the error message
        if type(row) is not dict or len(row) != width:
            raise InvalidInput(f"{reader.where(table, lineno)}: not a row of {table}"
                               f" (its columns: {', '.join(columns)})")  # fmt: skip
        if b'{"$blob":' in line:
            try:
                row = store.decode_blobs(row)
            except InvalidInput as e:
                raise InvalidInput(f"{reader.where(table, lineno)}: {e}") from None
            except ValueError:
                raise InvalidInput(
                    f"{reader.where(table, lineno)}: a $blob that is not base64"
                ) from None
        try:
            yield get(row)
        except KeyError:
            raise InvalidInput(f"{reader.where(table, lineno)}: not a row of {table}"
                               f" (its columns: {', '.join(columns)})") from None  # fmt: skip
        n += 1
    counted[0] = n


def _remove(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def load(source: str, target: str | os.PathLike) -> LoadResult:
    """Build a new database at target from a dump (a directory, a file, or '-' for stdin)."""
    new = Path(target).expanduser()
    if os.path.lexists(new):
        raise InvalidInput(f"{new} already exists: crm load only creates a new database")
    if not new.parent.is_dir():
        raise InvalidInput(f"directory does not exist: {new.parent}")
    reader = _open(source)
    tmp = new.with_name(f".{new.name}.load-{os.getpid()}.tmp")
    db = None
    try:
        meta = reader.meta
        older = _check_meta(meta)
        _remove(tmp)
        db = store.create(tmp, meta["schema"])
        _check_tables(db, meta)
        store.begin(db)
        indexes = store.drop_indexes(db)
        total = 0
        for table, info in meta["tables"].items():
            counted = [0]
            columns = info["columns"]
            store.insert(db, table, columns, _values(reader, table, columns, counted))
            if counted[0] != info["rows"]:
                raise InvalidInput(
                    f"the dump's {table} has {counted[0]} rows where its meta says {info['rows']}:"
                    " it is cut short or damaged"
                )
            total += counted[0]
        reader.finish()
        store.create_indexes(db, indexes)
        store.set_sequences(db, meta["sequences"])
        problems = store.foreign_key_problems(db)
        if problems:
            table, rowid, parent = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise InvalidInput(
                f"the dump breaks a foreign key: {table} row {rowid} refers to a missing {parent} row{more}"
            )
        if not older:
            store.rebuild_derived(db)
        store.commit(db)
        migrated = store.migrate(db) if older else []
        if older:
            store.begin(db)
            store.rebuild_derived(db)
            store.commit(db)
        store.close(db)
        db = None
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        try:
            os.link(tmp, new)  # never replaces a file that appeared meanwhile
        except FileExistsError:
            raise InvalidInput(
                f"{new} already exists: crm load only creates a new database"
            ) from None
        except OSError:  # a file system without hard links
            if os.path.lexists(new):
                raise InvalidInput(
                    f"{new} already exists: crm load only creates a new database"
                ) from None
            os.replace(tmp, new)
    except BaseException:
        store.abandon(db)
        _remove(tmp)
        raise
    finally:
        reader.close()
    _remove(tmp)
    return LoadResult(new, len(meta["tables"]), total, migrated)
