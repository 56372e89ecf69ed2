"""The build cache: a small SQLite database beside the output, plus the parsed records.

A pure cache: deleting it only costs time. It remembers, per content file, its size, mtime and hash
(the hash decides; size and mtime only spare re-reading unchanged files), and per output file the
dependency key it was rendered with, the templates it loaded and the hash of its bytes.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = 2


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
        """)
        if self.meta("schema") != str(SCHEMA):
            self.clear()
            self.set_meta({"schema": str(SCHEMA)})

    def clear(self) -> None:
        with self.db:
            for table in ("meta", "files", "artifacts", "search_docs"):
                self.db.execute(f"DELETE FROM {table}")
        try:
            os.unlink(self.directory / "records.pickle")
        except FileNotFoundError:
            pass

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

    def load_records(self) -> dict[str, Any]:
        try:
            with open(self.directory / "records.pickle", "rb") as f:
                return pickle.load(f)
        except (FileNotFoundError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError):
            return {}

    def save(self, *, files: dict[str, tuple[int, int, str]] | None, artifacts: dict[str, ArtifactState],
             replace_all: bool, removed: list[str], records: dict[str, Any] | None, meta: dict[str, str],
             search_docs: dict[str, str] | None = None) -> None:
        """Record a finished build. ``None`` means "unchanged, keep what is stored"."""
        if records is not None:
            tmp = self.directory / "records.pickle.tmp"
            with open(tmp, "wb") as f:
                pickle.dump(records, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.directory / "records.pickle")
        with self.db:
            if files is not None:
                self.db.execute("DELETE FROM files")
                self.db.executemany("INSERT INTO files VALUES (?, ?, ?, ?)",
                                    [(rel, s, m, h) for rel, (s, m, h) in files.items()])
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
