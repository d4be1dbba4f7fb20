"""The CoAP endpoint: the only code that owns the UDP socket and the timers.

It drives the sans-I/O layers with the loop's monotonic clock: each datagram goes through the
allow list, the message layer, the site; answers go out at once (piggybacked) or when the
handler's coroutine finishes. One timer, armed at the earliest deadline of the message layer
(retransmissions) and the observers (pings), polls both. Committed paging changes arrive from
the change hub (``on_change``); one worker renders each from its snapshot and notifies the
observers, in seq order.

Error boundary: a core error becomes its code from ``coap.errors`` with the JSON error payload;
anything else is logged with its traceback and answered 5.00 with a generic message.
Log policy: datagrams from outside the allow list are dropped at DEBUG; observers dropped for
not answering at INFO.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
from collections.abc import Awaitable, Iterable
from typing import Any, cast

from sessionhub.coap import lrs
from sessionhub.coap import numbers as N
from sessionhub.coap.errors import coap_code
from sessionhub.coap.messages import MessageLayer, Remote
from sessionhub.coap.observe import Observations
from sessionhub.coap.site import JSON_OPTIONS, PagingSite, Request, Response
from sessionhub.coap.wire import Message, encode_options, to_uint, uint
from sessionhub.core.changes import Change
from sessionhub.core.errors import InvalidInput, SessionhubError, StoreUnavailable
from sessionhub.service.paging import PagingService

log = logging.getLogger("sessionhub.coap")

BLOCK_SZX = 6
"""Responses over 1024 bytes go out in Block2 blocks of 1024 (RFC 7959)."""
MAX_PENDING = 1000
"""Requests being processed at once; beyond it the answer is 5.03 (the store is the bottleneck)."""
SOCKET_BUFFER = 4 << 20
"""Socket buffers asked for (the kernel caps them at net.core.rmem_max / wmem_max)."""
LOOPBACK = ("127.0.0.0/8", "::1/128", "::ffff:127.0.0.0/104")

_JSON_OPTIONS_BYTES = encode_options(JSON_OPTIONS)


class Allow:
    """Which client addresses may talk to the endpoint (decisions cached per address)."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        self.networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        self._seen: dict[str, bool] = {}

    def __call__(self, host: str) -> bool:
        ok = self._seen.get(host)
        if ok is None:
            try:
                address = ipaddress.ip_address(host)
                ok = any(address in n for n in self.networks)
            except ValueError:
                ok = False
            if len(self._seen) >= 4096:
                self._seen.clear()
            self._seen[host] = ok
        return ok


