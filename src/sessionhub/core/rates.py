"""Token buckets: how many requests a key or a client address may make, sans I/O.

Theory of operation: each name (a key, an address) has a bucket of at most ``burst`` tokens that
refills at ``rate`` tokens per second; a request takes one token, and a request that finds less
than one is refused with the seconds until one is back. The caller passes the time in (monotonic
seconds), so tests need no clock. ``take`` is O(1): one dict lookup and a little arithmetic.

The table of buckets is bounded (``max_names``): when it is full, buckets that have refilled to the
brim (they remember nothing a fresh bucket would not) are dropped; if that frees too little, all
are, which forgives every debtor at once, so an attacker who sprays names to force that gains a
fresh burst, no more (the per-address bucket still holds him).
"""

from __future__ import annotations

import math

MAX_NAMES = 100_000


class TokenBuckets:
    """One bucket per name. ``rate`` <= 0 means no limit (``take`` always admits)."""

    __slots__ = ("rate", "burst", "max_names", "_buckets")

    def __init__(self, rate: float, burst: float, max_names: int = MAX_NAMES) -> None:
        self.rate, self.burst, self.max_names = rate, max(1.0, burst), max_names
        self._buckets: dict[object, list[float]] = {}

    def take(self, name: object, now: float, cost: float = 1.0) -> int:
        """Take ``cost`` tokens from ``name``'s bucket: 0 if they were there, else the whole seconds
        (at least 1) after which they will be (nothing is taken then)."""
        if self.rate <= 0:
            return 0
        bucket = self._buckets.get(name)
        if bucket is None:
            if len(self._buckets) >= self.max_names:
                self._prune(now)
            bucket = self._buckets[name] = [self.burst, now]
        tokens = bucket[0] + (now - bucket[1]) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        bucket[1] = now
        if tokens >= cost:
            bucket[0] = tokens - cost
            return 0
        bucket[0] = tokens
        return max(1, math.ceil((cost - tokens) / self.rate))

    def empty(self, name: object, now: float) -> int:
        """0 if ``name`` has a token left (taking none), else the seconds until it has one."""
        if self.rate <= 0:
            return 0
        bucket = self._buckets.get(name)
        if bucket is None:
            return 0
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        return 0 if tokens >= 1 else max(1, math.ceil((1 - tokens) / self.rate))

    def __len__(self) -> int:
        return len(self._buckets)

    def _prune(self, now: float) -> None:
        rate, burst = self.rate, self.burst
        self._buckets = {name: b for name, b in self._buckets.items() if b[0] + (now - b[1]) * rate < burst}
        if len(self._buckets) > self.max_names // 2:
            self._buckets.clear()
