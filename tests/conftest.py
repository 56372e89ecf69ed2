"""Shared test fixtures: sample sites copied into tmp_path and built there."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITES = Path(__file__).resolve().parent / "sites"


def _reset_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """Each database test runs on SQLite and on PostgreSQL; in CI the PostgreSQL half must not skip."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'checkout.db'}"
    url = os.environ.get("STOREFRONT_TEST_DATABASE_URL")
    if not url:
        reason = ("PostgreSQL tests need STOREFRONT_TEST_DATABASE_URL "
                  "(source .ci/postgres.sh to start a throwaway server)")
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    _reset_postgres(url)
    return url


@pytest.fixture
def minimal_site(tmp_path: Path) -> Path:
    """A copy of tests/sites/minimal (content + templates) that a test may edit."""
    dest = tmp_path / "site"
    shutil.copytree(SITES / "minimal", dest)
    return dest


# One Chromium for the whole session: Playwright's sync API allows one running instance per thread,
# so every browser suite (theme, orders, e2e) shares this fixture.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def chromium_path() -> str:
    """Debian's Chromium (never a downloaded browser); CHROMIUM=/path overrides."""
    path = os.environ.get("CHROMIUM") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None) \
        or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("no Chromium for the browser tests. Fix: run .ci/run (apt-get install chromium "
                    "fonts-noto-cjk), or set CHROMIUM=/path/to/chrome")
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()
