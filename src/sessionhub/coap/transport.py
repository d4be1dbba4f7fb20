"""The CoAP endpoint: the only code that owns the UDP socket and the timers.

It drives the sans-I/O layers with the loop's monotonic clock: each datagram goes through the
allow list, the message layer, the site; answers go out at once (piggybacked) or when the
handler's coroutine finishes. One timer, armed at the earliest deadline of the message layer
(retransmissions) and the observers (pings), polls both. Committed paging changes arrive from
the change hub (``on_change``), each with the snapshot it is rendered from, and are notified to
the observers at once, in seq order.

Amplification (RFC 7252 §11.3): until a client endpoint is verified (``coap.sources``: an Echo
value it repeated, or its answer to a probe), every datagram it causes is at most
``sources.FACTOR`` times the request's size, and no write it asks for is done. Either waits for
the answer to a probe (4 bytes, one round trip): a write is then done, a GET's answer that is
larger than the bound is then sent (piggybacked on the ACK as usual). Without an answer within
``HOLD_TIMEOUT`` (1 s, under the client's first retransmission) a 4.01 with an Echo option goes
out instead (RFC 9175 §2.4), which Echo-aware clients repeat with the Echo. An Observe
registration from an unverified endpoint stays pending until it is verified. Verified
endpoints get answers at once.

Error boundary: a core error becomes its code from ``coap.errors`` with the JSON error payload;
anything else is logged with its traceback and answered 5.00 with a generic message.
Rate limit: each client host has a token bucket (``rate`` per second, ``burst``); over it, one
4.29 with Max-Age (RFC 8516; the JSON error payload only to a verified endpoint), then its
datagrams are dropped unread until Max-Age has passed.

Log policy: datagrams from outside the allow list are dropped at DEBUG; a host over its rate and
observers dropped for not answering at INFO.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import secrets
import socket
from collections import deque
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from sessionhub.coap import lrs
from sessionhub.coap import numbers as N
from sessionhub.coap.blocks import BLOCK_SZX, block
from sessionhub.coap.errors import coap_code
from sessionhub.coap.messages import Fate, MessageLayer, Remote
from sessionhub.coap.observe import Observations
from sessionhub.coap.site import JSON_OPTIONS, PagingSite, Request, Response
from sessionhub.coap.sources import FACTOR, Sources
from sessionhub.coap.wire import MalformedMessage, Message, decode, encode_options, uint
from sessionhub.core.changes import Change, paging_station_prefix
from sessionhub.core.errors import SessionhubError, StoreUnavailable
from sessionhub.core.paging import DEFAULT_STATION
from sessionhub.core.rates import TokenBuckets
from sessionhub.service.paging import PagingService

log = logging.getLogger("sessionhub.coap")

HELD_PER_ENDPOINT, HELD_MAX = 8, 1024
"""Answers held for unverified endpoints (per endpoint, in all); beyond, the request goes unanswered."""
HOLD_TIMEOUT = 1.0
"""How long an answer waits for its endpoint's proof: under the clients' first retransmission (2 s)."""
MAX_PENDING = 1000
"""Requests being processed at once; beyond it the answer is 5.03 (the store is the bottleneck)."""
SOCKET_BUFFER = 4 << 20
"""Socket buffers asked for (the kernel caps them at net.core.rmem_max / wmem_max)."""
LOOPBACK = ("127.0.0.0/8", "::1/128", "::ffff:127.0.0.0/104")

_JSON_OPTIONS_BYTES = encode_options(JSON_OPTIONS)


class Allow:
    """Which client addresses may talk to the endpoint (decisions cached per address). An IPv4-mapped
    IPv6 address (``::ffff:10.0.1.7``, how a ``[::]`` socket sees IPv4 clients) is the IPv4 address."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        self.networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        self._seen: dict[str, bool] = {}

    def __call__(self, host: str) -> bool:
        ok = self._seen.get(host)
        if ok is None:
            try:
                address = ipaddress.ip_address(host)
                if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                    address = address.ipv4_mapped  # an IPv4 client of a dual-stack [::] socket
                ok = any(address in n for n in self.networks)
            except ValueError:
                ok = False
            if len(self._seen) >= 4096:
                self._seen.clear()
            self._seen[host] = ok
        return ok


@dataclass(slots=True)
class _Held:
    request: Message
    answer: tuple[int, bytes, bytes] | None
    """(code, encoded options, payload) of an answer waiting to go out; None: a request not done yet."""


