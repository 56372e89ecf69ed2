"""Opening the database named by ``DATABASE_URL`` and binding the models to it.

SQLite gets WAL, foreign keys and a busy timeout (several gunicorn workers share the file);
PostgreSQL goes through psycopg 3 (peewee picks it when psycopg2 is absent).
"""

from __future__ import annotations

from pathlib import Path

import peewee as pw
from playhouse.db_url import connect

from .errors import ConfigError
from .models import database

SQLITE_PRAGMAS = {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000, "synchronous": "normal"}


def open_database(url: str) -> pw.Database:
    """A peewee database for ``url`` (not yet connected), bound to the models."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):].split("?", 1)[0]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = connect(url, pragmas=SQLITE_PRAGMAS)
    elif url.startswith(("postgresql://", "postgres://", "postgresql+pool://", "postgres+pool://")):
        # +pool: playhouse's connection pool (a new PostgreSQL connection per request costs more
        # than the request; see bench/orders.py). ?max_connections=N&stale_timeout=S tune it.
        db = connect(url)
    else:
        raise ConfigError(f"DATABASE_URL scheme of {url.split(':', 1)[0]!r} is not supported. "
                          "Fix: use sqlite:///path/to.db or postgresql[+pool]://user:pass@host/db")
    database.initialize(db)
    return db


def is_postgres(db: pw.Database) -> bool:
    return isinstance(db, pw.PostgresqlDatabase)
