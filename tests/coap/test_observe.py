"""Observe on /v1/notify over a real socket: aiocoap's client, and a raw socket that never ACKs."""

from __future__ import annotations

import asyncio
import json
import socket
import warnings
from collections.abc import AsyncIterator
from typing import Any

import aiocoap
import pytest

from sessionhub.coap import numbers as N
from sessionhub.coap.transport import CoapServer
from sessionhub.coap.wire import Message, decode, encode
from sessionhub.config import Settings
from sessionhub.runtime import build
from tests.coap.conftest import Coap, verify_endpoint


class Notifications:
    """Every notification of an aiocoap observation, in order (its own iterator is lossy by design)."""

    def __init__(self, req: Any) -> None:
        self.queue: asyncio.Queue[aiocoap.Message] = asyncio.Queue()
        with warnings.catch_warnings():  # deprecated in favour of the lossy iterator; still the lossless way
            warnings.simplefilter("ignore", DeprecationWarning)
            req.observation.register_callback(self.queue.put_nowait)

    async def next(self, timeout: float = 5.0) -> Any:
        return json.loads((await asyncio.wait_for(self.queue.get(), timeout)).payload)


async def test_notifications_follow_every_session_and_settings_change(coap: Coap) -> None:
    await coap.request(aiocoap.POST, "/v1/sessions", b'{"number":7}')
    req = coap.client.request(aiocoap.Message(code=aiocoap.GET, uri=coap.uri + "/v1/notify?action=get_sessions",
                                              observe=0))
    first = await req.response
    b = json.loads(first.payload)
    assert first.opt.observe is not None and b["responseTypes"] == ["sessions", "statistics"]
    assert [s["number"] for s in b["sessions"]] == [7]
    it = Notifications(req)
    await coap.request(aiocoap.POST, "/v1/sessions", b'{"number":83}')
    n = await it.next()
    assert n["responseTypes"] == ["sessions", "statistics"] and n["globalSessionSequence"] == 2
    assert n["sessions"][0]["number"] == 83 and n["sessions"][0]["sessionSequence"] == 2
    assert n["statistics"]["numSessions"] == 2
    await coap.request(aiocoap.PUT, "/v1/sessions?number=83", b'{"action":"page"}')
    await coap.request(aiocoap.PUT, "/v1/sessions?number=83", b'{"action":"clear"}')
    paged, cleared = await it.next(), await it.next()
    assert paged["sessions"][0]["state"] == "paged" and paged["globalSessionSequence"] == 3
    assert cleared["sessions"][0]["state"] == "cleared" and "cleared" in cleared["sessions"][0]
    await coap.request(aiocoap.POST, "/v1/settings", b'{"systemId":5}')
    s = await it.next()
    assert s["responseTypes"] == ["settings"] and s["settings"]["systemId"] == 5
    assert s["globalSessionSequence"] == 4  # settings do not count
    req.observation.cancel()


async def test_registration_without_action_answers_a_ping(coap: Coap) -> None:
    req = coap.client.request(aiocoap.Message(code=aiocoap.GET, uri=coap.uri + "/v1/notify", observe=0))
    first = await req.response
    assert json.loads(first.payload)["responseTypes"] == ["ping"] and first.opt.observe is not None
    assert len(coap.server.endpoint.observations) == 1  # type: ignore[union-attr]
    req.observation.cancel()
    plain = await coap.request(aiocoap.GET, "/v1/notify")
    assert plain.opt.observe is None and json.loads(plain.payload)["responseTypes"] == ["ping"]


@pytest.fixture
async def pinging(db_url: str) -> AsyncIterator[Coap]:
    rt = build(Settings(db=db_url))
    await rt.store.apply_migrations()
    await rt.start()
    server = CoapServer(rt.paging, "127.0.0.1", 0, "demo", ping_interval=0.3)
    await server.start()
    rt.hub.watch(server.on_change)
    client = await aiocoap.Context.create_client_context()
    try:
        yield Coap(rt, server, client)
    finally:
        await client.shutdown()
        await server.stop()
        await rt.stop()


async def test_pings_reach_a_live_client_and_a_silent_one_is_dropped(pinging: Coap) -> None:
    req = pinging.client.request(aiocoap.Message(code=aiocoap.GET, uri=pinging.uri + "/v1/notify", observe=0))
    await req.response
    it = Notifications(req)
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await asyncio.to_thread(verify_endpoint, silent, pinging.server.port)  # verified, then silent
    silent.setblocking(False)
    try:
        silent.sendto(encode(Message(N.CON, N.GET, 1, b"s", [(N.OBSERVE, b""), (N.URI_PATH, b"v1"),
                                                               (N.URI_PATH, b"notify")])), ("127.0.0.1",
                                                                                             pinging.server.port))
        observations = pinging.server.endpoint.observations  # type: ignore[union-attr]
        await asyncio.sleep(0.2)
        assert len(observations) == 2
        pings = [await it.next() for _ in range(4)]
        assert all(p["responseTypes"] == ["ping"] and "globalSessionSequence" in p for p in pings)
        for _ in range(100):  # three missed pings take ~1 s; bounded for a loaded machine
            if len(observations) == 1:
                break
            await asyncio.sleep(0.05)
        assert len(observations) == 1 and observations.dropped == 1  # the silent one, after 3 pings
        got = []
        while True:
            try:
                got.append(decode(silent.recv(2048)))
            except BlockingIOError:
                break
        assert got[0].mtype == N.ACK and sum(m.mtype == N.CON for m in got) == 3
    finally:
        silent.close()
        req.observation.cancel()
