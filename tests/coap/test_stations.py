"""Several stations in one server (``--coap ADDR=ACCOUNT[/STATION]``, repeatable): each address serves
its own station, in one account or in several, with its own numbering, history, statistics, settings
and notifications. Real sockets; aiocoap's client and libcoap's ``coap-client``."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import AsyncIterator
from typing import Any

import aiocoap
import pytest

from sessionhub.config import Settings
from sessionhub.core.paging import DEFAULT_STATION
from sessionhub.runtime import Runtime, build
from tests.coap.conftest import coap_client_binary

Served = tuple[Runtime, aiocoap.Context]


async def _serve(db_url: str, *coap: str) -> tuple[Runtime, aiocoap.Context]:
    rt = build(Settings(db=db_url, coap=coap, coap_rate_per_host=0))
    await rt.store.apply_migrations()
    await rt.start()
    return rt, await aiocoap.Context.create_client_context()


@pytest.fixture
async def two(db_url: str) -> AsyncIterator[Served]:
    rt, client = await _serve(db_url, "127.0.0.1:0=north", "127.0.0.1:0=south")
    try:
        yield rt, client
    finally:
        await client.shutdown()
        await rt.stop()


@pytest.fixture
async def group(db_url: str) -> AsyncIterator[Served]:
    """A restaurant group's two sites in one account, and another account's (default) station."""
    rt, client = await _serve(db_url, "127.0.0.1:0=bistro/north", "127.0.0.1:0=bistro/south", "127.0.0.1:0=cafe")
    try:
        yield rt, client
    finally:
        await client.shutdown()
        await rt.stop()


def _bases(rt: Runtime) -> list[str]:
    return [f"coap://127.0.0.1:{s.port}" for s in rt.coap_servers]


async def _ask(client: aiocoap.Context, base: str, method: aiocoap.Code, path: str, body: bytes = b"") -> Any:
    r = await client.request(aiocoap.Message(code=method, uri=base + path, payload=body)).response
    assert r.code.is_successful(), (base, path, r.code, r.payload)
    return json.loads(r.payload)


async def test_each_address_serves_its_own_account(two: Served) -> None:
    rt, client = two
    north, south = _bases(rt)
    assert [(s.account, s.station) for s in rt.coap_servers] == [("north", DEFAULT_STATION), ("south", DEFAULT_STATION)]
    n1 = await _ask(client, north, aiocoap.POST, "/v1/sessions", b'{"number":5,"label":"north five"}')
    await _ask(client, north, aiocoap.POST, "/v1/sessions", b'{"number":6}')
    s1 = await _ask(client, south, aiocoap.POST, "/v1/sessions", b'{"number":5,"label":"south five"}')
    assert n1["sessions"][0]["id"] == 1 and s1["sessions"][0]["id"] == 1  # numbering per station
    assert s1["globalSessionSequence"] == 1
    assert [s["label"] for s in (await _ask(client, south, aiocoap.GET, "/v1/sessions"))["sessions"]] == ["south five"]


async def test_stations_of_one_account_and_of_another_share_nothing(group: Served) -> None:
    rt, client = group
    north, south, cafe = _bases(rt)
    assert [(s.account, s.station) for s in rt.coap_servers] == [
        ("bistro", "north"), ("bistro", "south"), ("cafe", DEFAULT_STATION)]
    assert rt.coap_servers[0].account_id == rt.coap_servers[1].account_id != rt.coap_servers[2].account_id

    n1 = await _ask(client, north, aiocoap.POST, "/v1/sessions", b'{"number":5,"label":"north five"}')
    await _ask(client, north, aiocoap.POST, "/v1/sessions", b'{"number":6}')
    s1 = await _ask(client, south, aiocoap.POST, "/v1/sessions", b'{"number":5,"label":"south five"}')
    c1 = await _ask(client, cafe, aiocoap.POST, "/v1/sessions", b'{"number":5}')
    # numbering: each station counts its own ids and globalSessionSequence
    assert [x["sessions"][0]["id"] for x in (n1, s1, c1)] == [1, 1, 1]
    assert [x["globalSessionSequence"] for x in (n1, s1, c1)] == [1, 1, 1]
    assert (await _ask(client, north, aiocoap.GET, "/v1/sessions"))["globalSessionSequence"] == 2
    # the active list: pager 5 is active on all three, each with its own session
    assert [s["number"] for s in (await _ask(client, north, aiocoap.GET, "/v1/sessions"))["sessions"]] == [5, 6]
    one = await _ask(client, south, aiocoap.GET, "/v1/sessions?number=5")
    assert one["sessions"][0]["label"] == "south five"
    # history
    await _ask(client, south, aiocoap.PUT, "/v1/sessions?number=5", b'{"action":"clear"}')
    assert (await _ask(client, north, aiocoap.GET, "/v1/sessions/history"))["session_history"] == []
    assert len((await _ask(client, south, aiocoap.GET, "/v1/sessions/history"))["session_history"]) == 1
    await _ask(client, north, aiocoap.PUT, "/v1/sessions?number=6", b'{"action":"remove"}')
    await _ask(client, south, aiocoap.DELETE, "/v1/sessions/history")
    assert len((await _ask(client, north, aiocoap.GET, "/v1/sessions/history"))["session_history"]) == 1
    # statistics (a page counts a guest served) and their reset
    await _ask(client, north, aiocoap.PUT, "/v1/sessions?number=5", b'{"action":"page"}')
    stats = [(await _ask(client, b, aiocoap.GET, "/v1/sessions/statistics"))["statistics"]
             for b in (north, south, cafe)]
    assert [(s["numSessions"], s["guestsServed"]) for s in stats] == [(2, 1), (1, 0), (1, 0)]
    await _ask(client, north, aiocoap.DELETE, "/v1/sessions/statistics")
    assert (await _ask(client, north, aiocoap.GET, "/v1/sessions/statistics"))["statistics"]["numSessions"] == 0
    assert (await _ask(client, south, aiocoap.GET, "/v1/sessions/statistics"))["statistics"]["numSessions"] == 1
    # settings
    await _ask(client, north, aiocoap.POST, "/v1/settings", b'{"systemId":7,"defaultTargetGoal":120}')
    settings = [(await _ask(client, b, aiocoap.GET, "/v1/settings"))["settings"] for b in (north, south, cafe)]
    assert [(s["systemId"], s["defaultTargetGoal"]) for s in settings] == [(7, 120), (0, 300), (0, 300)]
    # remove-all on one station leaves the other's active list alone
    await _ask(client, south, aiocoap.POST, "/v1/sessions", b'{"number":9}')
    await _ask(client, north, aiocoap.DELETE, "/v1/sessions")
    assert (await _ask(client, north, aiocoap.GET, "/v1/sessions"))["sessions"] == []
    assert [s["number"] for s in (await _ask(client, south, aiocoap.GET, "/v1/sessions"))["sessions"]] == [9]
    assert [s.name for s in await rt.paging.stations("bistro")] == ["north", "south"]


async def test_an_observer_of_one_station_never_sees_another_stations_change(group: Served) -> None:
    rt, client = group
    north, south, cafe = _bases(rt)
    req = client.request(aiocoap.Message(code=aiocoap.GET, uri=north + "/v1/notify", observe=0))
    first = await req.response
    assert first.opt.observe is not None
    seen: asyncio.Queue[aiocoap.Message] = asyncio.Queue()
    with warnings.catch_warnings():  # deprecated in favour of the lossy iterator; still the lossless way
        warnings.simplefilter("ignore", DeprecationWarning)
        req.observation.register_callback(seen.put_nowait)
    # other stations' changes of every kind: sessions, settings, statistics, history, a page
    for base in (south, cafe):
        await _ask(client, base, aiocoap.POST, "/v1/sessions", b'{"number":11}')
        await _ask(client, base, aiocoap.PUT, "/v1/sessions?number=11", b'{"action":"page"}')
        await _ask(client, base, aiocoap.POST, "/v1/settings", b'{"systemId":3}')
        await _ask(client, base, aiocoap.DELETE, "/v1/sessions/statistics")
        await _ask(client, base, aiocoap.POST, "/v1/page", b'{"number":4}')
    # then one of its own: the first notification it gets must be that one
    await _ask(client, north, aiocoap.POST, "/v1/sessions", b'{"number":12,"label":"mine"}')
    note = json.loads((await asyncio.wait_for(seen.get(), 5)).payload)
    assert note["sessions"][0]["label"] == "mine" and note["globalSessionSequence"] == 1
    await asyncio.sleep(0.3)
    assert seen.empty()  # nothing else came
    req.observation.cancel()


BINARY = coap_client_binary()


async def _coap_client(*args: str) -> str:
    assert BINARY is not None
    proc = await asyncio.create_subprocess_exec(BINARY, "-B", "5", *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 15)
    return out.decode()


@pytest.mark.system
@pytest.mark.skipif(BINARY is None, reason="libcoap's coap-client is not installed")
async def test_two_stations_of_one_account_through_coap_client(group: Served) -> None:
    rt, _ = group
    north, south, _cafe = _bases(rt)

    async def post(base: str, body: str) -> Any:
        return json.loads(await _coap_client("-m", "post", "-t", "json", "-e", body, base + "/v1/sessions"))

    assert (await post(north, '{"number":23,"label":"n"}'))["sessions"][0]["id"] == 1
    assert (await post(north, '{"number":24}'))["sessions"][0]["id"] == 2
    assert (await post(south, '{"number":23,"label":"s"}'))["sessions"][0]["id"] == 1
    south_all = json.loads(await _coap_client("-m", "get", south + "/v1/sessions"))
    assert [(s["number"], s["label"]) for s in south_all["sessions"]] == [(23, "s")]
    await _coap_client("-m", "post", "-t", "json", "-e", '{"systemId":9}', south + "/v1/settings")
    assert json.loads(await _coap_client("-m", "get", north + "/v1/settings"))["settings"]["systemId"] == 0
    assert json.loads(await _coap_client("-m", "get", south + "/v1/settings"))["settings"]["systemId"] == 9

    # Observe through coap-client on south: north's change is not notified, south's is
    assert BINARY is not None
    proc = await asyncio.create_subprocess_exec(BINARY, "-s", "3", "-m", "get", south + "/v1/notify",
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    endpoint = rt.coap_servers[1].endpoint
    assert endpoint is not None
    for _ in range(200):  # until it is registered and its endpoint verified
        if endpoint.observations.active:
            break
        await asyncio.sleep(0.05)
    await post(north, '{"number":77,"label":"not yours"}')
    await post(south, '{"number":78,"label":"yours"}')
    out, _ = await asyncio.wait_for(proc.communicate(), 15)
    labels = {s.get("label") for doc in _documents(out.decode()) for s in doc.get("sessions", ())}
    assert labels == {"yours"}  # (coap-client may print a notification twice: a set)


def _documents(text: str) -> list[Any]:
    """The JSON documents coap-client printed back to back (it adds no separator)."""
    decoder, out, pos = json.JSONDecoder(), [], 0
    while (start := text.find("{", pos)) != -1:
        doc, pos = decoder.raw_decode(text, start)
        out.append(doc)
    return out
