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
- At most ``max_observers`` are kept, and at most ``max_per_host`` per client host (one client
  must not take every slot); a registration beyond either is served as a plain GET.
- A registration from an endpoint that is not verified yet (``coap.sources``) is kept *pending*:
  it gets no notification and no ping until ``activate`` (the endpoint proved it receives what
  is sent to it), and is forgotten after ``pending_timeout`` without that proof. A spoofed
  registration therefore never makes the endpoint send anything to the victim.
- An observer that has never acknowledged anything gets each notification once, without
  retransmissions: if it does not answer within ``first_timeout`` it is dropped. Once it has
  acknowledged, notifications are retransmitted with exponential back-off (RFC 7252 §4.2).
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
    active: bool = True
    """False while the observer's endpoint is not verified: nothing is sent to it."""
    acked: bool = False
    """It has acknowledged a notification or ping: from then on notifications are retransmitted."""


class Observations:
    def __init__(
        self, layer: MessageLayer, ping: Callable[[], bytes], *, ping_interval: float = 30.0,
        max_observers: int = 4096, max_queue: int = 32, max_per_host: int = 16, pending_timeout: float = 10.0,
        first_timeout: float = N.ACK_TIMEOUT * N.ACK_RANDOM_FACTOR,
    ) -> None:
        """``ping()`` renders the payload of a ping notification when one is due."""
        self._layer, self._ping = layer, ping
        self.ping_interval, self.max_observers, self.max_queue = ping_interval, max_observers, max_queue
        self.max_per_host, self.pending_timeout, self.first_timeout = max_per_host, pending_timeout, first_timeout
        self._observers: dict[Key, _Observer] = {}
        self._per_host: dict[object, int] = {}
        self._by_remote: dict[Remote, set[bytes]] = {}
        self._pings: list[tuple[float, Key]] = []
        self.dropped = 0
        """Observers dropped for not answering (RST and deregistration are not counted)."""

    def __len__(self) -> int:
        return len(self._observers)

    @property
    def active(self) -> int:
        """Observers being notified (registered from a verified endpoint)."""
        return sum(obs.active for obs in self._observers.values())

    def __contains__(self, key: Key) -> bool:
        return key in self._observers

    def register(self, remote: Remote, token: bytes, now: float, *, verified: bool = True) -> int | None:
        """Register (or refresh) an observer; return the Observe number for the response, or None
        when the registry (or the host's share of it) is full: the request is then answered as a
        plain GET. Unless ``verified``, a new observer stays pending until ``activate``."""
        key = (remote, token)
        obs = self._observers.get(key)
        if obs is None:
            host = remote[0]
            if len(self._observers) >= self.max_observers or self._per_host.get(host, 0) >= self.max_per_host:
                return None
            first = now + (self.ping_interval if verified else self.pending_timeout)
            obs = self._observers[key] = _Observer(remote, token, 1, first, active=verified)
            self._per_host[host] = self._per_host.get(host, 0) + 1
            self._by_remote.setdefault(remote, set()).add(token)
            heapq.heappush(self._pings, (obs.next_ping, key))
        obs.seq = (obs.seq + 1) % N.OBSERVE_MAX
        return obs.seq

    def activate(self, remote: Remote, now: float) -> None:
        """``remote`` is verified: its pending observers start receiving notifications and pings."""
        for token in self._by_remote.get(remote, ()):
            obs = self._observers[(remote, token)]
            if not obs.active:
                obs.active, obs.next_ping = True, now + self.ping_interval
                heapq.heappush(self._pings, (obs.next_ping, (remote, token)))

    def deregister(self, remote: Remote, token: bytes) -> None:
        self._drop((remote, token), counted=False)

    def notify(self, payload: bytes, now: float) -> None:
        """Send ``payload`` to every observer (queued behind what each has in flight)."""
        for key, obs in self._observers.items():
            if not obs.active:
                continue
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
        elif obs.acked:
            obs.data_mid = self._layer.send_confirmable(obs.remote, message, ("data", key), now)
        else:  # never answered anything: once, no retransmissions (a silent one costs one datagram)
            obs.data_mid = self._layer.send_confirmable(obs.remote, message, ("data", key), now, retransmit=False,
                                                         timeout=self.first_timeout)

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
            obs.misses, obs.acked = 0, True
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
        host = obs.remote[0]
        left = self._per_host.get(host, 1) - 1
        if left:
            self._per_host[host] = left
        else:
            self._per_host.pop(host, None)
        tokens = self._by_remote.get(obs.remote)
        if tokens is not None:
            tokens.discard(obs.token)
            if not tokens:
                del self._by_remote[obs.remote]
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
            if not obs.active:  # never verified
                self._drop(key, counted=False)
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
