"""The build cache: a small SQLite database beside the output, plus the parsed records.

A pure cache: deleting it only costs time. It remembers, per content file, its size, mtime and hash
(the hash decides; size and mtime only spare re-reading unchanged files) and what parsing it gave
(product descriptions in a table of their own, read only for the pages that show them), and per
output file the dependency key it was rendered with, the templates it loaded and the hash of its
bytes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import marshal
import pickle
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator, NamedTuple

SCHEMA = 4
_TABLES = ("meta", "files", "artifacts", "search_docs", "records", "bodies", "catalog")


SearchDocsChange = tuple[dict[str, str], list[str] | None]
"""Search document fingerprints to record: (rows to write, ids to delete); ids None means that the
rows replace the whole table."""


class ArtifactState(NamedTuple):
    """What the last build recorded of one output file (a named tuple: a build reads 10,000)."""

    key: str
    sha: str
    templates: tuple[str, ...]


class BuildCache:
    """The cache of one output directory (``.<output>-cache/`` beside it)."""

    def __init__(self, directory: Path):
        self.directory = directory
        (directory / "templates").mkdir(parents=True, exist_ok=True)
        try:
            self.db = self._open()
        except sqlite3.DatabaseError:  # damaged (a crash with synchronous=OFF): it is only a cache
            for suffix in ("", "-wal", "-shm"):
                (directory / f"build.sqlite{suffix}").unlink(missing_ok=True)
            self.db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.directory / "build.sqlite", isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # A pure cache: if a crash damages it, __init__ starts a new one; never worth an fsync.
            db.execute("PRAGMA synchronous=OFF")
            db.executescript("""
                CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS files (rel TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha TEXT);
                CREATE TABLE IF NOT EXISTS artifacts (path TEXT PRIMARY KEY, key TEXT, sha TEXT, templates TEXT);
                CREATE TABLE IF NOT EXISTS search_docs (id TEXT PRIMARY KEY, fp TEXT);
                CREATE TABLE IF NOT EXISTS records (rel TEXT PRIMARY KEY, sha TEXT, data BLOB);
                CREATE TABLE IF NOT EXISTS bodies (rel TEXT PRIMARY KEY, html TEXT, description TEXT);
                CREATE TABLE IF NOT EXISTS catalog (rel TEXT PRIMARY KEY, entry BLOB, priced BLOB);
            """)
            row = db.execute("SELECT v FROM meta WHERE k = 'schema'").fetchone()
            if row is None or row[0] != str(SCHEMA):
                with transaction(db):
                    for table in _TABLES:
                        db.execute(f"DELETE FROM {table}")
                    db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, values: dict[str, str]) -> None:
        with transaction(self.db):
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))

    def files(self) -> dict[str, tuple[int, int, str]]:
        return {rel: (size, mtime, sha) for rel, size, mtime, sha in self.db.execute("SELECT * FROM files")}

    def artifacts(self) -> dict[str, ArtifactState]:
        lists: dict[str, tuple[str, ...]] = {}  # thousands of pages share a few template lists
        out = {}
        for path, key, sha, t in self.db.execute("SELECT * FROM artifacts"):
            templates = lists.get(t)
            if templates is None:
                templates = lists[t] = tuple(t.split("\n")) if t else ()
            out[path] = ArtifactState(key, sha, templates)
        return out

    def search_docs(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT id, fp FROM search_docs"))

    def load_records(self) -> dict[str, tuple[str, Any]]:
        """rel -> (content hash, Parsed) as stored by the last build (product bodies left out)."""
        out = {}
        for rel, sha, data in self.db.execute("SELECT rel, sha, data FROM records"):
            try:
                out[rel] = (sha, _unpack(data))
            except Exception:  # a record stored by another version: parse that file again
                continue
        return out

    def catalog_entries(self) -> dict[str, tuple[bytes, bytes]]:
        """rel -> (catalog.json entry, priced entry) of every product the last build parsed."""
        return {rel: (entry, priced) for rel, entry, priced in self.db.execute("SELECT * FROM catalog")}

    def save(self, *, files: dict[str, tuple[int, int, str]], files_gone: list[str],
             artifacts: dict[str, ArtifactState], replace_all: bool, removed: list[str],
             records: dict[str, tuple[str, Any]], records_gone: list[str], bodies: dict[str, tuple[str, str]],
             catalog: dict[str, tuple[bytes, bytes]], meta: dict[str, str],
             search_docs: SearchDocsChange | None = None) -> None:
        """Record a finished build: the rows that changed (``search_docs`` None: unchanged)."""
        with transaction(self.db):
            write_sources(self.db, files=files, files_gone=files_gone, records=records,
                          records_gone=records_gone, bodies=bodies, catalog=catalog)
            self._write_outputs(artifacts, replace_all, removed, meta, search_docs)

    def save_outputs(self, *, artifacts: dict[str, ArtifactState], replace_all: bool, removed: list[str],
                     meta: dict[str, str], search_docs: SearchDocsChange | None = None) -> None:
        """The second half of :meth:`save`, when :func:`write_sources` recorded the sources already."""
        with transaction(self.db):
            self._write_outputs(artifacts, replace_all, removed, meta, search_docs)

    def _write_outputs(self, artifacts: dict[str, ArtifactState], replace_all: bool, removed: list[str],
                       meta: dict[str, str], search_docs: SearchDocsChange | None) -> None:
        if replace_all:
            self.db.execute("DELETE FROM artifacts")
        self.db.executemany("INSERT OR REPLACE INTO artifacts VALUES (?, ?, ?, ?)",
                            [(p, a.key, a.sha, "\n".join(a.templates)) for p, a in artifacts.items()])
        self.db.executemany("DELETE FROM artifacts WHERE path = ?", [(p,) for p in removed])
        if search_docs is not None:
            rows, gone = search_docs
            if gone is None:
                self.db.execute("DELETE FROM search_docs")
            else:
                self.db.executemany("DELETE FROM search_docs WHERE id = ?", [(i,) for i in gone])
            self.db.executemany("INSERT OR REPLACE INTO search_docs VALUES (?, ?)", list(rows.items()))
        self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(meta.items()))

    def close(self) -> None:
        self.db.close()


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One transaction. The connections are opened with ``isolation_level=None`` (autocommit), where
    ``with db:`` alone begins nothing: each row of an ``executemany`` was a transaction of its own,
    which made saving a 10,000-product build 2.5 times slower and not atomic."""
    db.execute("BEGIN")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def write_sources(db: sqlite3.Connection, *, files: dict[str, tuple[int, int, str]], files_gone: list[str],
                  records: dict[str, tuple[str, Any]], records_gone: list[str], bodies: dict[str, tuple[str, str]],
                  catalog: dict[str, tuple[bytes, bytes]]) -> None:
    """What the build learnt of its sources: file stats and hashes, parsed records, product bodies
    and catalog entries. All of it depends on the files' bytes alone (and the site configuration,
    which the parse key in meta covers), so it may be recorded before the build has finished: a
    build that fails afterwards leaves rows that are still true."""
    db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)",
                   [(rel, s, m, h) for rel, (s, m, h) in files.items()])
    db.executemany("DELETE FROM files WHERE rel = ?", [(r,) for r in files_gone])
    db.executemany("INSERT OR REPLACE INTO catalog VALUES (?, ?, ?)",
                   [(rel, e, p) for rel, (e, p) in catalog.items()])
    db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?)",
                   [(rel, sha, _pack(parsed)) for rel, (sha, parsed) in records.items()])
    db.executemany("INSERT OR REPLACE INTO bodies VALUES (?, ?, ?)",
                   [(rel, html, desc) for rel, (html, desc) in bodies.items()])
    for table in ("records", "bodies", "catalog"):
        db.executemany(f"DELETE FROM {table} WHERE rel = ?", [(r,) for r in records_gone])


