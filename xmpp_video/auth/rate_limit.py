"""Per-key rate limits (login attempts per username and per client address).  [pure]

:class:`RateLimiter` allows ``limit`` hits per ``period`` seconds for each key, as a burst of
``limit`` followed by one hit every ``period / limit`` seconds (GCRA, the generic cell rate
algorithm: a token bucket kept as one float per key, the "theoretical arrival time"). Over a
long time that is ``limit`` hits per ``period``; a single window of ``period`` seconds may see
up to ``2 * limit - 1`` (a full burst, then the budget refilled meanwhile). A refused hit is not
counted, so the answer's delay (at most ``period / limit``) is exactly when the next hit will be
allowed: the HTTP ``Retry-After`` (round it up to whole seconds).

Memory stays bounded whatever the keys: a key whose budget is whole again is the same as an
absent key and is dropped (a few per call, oldest first), so the table holds only keys hit
during the last ``period``; and at most ``max_keys`` are kept, the least recently counted
evicted first (that key starts over with a full budget: an attacker rotating keys must make
``max_keys`` counted hits within a period to free one; the per-address limit stands in the
way of that).

Typical use for failed logins (count failures only, refuse before checking the password)::

    per_user = RateLimiter(settings.login_attempts_per_user, 60.0)
    if (retry := per_user.check(username)) is not None:
        return 429, retry
    if not password_ok:
        per_user.hit(username)
    else:
        per_user.reset(username)

Every call is O(1) amortized. Not thread-safe: use it from one event loop.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["DEFAULT_MAX_KEYS", "RateLimiter"]

DEFAULT_MAX_KEYS = 100_000
# Idle keys dropped per call at most: keeps each call cheap, and drains faster than hits add.
_PRUNE_PER_CALL = 8


class RateLimiter:
    """``limit`` hits per ``period`` seconds per key; ``now`` is a monotonic clock in seconds."""

    def __init__(
        self,
        limit: int,
        period: float,
        now: Callable[[], float] = time.monotonic,
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if not period > 0:
            raise ValueError("period must be positive")
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.limit = limit
        self.period = float(period)
        self.max_keys = max_keys
        self._interval = self.period / limit
        # sums of ``interval`` may land a rounding error past ``period``: not a refusal
        self._slack = self.period * 1e-9
        self._now = now
        # key -> theoretical arrival time: the key's budget is whole again at that time. Ordered
        # by last counted hit, oldest first.
        self._tat: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        """How many keys are currently tracked."""
        return len(self._tat)

    def hit(self, key: str) -> float | None:
        """Count one hit of ``key`` if allowed and return None; otherwise count nothing and
        return the seconds to wait before a hit of ``key`` is allowed (always > 0)."""
        now = self._now()
        self._prune(now)
        tat = self._tat.get(key, now)
        new_tat = max(tat, now) + self._interval
        wait = new_tat - self.period - now
        if wait > self._slack:
            return wait
        if key in self._tat:
            self._tat.move_to_end(key)
        elif len(self._tat) >= self.max_keys:
            self._tat.popitem(last=False)
        self._tat[key] = new_tat
        return None

    def check(self, key: str) -> float | None:
        """What :meth:`hit` would answer now, without counting anything."""
        now = self._now()
        tat = self._tat.get(key)
        if tat is None:
            return None
        wait = max(tat, now) + self._interval - self.period - now
        return wait if wait > self._slack else None

    def reset(self, key: str) -> None:
        """Forget ``key``: its whole budget is available again."""
        self._tat.pop(key, None)

    def clear(self) -> None:
        """Forget every key."""
        self._tat.clear()

    def _prune(self, now: float) -> None:
        tat = self._tat
        for _ in range(_PRUNE_PER_CALL):
            if not tat:
                return
            oldest = next(iter(tat))
            if tat[oldest] > now:
                return
            del tat[oldest]
