"""Token buckets per key (a client address, a site), in memory, bounded in size."""

from __future__ import annotations

import time
from typing import Final

# Buckets kept at most; past it the idle ones go first, then the oldest.
MAX_KEYS: Final = 100_000


class RateLimiter:
    def __init__(self, rate: float, burst: int, max_keys: int = MAX_KEYS) -> None:
        self._rate = rate
        self._burst = float(max(burst, 1))
        self._max_keys = max_keys
        # key -> (tokens, time of last update)
        self._buckets: dict[str, tuple[float, float]] = {}

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def take(self, key: str, n: int = 1, now: float | None = None) -> float:
        """Take `n` tokens from `key`'s bucket: 0.0 when allowed, else seconds until they exist."""
        if self._rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        # A request larger than the burst (a 100-event beacon, a burst set below it) passes on a
        # full bucket and empties it: were it to need more tokens than a bucket holds, it would
        # be refused forever.
        need = min(n, self._burst)
        if tokens < need:
            self._buckets[key] = (tokens, now)
            return (need - tokens) / self._rate
        if key not in self._buckets and len(self._buckets) >= self._max_keys:
            self._evict(now)
        self._buckets[key] = (tokens - need, now)
        return 0.0

    def _evict(self, now: float) -> None:
        full_after = self._burst / self._rate
        self._buckets = {
            k: v for k, v in self._buckets.items() if now - v[1] < full_after
        }  # a bucket idle long enough to be full again is the same as no bucket
        if len(self._buckets) >= self._max_keys:
            for key in list(self._buckets)[: len(self._buckets) // 2]:
                del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