def write_sources_to(path: Path, **sources: Any) -> None:
    """:func:`write_sources` in a transaction of its own, on a new connection to the cache database
    at ``path`` (from another process: a connection must not cross a fork)."""
    db = sqlite3.connect(path, isolation_level=None, timeout=60)
    try:
        db.execute("PRAGMA synchronous=OFF")
        with transaction(db):
            write_sources(db, **sources)
    finally:
        db.close()


# Products are 99% of the records of a big shop and every incremental build reads all of them back:
# unpickling 10,000 dataclasses costs about 0.2 s, reading plain tuples with marshal a fifth of that.
_PRODUCT_FIELDS = ("sku", "title", "slug", "category", "price_minor", "currency", "compare_at_minor", "stock",
                   "tags", "images", "variants", "draft", "publish_at", "body_html", "description", "extra",
                   "source", "fingerprint", "body_key")


def _pack(parsed: Any) -> bytes:
    """What the cache keeps of a parsed file. A product's record goes without its description
    (``body_html`` and ``description``: the bodies table has them), its catalog entry (the catalog
    table) and its plain text (not kept): marshalled, as plain tuples."""
    fields = _product_fields(parsed, whole=False)
    if fields is not None:
        try:
            return b"M" + marshal.dumps(fields)
        except ValueError:  # a value marshal does not take (a date or a decimal in ``extra``)
            parsed = replace(parsed, record=replace(parsed.record, body_html=None, description=None),
                             catalog=None, text=None)
    return b"P" + pickle.dumps(parsed, protocol=pickle.HIGHEST_PROTOCOL)


