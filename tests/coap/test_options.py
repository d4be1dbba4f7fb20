"""Option handling over real UDP: unknown critical options are refused (RFC 7252 §5.4.1), elective
ones ignored; an IPv4 allow list works on a dual-stack ``[::]`` endpoint."""

from __future__ import annotations

import asyncio
import json
import socket

import aiocoap
import pytest

from sessionhub.coap import numbers as N
from sessionhub.coap.transport import CoapServer
from sessionhub.coap.wire import Message, decode, encode
from tests.coap.conftest import Coap, verify_endpoint


def _ask(sock: socket.socket, port: int, options: list[tuple[int, bytes]], mid: int) -> Message:
    sock.sendto(encode(Message(N.CON, N.GET, mid, b"o", [(N.URI_PATH, b"v1"), (N.URI_PATH, b"settings"),
                                                        *options])), ("127.0.0.1", port))
    while True:
        m = decode(sock.recv(4096))
        if m.token == b"o" and m.mid == mid:
            return m


@pytest.mark.parametrize("option", [N.IF_MATCH, N.IF_NONE_MATCH, N.BLOCK1, 35, 9, 2049])
async def test_an_unknown_critical_option_is_answered_4_02(coap: Coap, option: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        await asyncio.to_thread(verify_endpoint, sock, coap.server.port)
        sock.settimeout(5)
        m = await asyncio.to_thread(_ask, sock, coap.server.port, [(option, b"\x01")], 1)
        assert m.code == N.BAD_OPTION and json.loads(m.payload)["error"]["code"] == "bad_option"
        assert str(option) in json.loads(m.payload)["error"]["message"]
        m = await asyncio.to_thread(_ask, sock, coap.server.port, [(option + 1, b"\x01")], 2)  # elective: ignored
        assert m.code == N.CONTENT
        m = await asyncio.to_thread(_ask, sock, coap.server.port, [(N.URI_HOST, b"pager"), (N.ACCEPT, b"\x32")], 3)
        assert m.code == N.CONTENT  # critical options the server knows
    finally:
        sock.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_an_ipv4_allow_list_on_a_dual_stack_endpoint(coap: Coap) -> None:
    server = CoapServer(coap.runtime.paging, "::", 0, "dual", allow=["127.0.0.1/32"])
    await server.start()
    try:
        r = await coap.client.request(aiocoap.Message(
            code=aiocoap.GET, uri=f"coap://127.0.0.1:{server.port}/v1/settings")).response  # seen as ::ffff:127.0.0.1
        assert r.code == aiocoap.CONTENT and json.loads(r.payload)["responseTypes"] == ["settings"]
    finally:
        await server.stop()
