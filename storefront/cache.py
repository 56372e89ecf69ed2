"""The build cache: a small SQLite database beside the output, plus the parsed records.

A pure cache: deleting it only costs time. It remembers, per content file, its size, mtime and hash
(the hash decides; size and mtime only spare re-reading unchanged files) and what parsing it gave
(product descriptions in a table of their own, read only for the pages that show them), and per
output file the dependency key it was rendered with, the templates it loaded and the hash of its
bytes.
"""

from __future__ import annotations

import pickle
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = 3


@dataclass(frozen=True)
class ArtifactState:
    key: str
    sha: str
    templates: tuple[str, ...]


class BuildCache:
    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(directory / "build.sqlite", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS files (rel TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha TEXT);
            CREATE TABLE IF NOT EXISTS artifacts (path TEXT PRIMARY KEY, key TEXT, sha TEXT, templates TEXT);
            CREATE TABLE IF NOT EXISTS search_docs (id TEXT PRIMARY KEY, fp TEXT);
            CREATE TABLE IF NOT EXISTS records (rel TEXT PRIMARY KEY, sha TEXT, data BLOB);
            CREATE TABLE IF NOT EXISTS bodies (rel TEXT PRIMARY KEY, html TEXT);
        """)
        if self.meta("schema") != str(SCHEMA):
            self.clear()
            self.set_meta({"schema": str(SCHEMA)})

    def clear(self) -> None:
        with self.db:
            for table in ("meta", "files", "artifacts", "search_docs", "records", "bodies"):
                self.db.execute(f"DELETE FROM {table}")

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, values: dict[str, str]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))

    def files(self) -> dict[str, tuple[int, int, str]]:
        return {rel: (size, mtime, sha) for rel, size, mtime, sha in self.db.execute("SELECT * FROM files")}

    def artifacts(self) -> dict[str, ArtifactState]:
        return {path: ArtifactState(key, sha, tuple(t.split("\n")) if t else ())
                for path, key, sha, t in self.db.execute("SELECT * FROM artifacts")}

    def search_docs(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT id, fp FROM search_docs"))

    def load_records(self) -> dict[str, tuple[str, Any]]:
        """rel -> (content hash, Parsed) as stored by the last build (product bodies left out)."""
        out = {}
        for rel, sha, data in self.db.execute("SELECT rel, sha, data FROM records"):
            try:
                out[rel] = (sha, pickle.loads(data))
            except Exception:  # a record pickled by another version: parse that file again
                continue
        return out

    def body(self, rel: str) -> str | None:
        row = self.db.execute("SELECT html FROM bodies WHERE rel = ?", (rel,)).fetchone()
        return row[0] if row else None

    def save(self, *, files: dict[str, tuple[int, int, str]] | None, artifacts: dict[str, ArtifactState],
             replace_all: bool, removed: list[str], records: dict[str, tuple[str, Any]], records_gone: list[str],
             bodies: dict[str, str], meta: dict[str, str], search_docs: dict[str, str] | None = None) -> None:
        """Record a finished build. ``files``/``search_docs`` None means "unchanged, keep what is stored"."""
        with self.db:
            if files is not None:
                self.db.execute("DELETE FROM files")
                self.db.executemany("INSERT INTO files VALUES (?, ?, ?, ?)",
                                    [(rel, s, m, h) for rel, (s, m, h) in files.items()])
            self.db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?)",
                                [(rel, sha, pickle.dumps(parsed, protocol=pickle.HIGHEST_PROTOCOL))
                                 for rel, (sha, parsed) in records.items()])
            self.db.executemany("INSERT OR REPLACE INTO bodies VALUES (?, ?)", list(bodies.items()))
            self.db.executemany("DELETE FROM records WHERE rel = ?", [(r,) for r in records_gone])
            self.db.executemany("DELETE FROM bodies WHERE rel = ?", [(r,) for r in records_gone])
            if replace_all:
                self.db.execute("DELETE FROM artifacts")
            self.db.executemany("INSERT OR REPLACE INTO artifacts VALUES (?, ?, ?, ?)",
                                [(p, a.key, a.sha, "\n".join(a.templates)) for p, a in artifacts.items()])
            self.db.executemany("DELETE FROM artifacts WHERE path = ?", [(p,) for p in removed])
            if search_docs is not None:
                self.db.execute("DELETE FROM search_docs")
                self.db.executemany("INSERT INTO search_docs VALUES (?, ?)", list(search_docs.items()))
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(meta.items()))

    def close(self) -> None:
        self.db.close()
