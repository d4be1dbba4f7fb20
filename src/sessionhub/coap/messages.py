"""The CoAP message layer (RFC 7252 §4), sans-I/O: it never reads a clock or touches a socket.

The caller passes ``now`` (seconds, monotonic) into every call, sends what ``outbox`` collects,
acts on ``events`` (the fate of each confirmable message it sent: acknowledged, reset, or timed
out) and calls ``poll(now)`` at ``next_deadline()``.

Policy:
- Requests: a duplicate of a non-GET request (same remote and message ID within
  EXCHANGE_LIFETIME) is not processed again: a CON gets the stored response again, a duplicate
  still being processed is ignored (the client retransmits). GET is safe and idempotent, so it
  is processed afresh instead (RFC 7252 §4.5 allows this relaxation); that keeps the hot read
  path free of per-request bookkeeping. The cache is bounded (oldest entries go first).
- Responses are piggybacked on the ACK of a CON request, or sent NON for a NON request.
- A malformed CON, an empty CON ("CoAP ping") and a CON response we never asked for are answered
  with RST; anything malformed or unexpected that is not CON is dropped silently.
- Our CONs are retransmitted with exponential back-off from ACK_TIMEOUT * random(1, 1.5), up to
  MAX_RETRANSMIT times, then reported TIMED_OUT. A CON sent with ``retransmit=False`` (a ping)
  is sent once and reported TIMED_OUT after its ``timeout`` without an ACK.
"""

from __future__ import annotations

import enum
import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sessionhub.coap import numbers as N
from sessionhub.coap.wire import MalformedMessage, Message, decode, encode_options, header

Remote = tuple[Any, ...]
"""A peer address as the transport gives it (an (ip, port, ...) tuple)."""


class Fate(enum.Enum):
    ACKED = "acked"
    RESET = "reset"
    TIMED_OUT = "timed_out"


@dataclass(slots=True)
class _Pending:
    data: bytes
    tag: object
    deadline: float
    timeout: float
    retries_left: int


