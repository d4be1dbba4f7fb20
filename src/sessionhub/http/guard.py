"""Connection hygiene in front of uvicorn's HTTP protocol: read timeouts and connection caps.

uvicorn closes a keep-alive connection that stays idle *after* a response, but a connection that
never finishes its first request's headers (slowloris), or that opens and sends nothing, is
never closed, and nothing caps how many are open: ~20,000 of them used up the process's file
descriptors and every new client was refused by the kernel (EMFILE) while they stayed
(issue 9 #1). ``guarded_protocol(guard)`` is uvicorn's own ``HttpToolsProtocol`` plus:

- **Read deadlines.** A request's headers must arrive within ``header_timeout`` seconds of the
  connection opening or of the request's first byte; its body within ``body_timeout`` seconds of the
  headers. A connection that misses one is answered 408 (when nothing was answered yet) and closed.
  Time spent with reading paused by flow control (the app has not taken the body yet) never counts.
  All deadlines share one timer (http/deadlines.py: a deadline fires up to 0.25 s late).
  A request whose body is complete (a stream, a long-poll) has no deadline: streams are capped by
  count instead (http/streamlane.py).
- **Caps.** At most ``max_connections`` open connections in all, and ``max_per_address`` from one
  client address. A connection over a cap is accepted, answered at once (429 over the address cap,
  503 over the total cap, both with ``Retry-After``) and closed, so the server never runs into its
  descriptor limit: the total cap sits ``fd_reserve`` descriptors below it (``connection_cap``), which
  keeps room for the database, the log and the refusals themselves.
- Each bite is logged, at most once per 10 s per kind (``ThrottledLog``).
- **A lane at the protocol.** With a ``front`` (the app's ``RateLimit``), a GET without a body is
  first offered to ``front.answer_now(scope)``: the fast lane's answer from kept renders, rate
  limits checked, when it needs no wait (http/fastpath.py). It is then written straight to the
  socket, with uvicorn's default headers and keep-alive rules, and no ASGI task, request cycle or
  message is made: that is how a polled GET gets past a raw ASGI function on the same uvicorn
  (docs/http.md has the figures). Anything else goes to the ASGI app as usual.
- **A poll repeated.** A poller sends the same bytes again and again on its connection. When a read
  held exactly one whole GET and the lane answered it, the connection keeps those bytes and their
  scope; the next read that is byte for byte the same is offered to the lane with that scope without
  being parsed again (no parser callbacks, no scope, no request cycle). Every check the lane makes is
  made again (rate limits, the key, the version) on a fresh copy of that scope; if the lane does not
  answer, the bytes are parsed as usual and what the lane noted on its copy (the rate limiter's
  mark that it counted the request) goes with the parsed request, so nothing is counted twice.

The decision to guard uvicorn rather than switch servers was measured (docs/http.md).
"""

from __future__ import annotations

import asyncio
import logging
import resource
from dataclasses import dataclass
from typing import Any, Protocol, cast, runtime_checkable

import msgspec
from starlette.types import Scope
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
from uvicorn.protocols.utils import is_ssl

from sessionhub.http.deadlines import Deadlines
from sessionhub.http.streamlane import CYCLE
from sessionhub.http.throttled_log import ThrottledLog

log = logging.getLogger("sessionhub.http")


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    max_connections: int = 10_000
    max_per_address: int = 2048
    retry_after_s: int = 5
    max_lingering: int = 256
    """Refused connections kept open for a moment so that their answer arrives (half the fd reserve)."""


