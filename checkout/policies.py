"""The privacy policy versions the build published, as the service sees them now.

The build writes ``output/policies.json`` with ``in_force``/``upcoming`` as of build time; the
service decides itself which version is in force at this moment (a version takes effect at
midnight of its ``effective`` date in the policy ``timezone``) and re-reads the file whenever its
modification time changes, so a rebuild needs no restart.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import CheckoutError


@dataclass(frozen=True)
class Policy:
    """One published policy version."""

    id: str
    title: str
    effective: date
    major: bool
    summary: str
    sha256: str
    url: str
    takes_effect_at: datetime
    """Naive UTC instant of midnight of ``effective`` in the policy timezone."""


@dataclass(frozen=True)
class PolicySet:
    timezone: str
    versions: tuple[Policy, ...]
    """Sorted by ``takes_effect_at``, oldest first."""

    def get(self, policy_id: str) -> Policy | None:
        return next((p for p in self.versions if p.id == policy_id), None)

    def in_force(self, now: datetime) -> Policy | None:
        past = [p for p in self.versions if p.takes_effect_at <= now]
        return past[-1] if past else None

    def upcoming(self, now: datetime) -> Policy | None:
        future = [p for p in self.versions if p.takes_effect_at > now]
        return future[0] if future else None

    def latest_major_in_force(self, now: datetime) -> Policy | None:
        majors = [p for p in self.versions if p.major and p.takes_effect_at <= now]
        return majors[-1] if majors else None


class PoliciesUnavailable(CheckoutError):
    code = "policies_unavailable"
    status = 503


def parse_policies(data: dict, source: str) -> PolicySet:
    """Validate the build's ``policies.json`` document; errors name ``source`` and the field."""
    if not isinstance(data, dict) or data.get("schema") != 1:
        raise PoliciesUnavailable(f"{source}: not a schema 1 policies file. Fix: rebuild with build.py.")
    tz_name = data.get("timezone") or "Asia/Shanghai"
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PoliciesUnavailable(f"{source}: unknown timezone {tz_name!r}.") from None
    versions = []
    for i, item in enumerate(data.get("versions") or []):
        try:
            effective = date.fromisoformat(item["effective"])
            start = datetime.combine(effective, time(0), tz).astimezone(timezone.utc).replace(tzinfo=None)
            versions.append(Policy(id=str(item["id"]), title=str(item.get("title", item["id"])),
                                   effective=effective, major=bool(item.get("major", False)),
                                   summary=str(item.get("summary", "")), sha256=str(item["sha256"]),
                                   url=str(item.get("url", f"/privacy/{item['id']}/")),
                                   takes_effect_at=start))
        except (KeyError, TypeError, ValueError) as exc:
            raise PoliciesUnavailable(f"{source}: versions[{i}] is malformed ({exc}). "
                                      "Fix: rebuild with build.py.") from None
    versions.sort(key=lambda p: p.takes_effect_at)
    return PolicySet(timezone=tz_name, versions=tuple(versions))


class PolicyStore:
    """Reads ``policies.json`` lazily and again whenever its mtime (or size) changes."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._set: PolicySet | None = None

    def current(self) -> PolicySet:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise PoliciesUnavailable(f"{self.path} does not exist, so no policy version can be "
                                      "accepted. Fix: run `python build.py build` (or set "
                                      "CHECKOUT_SITE_DIR).") from None
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp or self._set is None:
                try:
                    data = json.loads(self.path.read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    raise PoliciesUnavailable(f"{self.path}: unreadable ({exc}).") from None
                self._set = parse_policies(data, str(self.path))
                self._stamp = stamp
            return self._set
