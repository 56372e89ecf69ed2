"""Shared test fixtures: sample sites copied into tmp_path and built there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITES = Path(__file__).resolve().parent / "sites"


@pytest.fixture
def minimal_site(tmp_path: Path) -> Path:
    """A copy of tests/sites/minimal (content + templates) that a test may edit."""
    dest = tmp_path / "site"
    shutil.copytree(SITES / "minimal", dest)
    return dest