def connection_cap(configured: int, fd_reserve: int) -> int:
    """The total connection cap: ``configured`` (0: no figure of its own), never above the process's
    file-descriptor limit minus ``fd_reserve``."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = max(1, soft - fd_reserve) if soft != resource.RLIM_INFINITY else 1 << 20
    return ceiling if configured <= 0 else min(configured, ceiling)


def _refusal(status: int, reason: bytes, code: str, message: str, retry_after: int) -> bytes:
    body = msgspec.json.encode({"error": {"code": code, "message": message}})
    return b"".join([
        b"HTTP/1.1 %d %s\r\n" % (status, reason), b"content-type: application/json\r\n",
        b"content-length: %d\r\n" % len(body), b"retry-after: %d\r\n" % retry_after,
        b"connection: close\r\n\r\n", body,
    ])


LINGER_S = 0.5
_TIMEOUT_408 = _refusal(408, b"Request Timeout", "request_timeout", "the request did not arrive in time", 0)


def _address_pair(info: Any) -> tuple[str, int] | None:
    """(host, port) of a transport's ``peername``/``sockname`` (uvicorn's form; None for a Unix socket)."""
    if isinstance(info, tuple | list) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


class ConnectionGuard:
    """Counts open connections, in all and per client address, and decides who is let in."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.open = 0
        self.per_address: dict[str, int] = {}
        self.refused = 0
        self.lingering = 0
        self.timed_out = 0
        self.deadlines = Deadlines()
        self.notes = ThrottledLog(log)
        retry = limits.retry_after_s
        self._busy = _refusal(503, b"Service Unavailable", "too_many_connections",
                              "the server holds as many connections as it takes; retry later", retry)
        self._crowded = _refusal(429, b"Too Many Requests", "too_many_connections",
                                 "too many connections from this address; retry later", retry)

    def admit(self, address: str) -> bytes | None:
        """Count a new connection from ``address`` in and return None, or return the refusal to send
        (the connection is then not counted)."""
        held = self.per_address.get(address, 0)
        if self.open >= self.limits.max_connections:
            self.refused += 1
            self.notes.note("total", "connection refused (503): %d connections open, the cap", self.open)
            return self._busy
        if held >= self.limits.max_per_address:
            self.refused += 1
            self.notes.note("address", "connection refused (429): %s holds %d connections, the per-address cap",
                            address, held)
            return self._crowded
        self.open += 1
        self.per_address[address] = held + 1
        return None

    def refuse(self, transport: asyncio.Transport, refusal: bytes) -> None:
        """Send ``refusal`` then FIN, and close once the request has been read (or after ``LINGER_S``):
        closing at once, with the request still unread in the kernel's buffer, would reset the
        connection and lose the answer. At most ``limits.max_lingering`` refused connections linger
        (they hold a reserved descriptor each)."""
        transport.write(refusal)
        if self.lingering >= self.limits.max_lingering or not transport.can_write_eof():
            transport.close()
            return
        self.lingering += 1
        transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER_S, self._end_linger, transport)

    def _end_linger(self, transport: asyncio.Transport) -> None:
        self.lingering -= 1
        if not transport.is_closing():
            transport.close()

    def release(self, address: str) -> None:
        self.open -= 1
        held = self.per_address[address] - 1
        if held:
            self.per_address[address] = held
        else:
            del self.per_address[address]


@runtime_checkable
class Front(Protocol):
    """An app with a protocol-level lane: the whole answer to a GET now, or None (the ASGI way)."""

    def answer_now(self, scope: Scope) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None: ...


