"""The guard's repeated-poll path, in process: a read that is byte for byte the last one the lane
answered alone is answered again without feeding the parser, with the lane asked every time (so its
checks are made every time); anything else is parsed as usual."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.types import Scope
from uvicorn.config import Config
from uvicorn.server import ServerState

from sessionhub.http.guard import ConnectionGuard, ConnectionLimits, guarded_protocol

GET = b"GET /poll HTTP/1.1\r\nHost: x\r\napi_key: k\r\n\r\n"


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("10.0.0.1", 4000), "sockname": ("127.0.0.1", 80)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.out.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class Front:
    """A lane that answers ``/poll`` (``answering``) and records the scopes it was offered."""

    def __init__(self) -> None:
        self.answering = True
        self.asked: list[Scope] = []

    def answer_now(self, scope: Scope) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        self.asked.append(scope)
        scope["counted"] = True  # as the rate limiter marks a request it has counted
        if not self.answering or scope["path"] != "/poll":
            return None
        return 200, [(b"content-length", b"2")], b"ok"


class CountingParser:
    def __init__(self, parser: Any) -> None:
        self.parser, self.fed = parser, 0

    def feed_data(self, data: bytes) -> None:
        self.fed += 1
        self.parser.feed_data(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.parser, name)


SEEN: list[Scope] = []


async def _asgi(scope: Scope, receive: Any, send: Any) -> None:
    SEEN.append(scope)
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


def _connection(front: Front) -> tuple[Any, Transport, CountingParser]:
    config = Config(app=_asgi, loop="asyncio", log_level="warning")
    config.load()
    protocol_class = guarded_protocol(ConnectionGuard(ConnectionLimits()), front)
    protocol: Any = protocol_class(config=config, server_state=ServerState(), app_state={})
    transport = Transport()
    protocol.connection_made(transport)
    parser = CountingParser(protocol.parser)
    protocol.parser = parser
    return protocol, transport, parser


@pytest.mark.asyncio
async def test_a_repeated_poll_is_answered_unparsed_and_the_lane_is_asked_every_time() -> None:
    front = Front()
    protocol, transport, parser = _connection(front)
    for _ in range(5):
        protocol.data_received(GET)
    assert parser.fed == 1  # parsed once; the four repeats were not
    assert len(front.asked) == 5 and all(s["path"] == "/poll" for s in front.asked)
    assert len(transport.out) == 5 and all(out.endswith(b"\r\n\r\nok") for out in transport.out)
    assert protocol.server_state.total_requests == 5
    front.answering = False  # e.g. the key was revoked: the repeat goes the usual way and is parsed
    sent = len(transport.out)
    SEEN.clear()
    protocol.data_received(GET)
    await asyncio.sleep(0.05)
    assert parser.fed == 2 and b"".join(transport.out[sent:]).startswith(b"HTTP/1.1 404 ")
    # the lane was asked once for it, and what it noted went with the parsed request to the app
    assert len(front.asked) == 6 and len(SEEN) == 1 and SEEN[0]["counted"] is True
    front.answering = True
    protocol.data_received(GET)  # answered by the ASGI app last time: parsed, then kept again
    protocol.data_received(GET)
    assert parser.fed == 3 and transport.out[-1].endswith(b"ok")
    protocol.connection_lost(None)


@pytest.mark.asyncio
async def test_pipelined_split_and_closing_requests_are_never_answered_unparsed() -> None:
    front = Front()
    protocol, transport, parser = _connection(front)
    protocol.data_received(GET * 2)  # two requests in one read: not kept
    protocol.data_received(GET * 2)
    protocol.data_received(GET[:10])  # one request over two reads: not kept
    protocol.data_received(GET[10:])
    protocol.data_received(GET[:10])
    protocol.data_received(GET[10:])
    assert parser.fed == 6 and len(front.asked) == 6 and len(transport.out) == 6
    close = GET.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n")
    protocol.data_received(close)
    assert transport.closed and parser.fed == 7
    protocol.connection_lost(None)