class CoapEndpoint(asyncio.DatagramProtocol):
    def __init__(
        self, service: PagingService, account_id: int, allow: Allow, *, ping_interval: float = 30.0,
        max_observers: int = 4096, max_observers_per_host: int = 16, rate: float = 0.0, burst: float = 1.0,
        station: str = DEFAULT_STATION,
    ) -> None:
        """Serve ``station`` of the account ``account_id``.
        ``rate``/``burst``: requests per second per client host (token buckets; 0: no limit)."""
        self.loop = asyncio.get_running_loop()
        self._rates = TokenBuckets(rate, burst) if rate > 0 else None
        self._told: dict[object, float] = {}
        """Hosts told 4.29 and until when: the rest of their requests in that window are dropped."""
        self.layer = MessageLayer(random.random, random.randrange(1 << 16))
        self.observations = Observations(self.layer, self._ping_body, ping_interval=ping_interval,
                                         max_observers=max_observers, max_per_host=max_observers_per_host)
        self.sources = Sources(secrets.token_bytes(32), lambda: secrets.randbits(16))
        self.site = PagingSite(service, account_id, self.observations, self.loop.time, station)
        self._paging, self._account, self._allow = service, account_id, allow
        self._station, self._topics = station, paging_station_prefix(account_id, station)
        self._transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.Handle | None = None
        self._timer_at = 0.0
        """The deadline ``_timer`` was armed for (uvloop's handle for a deadline under 0.5 ms away is a
        plain ``Handle`` without ``when()``, so the endpoint keeps the deadline itself)."""
        self._held: dict[Remote, list[_Held]] = {}
        """Answers waiting for their unverified endpoint to answer its probe."""
        self._held_count = 0
        self._held_order: deque[tuple[float, Remote]] = deque()

    def _ping_body(self) -> bytes:
        return self.site.ping_body()

    # socket -----------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)  # uvloop's is not a subclass

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable from a gone client
        log.debug("socket error: %s", exc)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not self._allow(addr[0]):
            log.debug("dropped a datagram from %s (not in --coap-allow)", addr[0])
            return
        layer, sources, now = self.layer, self.sources, self.loop.time()
        if self._rates is not None and not (len(data) == 4 and data[0] & 0x20):  # empty ACK/RST: not counted
            wait = self._rates.take(addr[0], now)
            if wait:
                self._too_many(data, addr, wait, now)
                return
        if len(data) == 4 and data[1] == 0 and data[0] & 0x20 and sources.probing(addr):  # empty ACK/RST
            mid = data[2] << 8 | data[3]
            if not layer.is_pending(addr, mid):
                if sources.answer(addr, mid, now):
                    self._activate(now)
                return
        message = layer.receive(data, addr, now)
        if layer.outbox or layer.events:
            self._flush()
        if message is None:
            return
        size = 0  # verified: no budget
        if not sources.is_verified(addr, now):
            echo = message.option(N.ECHO)
            if echo is not None and sources.check_echo(addr, echo, now):
                self._activate(now)
            elif message.code != N.GET:  # unsafe: done only once the sender is verified
                self._hold(message, addr, None)
                return
            else:
                size = len(data)
        self._dispatch(message, addr, size)

    def _dispatch(self, message: Message, addr: Remote, size: int) -> None:
        """Route the request to its handler; answer now or when its coroutine finishes."""
        try:
            result = self.site.handle(Request(message, addr, not size))
        except Exception as exc:
            result = self._failure(exc, message)
        if isinstance(result, Response):
            self._reply(message, addr, result, size)
        elif len(self._tasks) >= MAX_PENDING:
            result.close()  # type: ignore[attr-defined]
            self._reply(message, addr, self._failure(StoreUnavailable("too many requests in progress"), message), size)
        else:
            task = self.loop.create_task(self._finish(message, addr, result, size))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _too_many(self, data: bytes, addr: Remote, wait: int, now: float) -> None:
        """Over its host's rate: one 4.29 Too Many Requests with Max-Age (RFC 8516) per window, the
        rest dropped unread, so a flood costs a lookup per datagram and its answers stop."""
        host = addr[0]
        if self._told.get(host, 0.0) > now:
            return
        if len(self._told) >= 4096:
            self._told = {h: t for h, t in self._told.items() if t > now}
            if len(self._told) >= 4096:
                return  # too many flooding hosts to tell each: silence
        self._told[host] = now + wait
        try:
            m = decode(data)
        except MalformedMessage:
            return
        if m.code >> 5 != 0 or m.code == N.EMPTY or m.mtype > N.NON or self._transport is None:
            return
        options = encode_options([(N.MAX_AGE, uint(wait)), *(JSON_OPTIONS if self.sources.is_verified(addr, now)
                                                             else [])])
        payload = lrs.error_json("rate_limited", f"too many requests; retry in {wait} s") if len(options) > 2 else b""
        self._transport.sendto(self.layer.respond(m, addr, N.TOO_MANY_REQUESTS, options, payload), addr)
        log.info("CoAP client %s is over its rate; dropping its requests for %d s", host, wait)

    async def _finish(self, message: Message, addr: Remote, pending: Awaitable[Response], size: int) -> None:
        try:
            response = await pending
        except Exception as exc:
            response = self._failure(exc, message)
        self._reply(message, addr, response, size)
        self._flush()

    def _activate(self, now: float) -> None:
        """Start the pending observers of the endpoints verified just now."""
        verified, self.sources.verified_now = self.sources.verified_now, []
        for remote in verified:
            self.observations.activate(remote, now)
            if remote in self._held:
                self._release(remote, True)
        self._arm()

    def _failure(self, exc: Exception, message: Message) -> Response:
        if not isinstance(exc, SessionhubError):
            log.error("unexpected error answering %r", message, exc_info=exc)
            exc = SessionhubError("internal error")
        code = coap_code(exc)
        if code in (N.SERVICE_UNAVAILABLE, N.TOO_MANY_REQUESTS):  # say when to retry (Max-Age, RFC 8516)
            retry = max(1, int(getattr(exc, "retry_after", 1)))
            return Response(code, lrs.error_body(exc), [(N.MAX_AGE, uint(retry)), *JSON_OPTIONS])
        return Response(code, lrs.error_body(exc))

    def _reply(self, request: Message, addr: Remote, response: Response, size: int = 0) -> None:
        """Send the answer; ``size`` is the request's datagram size when its sender is not verified."""
        payload, options = response.payload, response.options
        block2 = request.option(N.BLOCK2)
        if block2 is not None or len(payload) > 16 << BLOCK_SZX:
            try:
                payload, options = block(payload, options, block2)
            except SessionhubError as exc:
                response = self._failure(exc, request)
                payload, options = response.payload, response.options
        encoded = _JSON_OPTIONS_BYTES if options is JSON_OPTIONS else encode_options(options)
        data = self.layer.respond(request, addr, response.code, encoded, payload)
        if size and len(data) > FACTOR * size:
            self._hold(request, addr, (response.code, encoded, payload))
            return
        if size and request.option(N.OBSERVE) is not None:  # a pending registration waits for this proof
            probe = self.sources.probe(addr, self.loop.time())
            if probe is not None and self._transport is not None:
                self._transport.sendto(probe, addr)
        if self._transport is not None:
            self._transport.sendto(data, addr)
        self._arm()

    def _hold(self, request: Message, addr: Remote, answer: tuple[int, bytes, bytes] | None) -> None:
        """Probe an unverified endpoint and keep, until the probe's answer arrives (``_release``),
        either the (code, encoded options, payload) of an answer too large for it, or (``None``) an
        unsafe request not done yet: a write is done only for a verified endpoint, so a spoofed one
        changes nothing, and a 4.01 that makes the client repeat it never follows a write done."""
        now = self.loop.time()
        probe = self.sources.probe(addr, now)
        if probe is not None and self._transport is not None:
            self._transport.sendto(probe, addr)
        held = self._held.setdefault(addr, [])
        if len(held) >= HELD_PER_ENDPOINT or self._held_count >= HELD_MAX:
            return  # bounded: the client asks again
        held.append(_Held(request, answer))
        self._held_count += 1
        self._held_order.append((now + HOLD_TIMEOUT, addr))
        self._arm()

    def _release(self, addr: Remote, verified: bool) -> None:
        """Send what was held for ``addr``: the answers once it is verified, else (no answer to the
        probe in time) a 4.01 with an Echo option (RFC 9175), which Echo-aware clients repeat."""
        held = self._held.pop(addr, [])
        self._held_count -= len(held)
        if self._transport is None:
            return
        echo = b"" if verified else encode_options([(N.ECHO, self.sources.echo(addr, self.loop.time()))])
        for h in held:
            if verified and h.answer is None:
                self._dispatch(h.request, addr, 0)
                continue
            if verified and h.answer is not None:
                data = self.layer.respond(h.request, addr, *h.answer)
            else:
                data = self.layer.respond(h.request, addr, N.UNAUTHORIZED, echo, b"")
            self._transport.sendto(data, addr)

    def _expire_held(self, now: float) -> None:
        order = self._held_order
        while order and order[0][0] <= now:
            _, addr = order.popleft()
            if addr in self._held:
                self._release(addr, self.sources.is_verified(addr, now))

    # timers and notifications -----------------------------------------------------------------

    def _flush(self) -> None:
        layer, now = self.layer, self.loop.time()
        if layer.events:
            events, layer.events = layer.events, []
            for fate, tag, remote in events:
                if fate is Fate.ACKED:
                    self.sources.refresh(remote, now)
                if not self.observations.on_fate(fate, tag, now):
                    log.debug("fate %s of an unknown message to %s", fate, remote)
            if self.sources.verified_now:  # an ACK verified an endpoint again: start what waits for it
                self._activate(now)
        if layer.outbox and self._transport is not None:
            outbox, layer.outbox = layer.outbox, []
            for data, remote in outbox:
                self._transport.sendto(data, remote)
        self._arm()

    def _arm(self) -> None:
        deadlines = [d for d in (self.layer.next_deadline(), self.observations.next_deadline(),
                                 self._held_order[0][0] if self._held_order else None) if d is not None]
        if not deadlines:
            return
        at = min(deadlines)
        if self._timer is not None:
            if self._timer_at <= at:
                return
            self._timer.cancel()
        self._timer, self._timer_at = self.loop.call_at(at, self._tick), at

    def _tick(self) -> None:
        self._timer = None
        # uvloop's timers have millisecond resolution and may fire a little before the deadline:
        # do the deadline's work then, rather than re-arming for a moment later again and again
        now = max(self.loop.time(), self._timer_at)
        self._expire_held(now)
        self.layer.poll(now)
        self._flush()
        dropped = self.observations.dropped
        self.observations.poll(now)
        self._flush()
        if self.observations.dropped != dropped:
            log.info("dropped %d unresponsive observer(s)", self.observations.dropped - dropped)

    def on_change(self, change: Change) -> None:
        """Change-hub watcher: notify the observers of this station's changes (never another station's,
        of this account or another), in seq order: the hub publishes in order, and the snapshot to
        render travels with the change (service.snapshots), so nothing is read here."""
        if not len(self.observations) or change.account_id != self._account \
                or not change.topic.startswith(self._topics):
            return
        try:
            event = self._paging.event_of(change, self._account, station=self._station)
            if event is not None:
                self.observations.notify(self.site.event_body(event), self.loop.time())
                self._flush()
        except Exception:
            log.exception("notifying change %d failed", change.seq)

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._timer is not None:
            self._timer.cancel()
        if self._transport is not None:
            self._transport.close()


