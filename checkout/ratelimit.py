"""Fixed-window rate limits kept in the database, so they hold across gunicorn workers.

One upsert per attempt increments the counter of (key, window); the key is hashed so client
addresses and email indexes are not stored as such.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from .errors import RateLimited
from .models import RateLimit


def hit(scope: str, subject: str, limit: tuple[int, int], now: datetime) -> None:
    """Count one attempt of ``subject`` (an address, an email index) in ``scope``.

    Raises ``RateLimited`` (with the seconds until the window ends) when the attempt is over
    ``limit`` = (count, window seconds).
    """
    allowed, window = limit
    key = hashlib.sha256(f"{scope}\0{subject}".encode()).hexdigest()
    epoch = int(now.timestamp()) if now.tzinfo else int((now - datetime(1970, 1, 1)).total_seconds())
    start = epoch - epoch % window
    (RateLimit.insert(key=key, window_start=start, count=1)
        .on_conflict(conflict_target=[RateLimit.key, RateLimit.window_start],
                     update={RateLimit.count: RateLimit.count + 1})
        .execute())
    count = (RateLimit.select(RateLimit.count)
             .where((RateLimit.key == key) & (RateLimit.window_start == start)).scalar())
    if count > allowed:
        raise RateLimited("请求过于频繁，请稍后再试。Too many attempts; retry after the time in "
                          "Retry-After.", retry_after=max(1, start + window - epoch))


def purge_expired(now: datetime, longest_window: int = 24 * 3600) -> int:
    epoch = int((now - datetime(1970, 1, 1)).total_seconds())
    return RateLimit.delete().where(RateLimit.window_start < epoch - longest_window).execute()
