"""Which policy version is in force now: midnight in the policy timezone, re-read on change."""

from __future__ import annotations

import json
import os
from datetime import datetime

import pytest

from checkout.policies import PoliciesUnavailable, PolicyStore


def write(path, versions):
    path.write_text(json.dumps({"schema": 1, "timezone": "Asia/Shanghai", "in_force": None,
                                "upcoming": None, "versions": versions}))


V1 = {"id": "2024-03-01", "effective": "2024-03-01", "major": False, "sha256": "a" * 64}
V3 = {"id": "2027-01-01", "effective": "2027-01-01", "major": True, "sha256": "c" * 64}


def test_in_force_switches_at_midnight_shanghai(tmp_path):
    write(tmp_path / "policies.json", [V3, V1])
    policies = PolicyStore(tmp_path / "policies.json").current()
    before, at = datetime(2026, 12, 31, 15, 59, 59), datetime(2026, 12, 31, 16, 0, 0)
    assert policies.in_force(before).id == "2024-03-01" and policies.upcoming(before).id == "2027-01-01"
    assert policies.in_force(at).id == "2027-01-01" and policies.upcoming(at) is None
    assert policies.latest_major_in_force(before) is None
    assert policies.latest_major_in_force(at).id == "2027-01-01"


def test_store_rereads_when_the_file_changes(tmp_path):
    path = tmp_path / "policies.json"
    write(path, [V1])
    store = PolicyStore(path)
    assert [p.id for p in store.current().versions] == ["2024-03-01"]
    write(path, [V1, V3])
    os.utime(path, ns=(1, 1_000_000_000_000))
    assert [p.id for p in store.current().versions] == ["2024-03-01", "2027-01-01"]


def test_missing_or_malformed_file_says_how_to_fix(tmp_path):
    with pytest.raises(PoliciesUnavailable, match="build.py build"):
        PolicyStore(tmp_path / "policies.json").current()
    write(tmp_path / "policies.json", [{"id": "x"}])
    with pytest.raises(PoliciesUnavailable, match=r"versions\[0\]"):
        PolicyStore(tmp_path / "policies.json").current()
