"""Per-host rate limit on the CoAP endpoint over real UDP: over its bucket a host gets one 4.29 Too
Many Requests with Max-Age (RFC 8516), then silence until Max-Age passes; other hosts are served."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from sessionhub.coap import numbers as N
from sessionhub.coap.transport import CoapServer
from sessionhub.coap.wire import Message, decode, encode
from tests.coap.conftest import Coap, verify_endpoint


def _burst(sock: socket.socket, port: int, count: int) -> list[Message]:
    for mid in range(count):
        sock.sendto(encode(Message(N.CON, N.GET, 1000 + mid, b"r", [(N.URI_PATH, b"v1"), (N.URI_PATH, b"settings")])),
                    ("127.0.0.1", port))
    sock.settimeout(1.0)
    got = []
    try:
        while True:
            got.append(decode(sock.recv(4096)))
    except TimeoutError:
        return got


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_host_over_its_rate_gets_one_4_29_then_silence(coap: Coap) -> None:
    server = CoapServer(coap.runtime.paging, "0.0.0.0", 0, "limited", rate=2.0, burst=6.0)
    await server.start()
    a, b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b.bind(("127.0.0.2", 0))
    try:
        await asyncio.to_thread(verify_endpoint, a, server.port)  # one request of its 6
        got = await asyncio.to_thread(_burst, a, server.port, 30)
        codes = [m.code for m in got]
        assert codes.count(N.CONTENT) == 5 and codes.count(N.TOO_MANY_REQUESTS) == 1 and len(codes) == 6, codes
        limited = next(m for m in got if m.code == N.TOO_MANY_REQUESTS)
        assert limited.option(N.MAX_AGE) is not None and json.loads(limited.payload)["error"]["code"] == "rate_limited"
        await asyncio.to_thread(verify_endpoint, b, server.port)  # another host: its own bucket
        assert [m.code for m in await asyncio.to_thread(_burst, b, server.port, 3)] == [N.CONTENT] * 3
    finally:
        a.close()
        b.close()
        await server.stop()