class MessageLayer:
    def __init__(self, random: Callable[[], float], first_mid: int, dedup_max: int = 65_536) -> None:
        """``random()`` returns floats in [0, 1) (retransmission jitter)."""
        self._random = random
        self._mid = first_mid & 0xFFFF
        self._dedup_max = dedup_max
        self._seen: dict[tuple[Remote, int], bytes | None] = {}
        self._seen_order: deque[tuple[float, tuple[Remote, int]]] = deque()
        self._pending: dict[tuple[Remote, int], _Pending] = {}
        self._timers: list[tuple[float, int, tuple[Remote, int]]] = []
        self._timer_seq = 0
        self.outbox: list[tuple[bytes, Remote]] = []
        """Datagrams to send, in order; the caller empties it."""
        self.events: list[tuple[Fate, object, Remote]] = []
        """(fate, tag, remote) of our confirmable messages; the caller empties it."""

    # incoming ---------------------------------------------------------------------------------

    def receive(self, data: bytes, remote: Remote, now: float) -> Message | None:
        """Take one datagram; return the request to process, or None when it was handled here."""
        try:
            m = decode(data)
        except MalformedMessage:
            if len(data) >= 4 and data[0] >> 4 == 0x4:  # version 1, CON: reject it
                self.outbox.append((bytes((0x70, 0, data[2], data[3])), remote))
            return None
        mtype, code = m.mtype, m.code
        if mtype >= N.ACK:
            pending = self._pending.pop((remote, m.mid), None)
            if pending is not None:
                self.events.append((Fate.ACKED if mtype == N.ACK else Fate.RESET, pending.tag, remote))
            return None
        klass = code >> 5
        if code == N.EMPTY or klass != 0:  # a ping, a response we never asked for, a reserved class
            if mtype == N.CON:
                self.outbox.append((header(N.RST, 0, m.mid, b""), remote))
            return None
        if code == N.GET:
            return m
        key = (remote, m.mid)
        if key in self._seen:
            stored = self._seen[key]
            if stored is not None and mtype == N.CON:
                self.outbox.append((stored, remote))
            return None
        self._expire(now)
        if len(self._seen) >= self._dedup_max:
            self._seen.pop(self._seen_order.popleft()[1], None)
        self._seen[key] = None
        self._seen_order.append((now + N.EXCHANGE_LIFETIME, key))
        return m

    def _expire(self, now: float) -> None:
        order = self._seen_order
        while order and order[0][0] <= now:
            self._seen.pop(order.popleft()[1], None)

    # outgoing ---------------------------------------------------------------------------------

    def respond(self, request: Message, remote: Remote, code: int, options: bytes, payload: bytes) -> bytes:
        """The response datagram to ``request`` (kept for its duplicates unless it is a GET).

        ``options`` are encoded already (``wire.encode_options``).
        """
        if request.mtype == N.CON:
            data = header(N.ACK, code, request.mid, request.token) + options
        else:
            data = header(N.NON, code, self.next_mid(), request.token) + options
        if payload:
            data += b"\xff" + payload
        if request.code != N.GET:
            key = (remote, request.mid)
            if key in self._seen:
                self._seen[key] = data
        return data

    def next_mid(self) -> int:
        self._mid = (self._mid + 1) & 0xFFFF
        return self._mid

    def send_confirmable(
        self, remote: Remote, message: Message, tag: object, now: float, *, retransmit: bool = True,
        timeout: float | None = None,
    ) -> int:
        """Queue ``message`` (its type and MID are set here) as CON; its fate comes back with ``tag``."""
        message.mtype, message.mid = N.CON, self.next_mid()
        data = header(N.CON, message.code, message.mid, message.token) + encode_options(message.options) + (
            b"\xff" + message.payload if message.payload else b"")
        if retransmit:
            wait = N.ACK_TIMEOUT * (1 + (N.ACK_RANDOM_FACTOR - 1) * self._random())
            pending = _Pending(data, tag, now + wait, wait, N.MAX_RETRANSMIT)
        else:
            wait = N.ACK_TIMEOUT if timeout is None else timeout
            pending = _Pending(data, tag, now + wait, wait, 0)
        key = (remote, message.mid)
        self._pending[key] = pending
        self._arm(pending.deadline, key)
        self.outbox.append((data, remote))
        return message.mid

    def cancel(self, remote: Remote, mid: int) -> None:
        """Forget a confirmable message: no more retransmissions, no fate reported."""
        self._pending.pop((remote, mid), None)

    def _arm(self, deadline: float, key: tuple[Remote, int]) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (deadline, self._timer_seq, key))

    # time -------------------------------------------------------------------------------------

    def poll(self, now: float) -> None:
        """Retransmit what is due, report what gave up, forget expired message IDs."""
        timers = self._timers
        while timers and timers[0][0] <= now:
            deadline, _, key = heapq.heappop(timers)
            pending = self._pending.get(key)
            if pending is None or pending.deadline != deadline:
                continue  # acknowledged, cancelled, or re-armed since
            if pending.retries_left == 0:
                del self._pending[key]
                self.events.append((Fate.TIMED_OUT, pending.tag, key[0]))
                continue
            pending.retries_left -= 1
            pending.timeout *= 2
            pending.deadline = now + pending.timeout
            self._arm(pending.deadline, key)
            self.outbox.append((pending.data, key[0]))
        self._expire(now)

    def next_deadline(self) -> float | None:
        """When ``poll`` has work next (retransmissions and give-ups; expiry happens on the way)."""
        timers = self._timers
        while timers:
            deadline, _, key = timers[0]
            pending = self._pending.get(key)
            if pending is not None and pending.deadline == deadline:
                return deadline
            heapq.heappop(timers)
        return None

    def is_pending(self, remote: Remote, mid: int) -> bool:
        """Whether a confirmable message ``mid`` to ``remote`` awaits its ACK."""
        return (remote, mid) in self._pending

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def remembered(self) -> int:
        """Message IDs in the deduplication cache."""
        return len(self._seen)