class CoapEndpoint(asyncio.DatagramProtocol):
    def __init__(
        self, service: PagingService, account_id: int, allow: Allow, *, ping_interval: float = 30.0,
        max_observers: int = 4096,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.layer = MessageLayer(random.random, random.randrange(1 << 16))
        self.observations = Observations(self.layer, self._ping_body, ping_interval=ping_interval,
                                         max_observers=max_observers)
        self.site = PagingSite(service, account_id, self.observations, self.loop.time)
        self._paging, self._account, self._allow = service, account_id, allow
        self._transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.Handle | None = None
        self._timer_at = 0.0
        """The deadline ``_timer`` was armed for (uvloop's handle for a deadline under 0.5 ms away is a
        plain ``Handle`` without ``when()``, so the endpoint keeps the deadline itself)."""
        self._changes: asyncio.Queue[int] = asyncio.Queue()
        self._worker = self.loop.create_task(self._notify_changes(), name="coap-notify")

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
        layer = self.layer
        message = layer.receive(data, addr, self.loop.time())
        if layer.outbox or layer.events:
            self._flush()
        if message is None:
            return
        try:
            result = self.site.handle(Request(message, addr))
        except Exception as exc:
            result = self._failure(exc, message)
        if isinstance(result, Response):
            self._reply(message, addr, result)
        elif len(self._tasks) >= MAX_PENDING:
            result.close()  # type: ignore[attr-defined]
            self._reply(message, addr, self._failure(StoreUnavailable("too many requests in progress"), message))
        else:
            task = self.loop.create_task(self._finish(message, addr, result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _finish(self, message: Message, addr: Remote, pending: Awaitable[Response]) -> None:
        try:
            response = await pending
        except Exception as exc:
            response = self._failure(exc, message)
        self._reply(message, addr, response)
        self._flush()

    def _failure(self, exc: Exception, message: Message) -> Response:
        if not isinstance(exc, SessionhubError):
            log.error("unexpected error answering %r", message, exc_info=exc)
            exc = SessionhubError("internal error")
        return Response(coap_code(exc), lrs.error_body(exc))

    def _reply(self, request: Message, addr: Remote, response: Response) -> None:
        payload, options = response.payload, response.options
        block2 = request.option(N.BLOCK2)
        if block2 is not None or len(payload) > 16 << BLOCK_SZX:
            try:
                payload, options = _block(payload, options, block2)
            except SessionhubError as exc:
                response = self._failure(exc, request)
                payload, options = response.payload, response.options
        encoded = _JSON_OPTIONS_BYTES if options is JSON_OPTIONS else encode_options(options)
        data = self.layer.respond(request, addr, response.code, encoded, payload)
        if self._transport is not None:
            self._transport.sendto(data, addr)
        self._arm()

    # timers and notifications -----------------------------------------------------------------

    def _flush(self) -> None:
        layer, now = self.layer, self.loop.time()
        if layer.events:
            events, layer.events = layer.events, []
            for fate, tag, remote in events:
                if not self.observations.on_fate(fate, tag, now):
                    log.debug("fate %s of an unknown message to %s", fate, remote)
        if layer.outbox and self._transport is not None:
            outbox, layer.outbox = layer.outbox, []
            for data, remote in outbox:
                self._transport.sendto(data, remote)
        self._arm()

    def _arm(self) -> None:
        deadlines = [d for d in (self.layer.next_deadline(), self.observations.next_deadline()) if d is not None]
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
        self.layer.poll(now)
        self._flush()
        dropped = self.observations.dropped
        self.observations.poll(now)
        self._flush()
        if self.observations.dropped != dropped:
            log.info("dropped %d unresponsive observer(s)", self.observations.dropped - dropped)

    def on_change(self, change: Change) -> None:
        """Change-hub watcher: queue this station's changes for notification."""
        if change.account_id == self._account and change.topic.startswith("paging/"):
            self._changes.put_nowait(change.seq)

    async def _notify_changes(self) -> None:
        while True:
            seq = await self._changes.get()
            try:
                event = await self._paging.snapshot(self._account, seq)
                if event is not None and len(self.observations):
                    self.observations.notify(self.site.event_body(event), self.loop.time())
                    self._flush()
            except Exception:
                log.exception("notifying change %d failed", seq)

    def close(self) -> None:
        self._worker.cancel()
        for task in self._tasks:
            task.cancel()
        if self._timer is not None:
            self._timer.cancel()
        if self._transport is not None:
            self._transport.close()


def _block(payload: bytes, options: list[tuple[int, bytes]], requested: bytes | None
           ) -> tuple[bytes, list[tuple[int, bytes]]]:
    """The requested Block2 block of ``payload`` (block 0 of 1024 bytes by default)."""
    num, szx = 0, BLOCK_SZX
    if requested is not None:
        value = to_uint(requested)
        num, szx = value >> 4, value & 7
        if szx == 7:
            raise InvalidInput("Block2 size exponent 7 is reserved")
        szx = min(szx, BLOCK_SZX)
    size = 16 << szx
    start = num * size
    if start and start >= len(payload):
        raise InvalidInput("Block2 asks for a block past the end")
    more = start + size < len(payload)
    extra = [(N.BLOCK2, uint(num << 4 | more << 3 | szx))]
    if num == 0:
        extra.append((N.SIZE2, uint(len(payload))))
    return payload[start:start + size], [*options, *extra]


class CoapServer:
    """The endpoint bound to a socket; ``start`` inside the running loop, ``stop`` to close."""

    def __init__(
        self, service: PagingService, host: str, port: int, account: str, allow: Iterable[str] = (), *,
        ping_interval: float = 30.0, max_observers: int = 4096,
    ) -> None:
        self.service, self.host, self.port, self.account = service, host, port, account
        self.allow = Allow(tuple(allow) or LOOPBACK)
        self.ping_interval, self.max_observers = ping_interval, max_observers
        self.endpoint: CoapEndpoint | None = None
        self.account_id = 0

    async def start(self) -> None:
        """Make sure the station exists, then bind. Raises OSError when the address is taken."""
        self.account_id = await self.service.open_station(self.account)
        loop = asyncio.get_running_loop()
        endpoint = CoapEndpoint(self.service, self.account_id, self.allow, ping_interval=self.ping_interval,
                                max_observers=self.max_observers)
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
        log.info("CoAP paging dialect on %s:%d (station of account %r)", self.host, self.port, self.account)

    def on_change(self, change: Change) -> None:
        if self.endpoint is not None:
            self.endpoint.on_change(change)

    async def stop(self) -> None:
        if self.endpoint is not None:
            self.endpoint.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0)
            self.endpoint = None
