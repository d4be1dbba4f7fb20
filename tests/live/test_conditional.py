"""Conditional GETs and long-polls on every GET of both HTTP dialects, in process."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from sessionhub.runtime import Runtime
from tests.conftest import Keys
from tests.http.test_parking import BASE, OTHER, USER, q, start
from tests.http.test_timing import Rufus


@pytest.fixture
def rufus(client: httpx.AsyncClient, keys: Keys) -> Rufus:
    return Rufus(client, keys.rw)


@pytest.fixture
async def loc(runtime: Runtime, keys: Keys) -> int:
    return await runtime.parking.create_location("acme", "Lot A", 400, "USD", 15, 2000)


async def timing_world(rufus: Rufus) -> tuple[str, str]:
    deviceid = await rufus.bind()
    token = await rufus.open(deviceid)
    assert (await rufus.send(token, 1, 2, 3)).status_code == 201
    return deviceid, token


def timing_gets(deviceid: str, token: str) -> list[str]:
    return [
        "/v0/devices", f"/v0/devices/{deviceid}", f"/v0/sessions/device/{deviceid}",
        f"/v0/sessions/device/{deviceid}/active", f"/v0/sessions/{token}", f"/v0/passings/session/{token}",
        f"/v0/passings/device/{deviceid}", f"/v0/passings/device2/{deviceid}",
    ]


async def test_every_timing_get_has_an_etag_and_answers_304_until_it_changes(
    rufus: Rufus, client: httpx.AsyncClient, keys: Keys
) -> None:
    deviceid, token = await timing_world(rufus)
    tags = {}
    for path in timing_gets(deviceid, token):
        r = await client.get(path, headers={"api_key": keys.read})
        assert r.status_code == 200, (path, r.text)
        tag = r.headers["etag"]
        assert tag.startswith('"') and tag.endswith('"') and tag[1:-1].isdigit(), tag
        again = await client.get(path, headers={"api_key": keys.read, "if-none-match": tag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag, path
        star = await client.get(path, headers={"api_key": keys.read, "if-none-match": f'"1", W/{tag}'})
        assert star.status_code == 304, path
        stale = await client.get(path, headers={"api_key": keys.read, "if-none-match": '"0"'})
        assert stale.status_code == 200 and stale.content == r.content, path
        tags[path] = tag
    assert (await rufus.send(token, 4)).status_code == 201  # every one of them shows passings or counts
    for path, tag in tags.items():
        r = await client.get(path, headers={"api_key": keys.read, "if-none-match": tag})
        assert r.status_code == 200 and r.headers["etag"] != tag, path


async def test_a_list_changes_its_etag_when_an_item_is_deleted(
    rufus: Rufus, client: httpx.AsyncClient, keys: Keys
) -> None:
    await rufus.bind("A")
    other = await rufus.bind("B")
    tag = (await client.get("/v0/devices", headers={"api_key": keys.read})).headers["etag"]
    r = await client.delete(f"/v0/devices/{other}", headers={"api_key": keys.unbind})
    assert r.status_code == 200
    after = await client.get("/v0/devices", headers={"api_key": keys.read, "if-none-match": tag})
    assert after.status_code == 200 and len(after.json()["result"]) == 1 and after.headers["etag"] != tag


async def test_every_parking_get_has_an_etag_and_answers_304(
    client: httpx.AsyncClient, keys: Keys, loc: int
) -> None:
    s = await start(client, keys.rw, loc)
    paths: list[tuple[str, dict[str, str]]] = [
        (f"{BASE}/{loc}/session/{s['id']}", {}), (f"{BASE}/{loc}/session", {}), (f"{BASE}/session", {"user_id": USER}),
    ]
    for path, extra in paths:
        r = await client.get(path, params=q(keys.read) | extra)
        tag = r.headers["etag"]
        assert r.status_code == 200 and tag[1:-1].isdigit(), path
        again = await client.get(path, params=q(keys.read) | extra, headers={"if-none-match": tag})
        assert again.status_code == 304 and again.content == b"", path
    await client.put(f"{BASE}/{loc}/session/{s['id']}/end", params=q(keys.rw))
    for path, extra in paths:
        r = await client.get(path, params=q(keys.read) | extra, headers={"if-none-match": tag})
        assert r.status_code == 200 and "end_time" in r.text, path


async def test_a_rival_or_missing_key_never_gets_a_304(
    rufus: Rufus, client: httpx.AsyncClient, keys: Keys, loc: int
) -> None:
    deviceid, token = await timing_world(rufus)
    for path in timing_gets(deviceid, token):
        tag = (await client.get(path, headers={"api_key": keys.read})).headers["etag"]
        rival = await client.get(path, headers={"api_key": keys.rival, "if-none-match": tag})
        if path == "/v0/devices":  # the rival's own (empty) list, with its own version
            assert rival.status_code == 200 and rival.json()["result"] == [] and rival.headers["etag"] != tag
        else:
            assert rival.status_code == 404, path
            assert "etag" not in rival.headers
        assert (await client.get(path, headers={"if-none-match": tag})).status_code == 400  # no key: RUFUS's 400
        assert (await client.get(path, headers={"api_key": "nope", "if-none-match": tag})).status_code == 401
    s = await start(client, keys.rw, loc)
    path = f"{BASE}/{loc}/session/{s['id']}"
    tag = (await client.get(path, params=q(keys.read))).headers["etag"]
    r = await client.get(path, params=q(keys.rival), headers={"if-none-match": tag})
    assert r.status_code == 404 and "etag" not in r.headers
    assert (await client.get(path, headers={"if-none-match": "*"})).status_code == 401


@pytest.mark.parametrize("wait", ["0", "61", "-1", "1.5", "abc", ""])
async def test_bad_wait_is_a_400_in_each_dialects_shape(
    rufus: Rufus, client: httpx.AsyncClient, keys: Keys, loc: int, wait: str
) -> None:
    _, token = await timing_world(rufus)
    r = await client.get(f"/v0/sessions/{token}", params={"wait": wait}, headers={"api_key": keys.read})
    assert r.status_code == 400 and r.json()["field"] == "wait", r.text
    r = await client.get(f"{BASE}/{loc}/session", params=q(keys.read) | {"wait": wait})
    assert r.status_code == 400 and set(r.json()) == {"code", "message"} and "wait" in r.json()["message"]


async def test_long_poll_returns_the_new_body_when_the_resource_changes(
    client: httpx.AsyncClient, keys: Keys, loc: int
) -> None:
    s = await start(client, keys.rw, loc)
    path = f"{BASE}/{loc}/session/{s['id']}"
    tag = (await client.get(path, params=q(keys.read))).headers["etag"]

    async def end_later() -> None:
        await asyncio.sleep(0.3)
        await client.put(f"{path}/end", params=q(keys.rw))

    ender = asyncio.create_task(end_later())
    began = time.monotonic()
    r = await client.get(path, params=q(keys.read) | {"wait": "20"}, headers={"if-none-match": tag})
    took = time.monotonic() - began
    await ender
    assert r.status_code == 200 and "end_time" in r.json() and r.headers["etag"] != tag
    assert 0.25 <= took < 10


async def test_long_poll_times_out_with_a_304_and_ignores_other_objects(
    client: httpx.AsyncClient, keys: Keys, loc: int
) -> None:
    s = await start(client, keys.rw, loc)
    path = f"{BASE}/{loc}/session/{s['id']}"
    tag = (await client.get(path, params=q(keys.read))).headers["etag"]

    async def other_changes() -> None:
        await asyncio.sleep(0.2)
        await start(client, keys.rw, loc, user=OTHER)  # same location, another session

    other = asyncio.create_task(other_changes())
    began = time.monotonic()
    r = await client.get(path, params=q(keys.read) | {"wait": "1"}, headers={"if-none-match": tag})
    await other
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == tag
    assert time.monotonic() - began >= 0.95
    # a stale ETag with wait answers at once
    r = await client.get(path, params=q(keys.read) | {"wait": "30"}, headers={"if-none-match": '"1"'})
    assert r.status_code == 200


async def test_long_poll_on_a_list_wakes_on_a_new_item(client: httpx.AsyncClient, keys: Keys, loc: int) -> None:
    await start(client, keys.rw, loc)
    path = f"{BASE}/{loc}/session"
    tag = (await client.get(path, params=q(keys.read))).headers["etag"]
    poll = asyncio.create_task(client.get(path, params=q(keys.read) | {"wait": "20"}, headers={"if-none-match": tag}))
    await asyncio.sleep(0.2)
    assert not poll.done()
    await start(client, keys.rw, loc, user=OTHER)
    r: Any = await asyncio.wait_for(poll, 10)
    assert r.status_code == 200 and len(r.json()) == 2


async def test_a_304_of_a_heavy_list_reads_nothing_but_checks_everything(
    rufus: Rufus, client: httpx.AsyncClient, keys: Keys, runtime: Runtime, loc: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    deviceid, token = await timing_world(rufus)
    await start(client, keys.rw, loc)
    lists = [(f"/v0/passings/session/{token}", {"api_key": keys.read}, {}),
             (f"/v0/passings/device/{deviceid}", {"api_key": keys.read}, {}),
             (f"{BASE}/{loc}/session", {}, q(keys.read))]
    tags = [(await client.get(p, headers=h, params=qs)).headers["etag"] for p, h, qs in lists]

    async def no_reads(*args: object) -> None:
        raise AssertionError("a 304 read the list")

    monkeypatch.setattr(runtime.store.reads.timing, "passings_of_session", no_reads)
    monkeypatch.setattr(runtime.store.reads.timing, "passings_of_device", no_reads)
    monkeypatch.setattr(runtime.store.reads.parking, "sessions_of_location", no_reads)
    for (path, headers, params), tag in zip(lists, tags, strict=True):
        r = await client.get(path, headers=headers | {"if-none-match": tag}, params=params)
        assert r.status_code == 304, path
        bad = await client.get(path, headers=headers | {"if-none-match": tag}, params=params | {"page": "0"})
        if "parking" not in path:
            assert bad.status_code == 400, path
        rival = {"api_key": keys.rival} if headers else {}
        r = await client.get(path, headers=rival | {"if-none-match": tag}, params=q(keys.rival) if params else {})
        assert r.status_code == 404, path
    r = await client.get(f"{BASE}/{loc}/session", headers={"if-none-match": tags[2]}, params=q(keys.read) | {
        "limit": "0"})
    assert r.status_code == 400
