"""Rate limits of every HTTP request: per key, per client address, and per address for bad keys.

Three token buckets (core/rates.py), checked before a request reaches any dialect:

- the client address's bucket (an IPv6 client counts by its /64, what one subscriber gets);
- the key's bucket, when the request names a key (RUFUS's ``api_key``/``x-api-key`` header, Coord's
  ``access_key`` query parameter, a stream's ``api_key``); the key is the raw text, so no hash is
  computed for a request that is refused;
- the address's *failures* bucket, which only 401 answers draw from: a flood of made-up keys, each
  of them fresh to the key buckets, empties it and is then refused before any key is looked up.

A refused request gets ``RateLimited`` (429 with ``Retry-After``) rendered in the error shape of the
dialect its path belongs to. The defaults (docs/limits.md) sit far above a timing device (a batch per
second) and a polling app (a GET per second, a few in parallel). Each bite is logged at most once
per 10 s per kind. The protocol-level lane (http/guard.py) checks the same limiter (``answer_now``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sessionhub.core.errors import RateLimited
from sessionhub.core.rates import TokenBuckets
from sessionhub.http.errors import Render
from sessionhub.http.fastpath import Answer, FastLane, run_now
from sessionhub.http.throttled_log import ThrottledLog

log = logging.getLogger("sessionhub.http")

_KEY_HEADERS = (b"api_key", b"x-api-key")
_KEY_PARAMS = (b"access_key=", b"api_key=")


@dataclass(frozen=True, slots=True)
class Rates:
    """Requests per second and bursts (0 rate: no limit)."""

    per_key: float = 100.0
    key_burst: float = 200.0
    per_address: float = 200.0
    address_burst: float = 400.0
    auth_failures: float = 5.0
    auth_failures_burst: float = 100.0


def address_of(scope: Scope) -> str:
    """The client's address as the limits count it: IPv4 as is, IPv6 by its /64."""
    client = scope.get("client")
    if not client:
        return ""
    host: str = client[0]
    if ":" in host:
        return ":".join(host.split(":")[:4])  # an abbreviated address (::) only merges a little more
    return host


def raw_key(scope: Scope) -> bytes | None:
    """The key a request names, as sent (None: none)."""
    for name, value in scope["headers"]:
        if name in _KEY_HEADERS:
            return bytes(value)
    query: bytes = scope.get("query_string", b"")
    if b"key=" in query:
        for part in query.split(b"&"):
            if part.startswith(_KEY_PARAMS):
                return part[part.index(b"=") + 1:]
    return None


class Limiter:
    """The buckets and the decision, shared by the ASGI middleware and the protocol-level lane."""

    def __init__(self, rates: Rates, clock: Callable[[], float] = time.monotonic) -> None:
        self.keys = TokenBuckets(rates.per_key, rates.key_burst)
        self.addresses = TokenBuckets(rates.per_address, rates.address_burst)
        self.failures = TokenBuckets(rates.auth_failures, rates.auth_failures_burst)
        self.clock = clock
        self.notes = ThrottledLog(log)
        self.refused = 0

    def check(self, address: str, key: bytes | None) -> RateLimited | None:
        """None to go on, else the error to answer with (the request is then not counted as served)."""
        now = self.clock()
        wait = self.failures.empty(address, now)
        if wait:
            return self._refuse("bad-keys", wait, "too many requests with a bad key from this address", address)
        wait = self.addresses.take(address, now)
        if wait:
            return self._refuse("address", wait, "too many requests from this address", address)
        if key is not None:
            wait = self.keys.take(key, now)
            if wait:
                return self._refuse("key", wait, "too many requests with this key", address)
        return None

    def unauthorized(self, address: str) -> None:
        """Count a 401 against ``address``'s failures bucket."""
        self.failures.take(address, self.clock())

    def _refuse(self, kind: str, wait: int, message: str, address: str) -> RateLimited:
        self.refused += 1
        self.notes.note(kind, "request refused (429): %s (%s)", message, address)
        return RateLimited(f"{message}; retry after {wait} s", wait)


ADMITTED = "sessionhub.admitted"
"""Scope key: the protocol-level lane has already counted this request in."""


class RateLimit:
    """ASGI middleware: ``limiter``'s decision before ``app``; ``render_for(path)`` renders a refusal.

    ``lane`` (the fast lane) is offered to the server's protocol through ``answer_now``."""

    def __init__(self, app: ASGIApp, limiter: Limiter, render_for: Callable[[str], Render],
                 lane: FastLane | None = None) -> None:
        self.app, self.limiter, self.render_for, self.lane = app, limiter, render_for, lane

    def answer_now(self, scope: Scope) -> Answer | None:
        """The whole answer to GET ``scope`` now: its refusal (429) when a rate limit bites, so a flood
        costs no ASGI request at all, else the fast lane's answer if it has one without waiting for
        anything; else None, and the request goes the ASGI way (marked as counted in)."""
        if self.lane is None:
            return None
        error = self.limiter.check(address_of(scope), raw_key(scope))
        if error is not None:
            refusal = self.render_for(scope["path"])(error)
            return refusal.status_code, refusal.raw_headers, bytes(refusal.body)
        scope[ADMITTED] = True
        done, answer = run_now(self.lane.answer(scope))
        return answer if done else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limiter = self.limiter
        address = address_of(scope)
        if not scope.get(ADMITTED):
            error = limiter.check(address, raw_key(scope))
            if error is not None:
                await self.render_for(scope["path"])(error)(scope, receive, send)
                return

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                limiter.unauthorized(address)
            await send(message)

        await self.app(scope, receive, watched)
