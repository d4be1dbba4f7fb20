"""What the live side counts, in one place, for an exporter (``/metrics``) to read.

Plain numbers, read on demand: nothing here is updated on a hot path beyond the counters the
components keep anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from sessionhub.live.hub import ChangeHub
from sessionhub.live.revocation import Revocations
from sessionhub.service.replay import ReplayService


@dataclass(frozen=True, slots=True)
class LiveStats:
    subscriptions: int
    """Open hub subscriptions: SSE streams and held long-polls."""
    published_seq: int
    """The last seq this process published."""
    feed_lag: int
    """Committed changes this process has not published yet (head of the log − ``published_seq``):
    how far its change feed is behind, in changes."""
    resets: dict[str, int]
    """Stream ``reset`` events sent, by reason (retention, ahead, behind)."""
    revoked_closed: int
    """Subscriptions closed because their key was revoked."""


async def live_stats(hub: ChangeHub, replay: ReplayService, revocations: Revocations, head: int) -> LiveStats:
    """A snapshot of the counters; ``head``: the log's last committed seq (``store.last_seq()``)."""
    return LiveStats(
        subscriptions=hub.subscriber_count,
        published_seq=hub.last_seq,
        feed_lag=max(0, head - hub.last_seq),
        resets={gap.value: n for gap, n in replay.resets.items()},
        revoked_closed=revocations.closed,
    )
