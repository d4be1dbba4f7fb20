"""Several stations in one server (``--coap ADDR=ACCOUNT``, repeatable): each address serves its own
station, with its own numbering, history, statistics, settings and notifications."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiocoap
import pytest

from sessionhub.config import Settings
from sessionhub.runtime import Runtime, build


@pytest.fixture
async def two(db_url: str) -> AsyncIterator[tuple[Runtime, aiocoap.Context]]:
    rt = build(Settings(db=db_url, coap=("127.0.0.1:0=north", "127.0.0.1:0=south"), coap_rate_per_host=0))
    await rt.store.apply_migrations()
    await rt.start()
    client = await aiocoap.Context.create_client_context()
    try:
        yield rt, client
    finally:
        await client.shutdown()
        await rt.stop()


async def test_each_address_serves_its_own_station(two: tuple[Runtime, aiocoap.Context]) -> None:
    rt, client = two
    north, south = (f"coap://127.0.0.1:{s.port}" for s in rt.coap_servers)
    assert [s.account for s in rt.coap_servers] == ["north", "south"]

    async def ask(base: str, method: aiocoap.Code, path: str, body: bytes = b"") -> dict[str, Any]:
        r = await client.request(aiocoap.Message(code=method, uri=base + path, payload=body)).response
        assert r.code.is_successful(), (base, path, r.code, r.payload)
        return json.loads(r.payload)  # type: ignore[no-any-return]

    n1 = await ask(north, aiocoap.POST, "/v1/sessions", b'{"number":5,"label":"north five"}')
    await ask(north, aiocoap.POST, "/v1/sessions", b'{"number":6}')
    s1 = await ask(south, aiocoap.POST, "/v1/sessions", b'{"number":5,"label":"south five"}')
    assert n1["sessions"][0]["id"] == 1 and s1["sessions"][0]["id"] == 1  # numbering per station
    assert s1["globalSessionSequence"] == 1
    north_all = await ask(north, aiocoap.GET, "/v1/sessions")
    south_all = await ask(south, aiocoap.GET, "/v1/sessions")
    assert [s["number"] for s in north_all["sessions"]] == [5, 6]
    assert [s["label"] for s in south_all["sessions"]] == ["south five"]
    await ask(south, aiocoap.PUT, "/v1/sessions?number=5", b'{"action":"clear"}')
    assert (await ask(north, aiocoap.GET, "/v1/sessions/history"))["session_history"] == []
    assert len((await ask(south, aiocoap.GET, "/v1/sessions/history"))["session_history"]) == 1
    await ask(north, aiocoap.POST, "/v1/settings", b'{"systemId":7}')
    assert (await ask(south, aiocoap.GET, "/v1/settings"))["settings"]["systemId"] == 0
    assert (await ask(north, aiocoap.GET, "/v1/sessions/statistics"))["statistics"]["numSessions"] == 2
    assert (await ask(south, aiocoap.GET, "/v1/sessions/statistics"))["statistics"]["numSessions"] == 1
