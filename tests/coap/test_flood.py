"""A CoAP write flood does not queue ahead of other tenants' writes: at most a few of one station's
writes wait at the store's single writer (``service.fairness``), the excess is refused with 5.03
and Max-Age. Structural, not timed: it counts the flood's commits that landed between the start and
the commit of another account's write made in the middle of the flood."""

from __future__ import annotations

import asyncio
import socket

import aiocoap

from sessionhub.coap import numbers as N
from sessionhub.coap.wire import Message, decode, encode
from tests.coap.conftest import Coap, verify_endpoint

SOCKETS, EACH = 10, 40


async def test_a_put_flood_cannot_queue_ahead_of_another_tenants_write(coap: Coap) -> None:
    r = await coap.request(aiocoap.POST, "/v1/sessions", b'{"number":1}')
    assert r.code == aiocoap.CREATED
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(SOCKETS)]
    target = ("127.0.0.1", coap.server.port)
    try:
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
            await asyncio.to_thread(verify_endpoint, s, coap.server.port)
            s.setblocking(False)
        for n in range(EACH):
            for i, s in enumerate(socks):
                label = f'{{"label":"flood {i} {n}"}}'.encode()
                s.sendto(encode(Message(N.CON, N.PUT, n * SOCKETS + i, b"f", [
                    (N.URI_PATH, b"v1"), (N.URI_PATH, b"sessions"), (N.URI_QUERY, b"number=1")], label)), target)
        await asyncio.sleep(0.05)  # the flood is being read and queued
        before = await coap.runtime.store.last_seq()
        await coap.runtime.access.create_key("other-tenant", "READ_WRITE")  # another tenant's write
        await asyncio.sleep(2.0)
        codes: dict[int, int] = {}
        max_age = set()
        for s in socks:
            while True:
                try:
                    m = decode(s.recv(65536))
                except BlockingIOError:
                    break
                codes[m.code] = codes.get(m.code, 0) + 1
                if m.code == N.SERVICE_UNAVAILABLE:
                    max_age.add(m.option(N.MAX_AGE))
        changes = await coap.runtime.store.changes_after(before, 10_000)
    finally:
        for s in socks:
            s.close()
    topics = [c.topic for c in changes]
    other = next(n for n, t in enumerate(topics) if not t.startswith("paging/"))
    ahead = topics[:other]
    assert len(ahead) <= 4, (len(ahead), codes)  # without the gate: the backlog queued by then (hundreds)
    assert codes.get(N.CHANGED, 0) > 0 and codes.get(N.SERVICE_UNAVAILABLE, 0) > 0, codes
    assert max_age == {b"\x01"}  # 5.03 says when to retry (RFC 7252 §5.9.3.4)