def _unpack(data: bytes) -> Any:
    if data[:1] == b"P":
        return pickle.loads(data[1:])
    return _from_fields(*marshal.loads(data[1:]))


def pack_parsed(parsed: Any) -> tuple:
    """A parsed file as plain data (tuples, strings, numbers) for :func:`unpack_parsed`: how the
    parse workers answer. Pickling it takes the workers half as long as pickling the dataclasses;
    unpacking it here takes a little longer than unpickling them (parse phase 0.95 -> 0.91 s at
    10,000 products)."""
    fields = _product_fields(parsed, whole=True)
    return ("P", parsed) if fields is None else ("W", *fields)


def unpack_parsed(value: tuple) -> Any:
    return value[1] if value[0] == "P" else _from_fields(*value[1:])


def _product_fields(parsed: Any, whole: bool) -> tuple | None:
    """(rel, lines, the record's fields[, catalog entry, plain text]) of a product; None for
    anything else, and for a file with problems."""
    from .model import Product
    record = parsed.record
    if parsed.kind != "product" or type(record) is not Product or parsed.problems:
        return None
    values = dict(record.__dict__)
    values["variants"] = tuple((v.sku, v.options, v.price_minor, v.compare_at_minor, v.stock) for v in record.variants)
    values["publish_at"] = record.publish_at.isoformat() if record.publish_at else None
    if not whole:
        values["body_html"] = values["description"] = None
        return parsed.rel, parsed.lines, tuple(values[f] for f in _PRODUCT_FIELDS)
    if values["body_html"] is not None:
        values["body_html"] = str(values["body_html"])
    return parsed.rel, parsed.lines, tuple(values[f] for f in _PRODUCT_FIELDS), parsed.catalog, parsed.text


_VARIANT_FIELDS = ("sku", "options", "price_minor", "compare_at_minor", "stock")
_classes: dict[str, type] = {}


def _from_fields(rel: str, lines: dict[str, int], fields: tuple, catalog: Any = None, text: str | None = None) -> Any:
    if not _classes:
        from .loader import Parsed
        from .model import Product, Variant
        _classes.update(Parsed=Parsed, Product=Product, Variant=Variant)
    values = dict(zip(_PRODUCT_FIELDS, fields))
    if values["variants"]:
        variant = _classes["Variant"]
        values["variants"] = tuple(_make(variant, dict(zip(_VARIANT_FIELDS, v))) for v in values["variants"])
    if values["publish_at"]:
        values["publish_at"] = dt.date.fromisoformat(values["publish_at"])
    if values["body_html"] is not None:
        from markupsafe import Markup
        values["body_html"] = Markup(values["body_html"])
    return _make(_classes["Parsed"], {"kind": "product", "rel": rel, "record": _make(_classes["Product"], values),
                                      "problems": [], "lines": lines, "body_md": "", "catalog": catalog,
                                      "text": text})


def _make(cls: type, values: dict[str, Any]) -> Any:
    """A frozen dataclass instance from trusted values, without running __init__ field by field."""
    obj = object.__new__(cls)
    obj.__dict__.update(values)
    return obj
