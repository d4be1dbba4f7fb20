"""Observers of ``/v1/notify`` (RFC 7641), sans-I/O like the message layer it sends through.

An observer is a (remote, token) that registered with ``Observe: 0``. Policy:
- Every notification is confirmable. An observer has at most one in flight (a ping aside);
  later ones wait in its queue, in order (each is an event the client wants, not just the latest state). A queue
  over ``max_queue`` drops its oldest: the client sees the gap in ``globalSessionSequence``
  and resyncs, as the vendor's docs advise.
- Each notification carries the observer's next Observe sequence number (24 bits, wrapping).
- A ping notification goes to each observer every ``ping_interval`` seconds (skipped while
  something is in flight). A ping is sent once, not retransmitted; one without an ACK by the
  next ping is a miss, and three misses in a row drop the observer. Any ACK resets the count.
- An observer is dropped when it answers a notification with RST, when a notification's
  retransmissions run out (RFC 7641 §4.5), or when it deregisters (``Observe: 1``).
- At most ``max_observers`` are kept; a registration beyond that is served as a plain GET.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sessionhub.coap import numbers as N
from sessionhub.coap.messages import Fate, MessageLayer, Remote
from sessionhub.coap.wire import Message, uint

MISSES_ALLOWED = 3

Key = tuple[Remote, bytes]


@dataclass(slots=True)
class _Observer:
    remote: Remote
    token: bytes
    seq: int
    next_ping: float
    queue: deque[bytes] = field(default_factory=deque)
    data_mid: int | None = None
    """The MID of the notification in flight."""
    ping_mid: int | None = None
    misses: int = 0


class Observations:
    def __init__(
        self, layer: MessageLayer, ping: Callable[[], bytes], *, ping_interval: float = 30.0,
        max_observers: int = 4096, max_queue: int = 32,
    ) -> None:
        """``ping()`` renders the payload of a ping notification when one is due."""
        self._layer, self._ping = layer, ping
        self.ping_interval, self.max_observers, self.max_queue = ping_interval, max_observers, max_queue
        self._observers: dict[Key, _Observer] = {}
        self._pings: list[tuple[float, Key]] = []
        self.dropped = 0
        """Observers dropped for not answering (RST and deregistration are not counted)."""

    def __len__(self) -> int:
        return len(self._observers)

    def __contains__(self, key: Key) -> bool:
        return key in self._observers

    def register(self, remote: Remote, token: bytes, now: float) -> int | None:
        """Register (or refresh) an observer; return the Observe number for the response, or None
        when the registry is full (the request is then answered as a plain GET)."""
        key = (remote, token)
        obs = self._observers.get(key)
        if obs is None:
            if len(self._observers) >= self.max_observers:
                return None
            obs = self._observers[key] = _Observer(remote, token, 1, now + self.ping_interval)
            heapq.heappush(self._pings, (obs.next_ping, key))
        obs.seq = (obs.seq + 1) % N.OBSERVE_MAX
        return obs.seq

    def deregister(self, remote: Remote, token: bytes) -> None:
        self._drop((remote, token), counted=False)

    def notify(self, payload: bytes, now: float) -> None:
        """Send ``payload`` to every observer (queued behind what each has in flight)."""
        for key, obs in self._observers.items():
            if obs.data_mid is None:
                self._send(key, obs, payload, now)
            else:
                if len(obs.queue) >= self.max_queue:
                    obs.queue.popleft()
                obs.queue.append(payload)

    def _send(self, key: Key, obs: _Observer, payload: bytes, now: float, ping: bool = False) -> None:
        obs.seq = (obs.seq + 1) % N.OBSERVE_MAX
        message = Message(N.CON, N.CONTENT, 0, obs.token,
                          [(N.OBSERVE, uint(obs.seq)), (N.CONTENT_FORMAT, uint(N.JSON_FORMAT))], payload)
        if ping:
            obs.ping_mid = self._layer.send_confirmable(obs.remote, message, ("ping", key), now, retransmit=False,
                                                         timeout=self.ping_interval)
        else:
            obs.data_mid = self._layer.send_confirmable(obs.remote, message, ("data", key), now)

    def on_fate(self, fate: Fate, tag: object, now: float) -> bool:
        """Take the fate of a confirmable message; False when ``tag`` is not an observer's."""
        if not (isinstance(tag, tuple) and len(tag) == 2 and tag[0] in ("ping", "data")):
            return False
        kind, key = tag
        obs = self._observers.get(key)
        if obs is None:
            return True
        if kind == "ping":
            obs.ping_mid = None
        else:
            obs.data_mid = None
        if fate is Fate.ACKED:
            obs.misses = 0
        elif fate is Fate.RESET or kind == "data":
            self._drop(key, counted=fate is Fate.TIMED_OUT)
            return True
        else:  # an unanswered ping
            obs.misses += 1
            if obs.misses >= MISSES_ALLOWED:
                self._drop(key, counted=True)
                return True
        if obs.queue and obs.data_mid is None:
            self._send(key, obs, obs.queue.popleft(), now)
        return True

    def _drop(self, key: Key, counted: bool) -> None:
        obs = self._observers.pop(key, None)
        if obs is None:
            return
        for mid in (obs.data_mid, obs.ping_mid):
            if mid is not None:
                self._layer.cancel(obs.remote, mid)
        self.dropped += counted

    def poll(self, now: float) -> None:
        """Send the pings that are due."""
        pings = self._pings
        payload: bytes | None = None
        while pings and pings[0][0] <= now:
            at, key = heapq.heappop(pings)
            obs = self._observers.get(key)
            if obs is None or obs.next_ping != at:
                continue
            obs.next_ping = at + self.ping_interval
            heapq.heappush(pings, (obs.next_ping, key))
            if obs.data_mid is None and obs.ping_mid is None:
                payload = payload if payload is not None else self._ping()
                self._send(key, obs, payload, now, ping=True)

    def next_deadline(self) -> float | None:
        pings = self._pings
        while pings:
            at, key = pings[0]
            obs = self._observers.get(key)
            if obs is not None and obs.next_ping == at:
                return at
            heapq.heappop(pings)
        return None
