"""Which client endpoints are verified: proven to receive what the endpoint sends (sans-I/O).

UDP source addresses can be spoofed, so a small request could make the endpoint send a large
answer (or a stream of notifications) to a victim (RFC 7252 §11.3). Until an endpoint
(host, port) is verified, the transport keeps each answer to it within ``FACTOR`` times the bytes
of the request that caused it, and registers no observer for it.

An endpoint is verified by either proof:
- **Echo** (RFC 9175 §2.4): answers to unverified endpoints carry an Echo option whose value is a
  MAC of the endpoint and a one-minute window under a per-process secret (stateless); a later
  request carrying a valid value (this window or the previous one) verifies its sender.
- **A return-routability probe**: an empty confirmable message ("CoAP ping", RFC 7252 §4.3) with
  a random message ID; every CoAP endpoint answers it with RST (or ACK). A matching empty answer
  from that endpoint verifies it; a non-matching one fails the probe (so blind guessing gets one
  try per probe, i.e. 1 in 65,536). At most one probe per endpoint is outstanding; probes expire
  after ``PROBE_TIMEOUT`` (3 s).

Verified endpoints are remembered for ``ttl`` seconds in a table of at most ``max_verified``
entries (oldest verification evicted first); an acknowledgement of one of our confirmable messages
refreshes the entry (it proves the same thing).
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Callable

from sessionhub.coap.messages import Remote

FACTOR = 3
"""Bytes sent to an unverified endpoint per byte received from it, at most (RFC 9175 §2.4's 3x)."""
ECHO_WINDOW = 60.0
"""An Echo value is valid for the window it was minted in and the next one (60-120 s)."""
PROBE_TIMEOUT = 3.0
"""An answer to a probe takes one round trip; this is many."""


class Sources:
    def __init__(self, secret: bytes, random16: Callable[[], int], *, ttl: float = 600.0,
                 max_verified: int = 16_384, max_probes: int = 4096) -> None:
        """``random16()`` returns a fresh unpredictable 16-bit int (probe message IDs)."""
        self._secret, self._random16 = secret, random16
        self.ttl, self.max_verified, self.max_probes = ttl, max_verified, max_probes
        self._verified: OrderedDict[Remote, float] = OrderedDict()
        self._probes: dict[Remote, tuple[int, float]] = {}
        self.verified_now: list[Remote] = []
        """Endpoints verified since the caller last emptied it (their pending observers may start)."""

    def __len__(self) -> int:
        return len(self._verified)

    def is_verified(self, remote: Remote, now: float) -> bool:
        until = self._verified.get(remote)
        return until is not None and until > now

    def verify(self, remote: Remote, now: float) -> None:
        """Record a proof that ``remote`` receives what is sent to it."""
        fresh = not self.is_verified(remote, now)
        self._verified.pop(remote, None)
        if len(self._verified) >= self.max_verified:
            self._verified.popitem(last=False)
        self._verified[remote] = now + self.ttl
        self._probes.pop(remote, None)
        if fresh:
            self.verified_now.append(remote)

    def refresh(self, remote: Remote, now: float) -> None:
        """An ACK of our confirmable message from ``remote``: as good as a probe's answer."""
        self.verify(remote, now)

    # Echo -------------------------------------------------------------------------------------

    def _mac(self, remote: Remote, window: int) -> bytes:
        text = f"{remote[0]}|{remote[1]}|{window}".encode()
        return hmac.new(self._secret, text, hashlib.sha256).digest()[:8]

    def echo(self, remote: Remote, now: float) -> bytes:
        """The Echo option value to send to ``remote`` now."""
        return self._mac(remote, int(now // ECHO_WINDOW))

    def check_echo(self, remote: Remote, value: bytes, now: float) -> bool:
        """Verify ``remote`` if ``value`` is an Echo value minted for it recently."""
        window = int(now // ECHO_WINDOW)
        if any(hmac.compare_digest(value, self._mac(remote, w)) for w in (window, window - 1)):
            self.verify(remote, now)
            return True
        return False

    # probes -----------------------------------------------------------------------------------

    def probe(self, remote: Remote, now: float) -> bytes | None:
        """The probe datagram to send to ``remote``, or None (one is outstanding, or the table is full)."""
        outstanding = self._probes.get(remote)
        if outstanding is not None and outstanding[1] > now:
            return None
        if outstanding is None and len(self._probes) >= self.max_probes:
            self._expire(now)
            if len(self._probes) >= self.max_probes:
                return None
        mid = self._random16() & 0xFFFF
        self._probes[remote] = (mid, now + PROBE_TIMEOUT)
        return bytes((0x40, 0, mid >> 8, mid & 0xFF))

    def probing(self, remote: Remote) -> bool:
        return remote in self._probes

    def answer(self, remote: Remote, mid: int, now: float) -> bool:
        """An empty ACK/RST with ``mid`` from ``remote``, which has a probe outstanding: True when it
        answers the probe (``remote`` is now verified); else the probe fails."""
        outstanding = self._probes.pop(remote, None)
        if outstanding is not None and outstanding[0] == mid and outstanding[1] > now:
            self.verify(remote, now)
            return True
        return False

    def _expire(self, now: float) -> None:
        for remote in [r for r, (_, until) in self._probes.items() if until <= now]:
            del self._probes[remote]