def guarded_protocol(guard: ConnectionGuard, front: Front | None = None, *,
                     direct_streams: bool = True) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with ``guard``'s deadlines and caps (pass as ``Config(http=...)``),
    and ``front``'s protocol-level lane. ``direct_streams``: with a ``front``, streams may write their
    frames straight to the connection (off where something around the app counts each body's bytes)."""
    limits = guard.limits
    answer_now = front.answer_now if front is not None else None
    direct = answer_now is not None and direct_streams

    class GuardedProtocol(HttpToolsProtocol):
        _address: str | None = None  # set once admitted (counted in the guard)
        _armed = False  # a read deadline is set (in guard.deadlines)
        _reading = True  # between a request's first byte (or the connection's start) and its end
        _headers_done = False
        _again: tuple[bytes, Scope] | None = None  # a poll's bytes and scope (as parsed), to answer again unparsed
        _began = 0  # requests begun in the current read
        _answered: Scope | None = None  # the scope (as parsed) the lane answered in the current read
        _carry: Scope | None = None  # what the lane noted on a repeat it did not answer, for its parsed self

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            peer = transport.get_extra_info("peername")
            address = str(peer[0]) if isinstance(peer, tuple | list) and peer else ""
            refusal = guard.admit(address)
            if refusal is not None:  # refused before uvicorn's own setup: a refusal costs as little as it can
                self.transport = transport
                guard.refuse(transport, refusal)
                return
            # uvicorn's own connection_made but for the addresses, taken from what the transport keeps
            # (uvicorn builds a socket object per connection for them: ~10 µs of a connection storm)
            self.connections.add(self)
            self.transport = transport
            self.flow = FlowControl(transport)
            self.server = _address_pair(transport.get_extra_info("sockname"))
            self.client = _address_pair(peer)
            self.scheme = "https" if is_ssl(transport) else "http"
            self._address = address
            self._arm(limits.header_timeout)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._address is not None:
                guard.release(self._address)
                self._address = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._address is None:  # refused: its request is read (so closing resets nothing); close
                self.transport.close()
                return
            again = self._again
            if again is not None and data == again[0] and self._answer_again(again[1]):
                return
            self._began, self._answered = 0, None
            super().data_received(data)
            # exactly one whole request in this read, answered by the lane, the connection kept open
            self._again = (data, self._answered) if (
                self._answered is not None and self._began == 1 and not self._reading) else None
            if self._reading:
                if not self._armed:
                    self._arm(limits.body_timeout if self._headers_done else limits.header_timeout)
            elif self._armed:
                self._disarm()

        def on_message_begin(self) -> None:
            self._reading, self._headers_done = True, False
            self._began += 1
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._headers_done = True
            self._disarm()  # the body's deadline (if a body follows) is armed after this read
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._reading = False
            super().on_message_complete()

        def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
            scope = cast(Scope, cycle.scope)
            carry = self._carry
            if carry is not None:  # a repeat the lane was offered unparsed and did not answer: not again
                self._carry = None
                for name, value in carry.items():
                    scope.setdefault(name, value)
            elif answer_now is not None and scope["method"] == "GET" and app is self.app and not _has_body(scope):
                parsed = dict(scope)
                answer = self._lane(scope)
                if answer is not None:
                    if cycle.keep_alive:
                        self._answered = parsed
                    self._write_now(cycle, *answer)
                    return
            if direct and scope["method"] == "GET" and scope["path"].endswith("/stream"):
                # the stream lane may write its frames directly (http/streamlane.py): only where the
                # protocol lane is on and nothing around the app must see each body
                scope[CYCLE] = cycle
            super()._start_asgi_task(cycle, app)

        def _lane(self, scope: Scope) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
            assert answer_now is not None
            try:
                return answer_now(scope)
            except Exception as exc:  # never let the lane cost a request: the ASGI app answers
                guard.notes.note("lane", "protocol lane fell through on GET %s: %r", scope["path"], exc)
                return None

        def _answer_again(self, parsed: Scope) -> bool:
            """Answer a repeated poll (``parsed``: its first time's scope) on the lane, if it answers now;
            else keep what the lane noted on the copy it was offered for the request's parsed scope."""
            cycle = self.cycle
            if self.pipeline or self.flow.read_paused or (cycle is not None and not cycle.response_complete):
                return False
            scope = dict(parsed)
            answer = self._lane(scope)
            if answer is None:
                self._carry = {name: value for name, value in scope.items() if name not in parsed}
                return False
            self._unset_keepalive_if_required()
            self.transport.write(self._response(*answer, keep_alive=True))
            self.on_response_complete()
            return True

        def _write_now(self, cycle: RequestResponseCycle, status: int, headers: list[tuple[bytes, bytes]],
                       body: bytes) -> None:
            """What uvicorn's cycle writes for this answer, without the cycle's task."""
            self.transport.write(self._response(status, headers, body, keep_alive=cycle.keep_alive))
            cycle.response_started = cycle.response_complete = True
            cycle.message_event.set()
            if not cycle.keep_alive:
                self.transport.close()
            cycle.on_response()

        def _response(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes, *,
                      keep_alive: bool) -> bytes:
            """The bytes uvicorn's cycle would write for this answer (its default headers included)."""
            content = [STATUS_LINE[status]]
            for name, value in self.server_state.default_headers:
                content += [name, b": ", value, b"\r\n"]
            for name, value in headers:
                content += [name, b": ", value, b"\r\n"]
            if not keep_alive:
                content.append(b"connection: close\r\n")
            content += [b"\r\n", body]
            return b"".join(content)

        def _arm(self, seconds: float) -> None:
            self._armed = True
            guard.deadlines.arm(self, seconds)

        def _disarm(self) -> None:
            if self._armed:
                self._armed = False
                guard.deadlines.disarm(self)

        def expired(self) -> None:
            self._armed = False
            if self.transport.is_closing() or not self._reading:
                return
            if self.flow.read_paused:  # the app holds back the body: not the client's fault
                self._arm(limits.body_timeout)
                return
            guard.timed_out += 1
            what = "body" if self._headers_done else "headers"
            guard.notes.note(f"timeout-{what}", "connection from %s closed: its request %s did not arrive in time",
                             self._address, what)
            if not self._headers_done and (self.cycle is None or self.cycle.response_complete):
                self.transport.write(_TIMEOUT_408)
            self.transport.close()

    return GuardedProtocol