class CoapServer:
    """The endpoint bound to a socket; ``start`` inside the running loop, ``stop`` to close."""

    def __init__(
        self, service: PagingService, host: str, port: int, account: str, allow: Iterable[str] = (), *,
        ping_interval: float = 30.0, max_observers: int = 4096, max_observers_per_host: int = 16,
        rate: float = 0.0, burst: float = 1.0, station: str = DEFAULT_STATION,
    ) -> None:
        """Serve ``station`` of ``account`` on ``host:port``."""
        self.service, self.host, self.port, self.account = service, host, port, account
        self.station = station
        self.rate, self.burst = rate, burst
        self.allow = Allow(tuple(allow) or LOOPBACK)
        self.ping_interval, self.max_observers = ping_interval, max_observers
        self.max_observers_per_host = max_observers_per_host
        self.endpoint: CoapEndpoint | None = None
        self.account_id = 0

    async def start(self) -> None:
        """Make sure the station exists, then bind. Raises OSError when the address is taken."""
        self.account_id = await self.service.open_station(self.account, station=self.station)
        loop = asyncio.get_running_loop()
        endpoint = CoapEndpoint(self.service, self.account_id, self.allow, ping_interval=self.ping_interval,
                                max_observers=self.max_observers,
                                max_observers_per_host=self.max_observers_per_host, rate=self.rate,
                                burst=self.burst, station=self.station)
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: endpoint, local_addr=(self.host, self.port))
        except BaseException:
            endpoint.close()
            raise
        sock = transport.get_extra_info("socket")
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):  # bursts: 1,000 observers ACK at once
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
        self.port = transport.get_extra_info("sockname")[1]
        self.endpoint = endpoint
        log.info("CoAP paging dialect on %s:%d (station %r of account %r)", self.host, self.port, self.station,
                 self.account)

    def on_change(self, change: Change) -> None:
        if self.endpoint is not None:
            self.endpoint.on_change(change)

    async def stop(self) -> None:
        if self.endpoint is not None:
            self.endpoint.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0)
            self.endpoint = None
