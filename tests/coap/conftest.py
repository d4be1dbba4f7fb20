"""CoAP fixtures: a runtime serving the paging dialect on a free UDP port, in this process (real
socket, same loop as the test), an aiocoap client, and paths to the third-party clients."""

from __future__ import annotations

import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiocoap
import pytest

from sessionhub.coap import numbers as N
from sessionhub.coap.transport import CoapServer
from sessionhub.coap.wire import Message, decode, encode
from sessionhub.config import Settings
from sessionhub.runtime import Runtime, build


@dataclass
class Coap:
    runtime: Runtime
    server: CoapServer
    client: aiocoap.Context

    @property
    def uri(self) -> str:
        return f"coap://127.0.0.1:{self.server.port}"

    async def request(self, method: aiocoap.Code, path: str, payload: bytes = b"", **options: object
                      ) -> aiocoap.Message:
        """One request through aiocoap's client; returns its response."""
        msg = aiocoap.Message(code=method, uri=self.uri + path, payload=payload, **options)
        return await self.client.request(msg).response


@pytest.fixture
async def coap(db_url: str) -> AsyncIterator[Coap]:
    # no rate limit here: fuzz and floods send thousands of datagrams (test_ratelimit covers the limit)
    rt = build(Settings(db=db_url, coap=("127.0.0.1:0",), coap_rate_per_host=0))
    await rt.store.apply_migrations()
    await rt.start()
    assert rt.coap is not None
    client = await aiocoap.Context.create_client_context()
    try:
        yield Coap(rt, rt.coap, client)
    finally:
        await client.shutdown()
        await rt.stop()


def coap_client_binary() -> str | None:
    """libcoap's client: Debian installs it as coap-client-{notls,gnutls,openssl}."""
    for name in ("coap-client", "coap-client-notls", "coap-client-gnutls", "coap-client-openssl"):
        found = shutil.which(name)
        if found:
            return found
    return None


def verify_endpoint(sock: socket.socket, port: int, timeout: float = 5.0) -> None:
    """Prove to the endpoint on ``port`` that ``sock`` receives at its address: ask for something
    large, answer the probe (an empty CON) with RST, and read the answer (``coap.sources``)."""
    request = encode(Message(N.CON, N.GET, 0x7E57, b"v", [(N.URI_PATH, b"v1"), (N.URI_PATH, b"settings")]))
    blocking = sock.getblocking()
    sock.settimeout(timeout)
    try:
        sock.sendto(request, ("127.0.0.1", port))
        while True:
            m = decode(sock.recv(65536))
            if m.mtype == N.CON and m.code == N.EMPTY:
                sock.sendto(bytes((0x70, 0, m.mid >> 8, m.mid & 0xFF)), ("127.0.0.1", port))
            elif m.token == b"v":
                assert m.code == N.CONTENT, m
                return
    finally:
        sock.setblocking(blocking)
