"""Server-Sent Events over a real socket: documents, resume with Last-Event-ID (every change exactly
once), JSON Patch mode, heartbeats, errors before the stream, and a clean end when the client leaves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sessionhub.http import sse
from tests.conftest import Keys
from tests.http.test_parking import BASE, OTHER, USER
from tests.live.conftest import EventReader, Live
from tests.live.test_jsonpatch_ref import apply

TS = "2023-02-03T16:08:18.263Z"


@pytest.fixture
async def keys(live: Live) -> Keys:
    make = live.runtime.access.create_key
    return Keys(rw=await make("acme", "READ_WRITE"), read=await make("acme", "READ"),
                write=await make("acme", "WRITE"), unbind=await make("acme", "READ_WRITE", True),
                rival=await make("rival", "READ_WRITE", True))


@pytest.fixture
async def loc(live: Live, keys: Keys) -> int:
    return await live.runtime.parking.create_location("acme", "Lot A", 400, "USD", 15, 2000)


@contextlib.asynccontextmanager
async def stream(live: Live, path: str, **kw: Any) -> AsyncIterator[EventReader]:
    async with live.http.stream("GET", path, **kw) as r:
        assert r.status_code == 200, await r.aread()
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-cache"
        yield EventReader(r)


async def coord(live: Live, method: str, path: str, key: str, body: Any = None) -> dict[str, Any]:
    r = await live.http.request(method, f"{BASE}{path}", params={"access_key": key}, json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def rufus(live: Live, method: str, path: str, key: str, body: Any = None) -> Any:
    r = await live.http.request(method, path, headers={"api_key": key}, json=body)
    assert r.status_code in (200, 201), r.text
    return r.json()


async def batch(live: Live, key: str, token: str, *nums: int) -> Any:
    return await rufus(live, "POST", "/v0/passings", key, {"token_session": token, "passings_list": [
        {"bib": str(n), "num_passing": n, "timestamp": TS} for n in nums]})


# parking ---------------------------------------------------------------------------------------

async def test_a_parking_session_streams_its_get_then_each_change(live: Live, keys: Keys, loc: int) -> None:
    s = await coord(live, "POST", f"/{loc}/session", keys.rw, {"user_id": USER})
    path = f"{BASE}/{loc}/session/{s['id']}"
    get = await live.http.get(path, params={"access_key": keys.read})
    async with stream(live, f"{path}/stream", params={"access_key": keys.read}) as events:
        first = await events.next()
        assert first.json() == get.json() and f'"{first.id}"' == get.headers["etag"] and first.event is None
        assert events.retry == 1000
        ended = await coord(live, "PUT", f"/{loc}/session/{s['id']}/end", keys.rw)
        second = await events.next()
        assert second.json() == ended and second.id is not None and first.id is not None and second.id > first.id
        assert f'"{second.id}"' == (await live.http.get(path, params={"access_key": keys.read})).headers["etag"]


async def test_resume_replays_states_the_rows_no_longer_show_exactly_once(live: Live, keys: Keys, loc: int) -> None:
    s = await coord(live, "POST", f"/{loc}/session", keys.rw, {"user_id": USER, "redemption": "barcode"})
    code = s["redemption_info"]["barcode"]
    path = f"{BASE}/{loc}/session/{s['id']}/stream"
    async with stream(live, path, params={"access_key": keys.read}) as events:
        seen = await events.next()
    assert "start_time" not in seen.json()
    # while the client is away the car enters and leaves: the row only shows "ended"
    entered = await coord(live, "POST", f"/{loc}/gate/scan", keys.rw, {"barcode": code, "direction": "entry"})
    left = await coord(live, "POST", f"/{loc}/gate/scan", keys.rw, {"barcode": code, "direction": "exit"})
    async with stream(live, path, params={"access_key": keys.read},
                      headers={"last-event-id": str(seen.id)}) as events:
        a, b = await events.take(2)
        assert [a.json(), b.json()] == [entered, left]
        assert "end_time" not in a.json() and "billing_info" in b.json()
        assert seen.id is not None and seen.id < a.id < b.id  # type: ignore[operator]
        with pytest.raises(TimeoutError):  # nothing repeated, nothing more
            await events.next(timeout=0.5)
    async with stream(live, path, params={"access_key": keys.read, "last_event_id": str(a.id)}) as events:
        assert (await events.next()).json() == left  # resuming in the middle
    async with stream(live, path, params={"access_key": keys.read}, headers={"last-event-id": str(b.id)}) as events:
        with pytest.raises(TimeoutError):
            await events.next(timeout=0.5)


async def test_a_location_streams_its_list_then_each_session_change(live: Live, keys: Keys, loc: int) -> None:
    first = await coord(live, "POST", f"/{loc}/session", keys.rw, {"user_id": USER})
    async with stream(live, f"{BASE}/{loc}/stream", params={"access_key": keys.read}) as events:
        listing = await events.next()
        assert listing.event == "sessions" and listing.json() == [first]
        second = await coord(live, "POST", f"/{loc}/session", keys.rw, {"user_id": OTHER})
        ended = await coord(live, "PUT", f"/{loc}/session/{first['id']}/end", keys.rw)
        a, b = await events.take(2)
        assert (a.event, a.json(), b.event, b.json()) == ("session", second, "session", ended)
    async with stream(live, f"{BASE}/{loc}/stream", params={"access_key": keys.read},
                      headers={"last-event-id": str(listing.id)}) as events:
        assert [e.json() for e in await events.take(2)] == [second, ended]


# timing ----------------------------------------------------------------------------------------

async def test_a_timing_session_streams_each_batch_and_resumes_exactly(live: Live, keys: Keys) -> None:
    deviceid = (await rufus(live, "POST", "/v0/devices", keys.rw, {"model": "X", "serial_number": "S"}))["deviceid"]
    token = (await rufus(live, "POST", "/v0/sessions", keys.rw, {"deviceid": deviceid}))["token_session"]
    path = f"/v0/sessions/{token}/stream"
    async with stream(live, path, params={"api_key": keys.read}) as events:  # the key as a query parameter
        first = await events.next()
        assert first.json()["result"][0]["passings"] == 0 and first.json()["passings"] == []
        await batch(live, keys.rw, token, 1, 2, 3)
        one = await events.next()
        assert [p["num_passing"] for p in one.json()["passings"]] == [1, 2, 3]
        assert one.json()["result"][0]["passings"] == 3
    await batch(live, keys.rw, token, 3, 4, 10)  # 3 is a repeat: not in this batch's passings
    await batch(live, keys.rw, token, 4)  # all repeats: no change at all
    await batch(live, keys.rw, token, 5, 6)
    await rufus(live, "PATCH", f"/v0/sessions/close/{token}", keys.rw)
    async with stream(live, path, headers={"x-api-key": keys.read, "last-event-id": str(one.id)}) as events:
        two, three, closed = await events.take(3)
        assert [p["num_passing"] for p in two.json()["passings"]] == [4, 10]
        assert two.json()["result"][0]["passings"] == 5 and two.json()["result"][0]["active"] is True
        assert [p["num_passing"] for p in three.json()["passings"]] == [5, 6]
        assert closed.json()["passings"] == [] and closed.json()["result"][0]["active"] is False
        with pytest.raises(TimeoutError):
            await events.next(timeout=0.5)
    # from the very start: every batch once
    async with stream(live, path, headers={"api_key": keys.read, "last-event-id": "0"}) as events:
        replay = await events.take(5)
    assert [[p["num_passing"] for p in e.json()["passings"]] for e in replay] == [[], [1, 2, 3], [4, 10], [5, 6], []]


async def test_device2_stream_follows_the_device_into_its_next_session(live: Live, keys: Keys) -> None:
    deviceid = (await rufus(live, "POST", "/v0/devices", keys.rw, {"model": "X", "serial_number": "S"}))["deviceid"]
    t1 = (await rufus(live, "POST", "/v0/sessions", keys.rw, {"deviceid": deviceid, "alias": "one"}))["token_session"]
    await batch(live, keys.rw, t1, 1, 2)
    path = f"/v0/passings/device2/{deviceid}/stream"
    async with stream(live, path, headers={"api_key": keys.read}) as events:
        start = await events.next()
        poll = await live.http.get(f"/v0/passings/device2/{deviceid}", headers={"api_key": keys.read})
        assert start.json() == poll.json()  # device2's own answer first
        await batch(live, keys.rw, t1, 3)
        more = await events.next()
        assert (more.json()["session_used"], [p["num_passing"] for p in more.json()["passings"]]) == (t1, [3])
    t2 = (await rufus(live, "POST", "/v0/sessions", keys.rw, {"deviceid": deviceid, "alias": "two"}))["token_session"]
    await batch(live, keys.rw, t2, 1)
    async with stream(live, path, headers={"api_key": keys.read, "last-event-id": str(more.id)}) as events:
        opened, first = await events.take(2)
        assert (opened.json()["session_used"], opened.json()["session_label"], opened.json()["passings"]) == (
            t2, "two", [])
        assert first.json()["session_used"] == t2 and [p["num_passing"] for p in first.json()["passings"]] == [1]
    # from a cursor, as GET device2 takes it
    cursor = {"token_session": t1, "last": "2"}
    async with stream(live, path, headers={"api_key": keys.read}, params=cursor) as events:
        start = await events.next()
        poll = await live.http.get(f"/v0/passings/device2/{deviceid}", headers={"api_key": keys.read}, params=cursor)
        assert start.json() == poll.json() and [p["num_passing"] for p in start.json()["passings"]] == [3]
        r = await live.http.delete(f"/v0/devices/{deviceid}", headers={"api_key": keys.unbind})
        assert r.status_code == 200
        gone = await events.next()
        assert gone.event == "deleted"
        with pytest.raises(EOFError):
            await events.next()


# JSON Patch --------------------------------------------------------------------------------------

async def test_patches_replay_to_the_same_document_as_a_full_get(live: Live, keys: Keys, loc: int) -> None:
    s = await coord(live, "POST", f"/{loc}/session", keys.rw, {"user_id": USER, "redemption": "barcode"})
    code = s["redemption_info"]["barcode"]
    one = f"{BASE}/{loc}/session/{s['id']}"
    async with stream(live, f"{one}/stream", params={"access_key": keys.read, "patch": "1"}) as single, \
            stream(live, f"{BASE}/{loc}/stream", params={"access_key": keys.read, "patch": "1"}) as listing:
        first, first_list = await single.next(), await listing.next()
        assert (first.event, first_list.event) == ("data", "data")
        doc, docs = first.json(), first_list.json()
        steps = [("POST", f"/{loc}/gate/scan", {"barcode": code, "direction": "entry"}),
                 ("POST", f"/{loc}/session", {"user_id": OTHER}),
                 ("POST", f"/{loc}/gate/scan", {"barcode": code, "direction": "exit"})]
        for n, (method, path, body) in enumerate(steps):
            await coord(live, method, path, keys.rw, body)
            if n != 1:  # the other user's session is not this one
                e = await single.next()
                assert e.event == "patch" and isinstance(e.json(), list)
                doc = apply(doc, e.json())
                assert doc == (await live.http.get(one, params={"access_key": keys.read})).json()
            e = await listing.next()
            assert e.event == "patch"
            docs = apply(docs, e.json())
            assert docs == (await live.http.get(f"{BASE}/{loc}/session", params={"access_key": keys.read})).json()
    # resuming a single-object patch stream continues from the client's document
    async with stream(live, f"{one}/stream", params={"access_key": keys.read, "patch": "1"},
                      headers={"last-event-id": str(first.id)}) as single:
        replayed = first.json()
        for e in await single.take(2):
            assert e.event == "patch"
            replayed = apply(replayed, e.json())
    assert replayed == doc


async def test_timing_patches_replay_to_the_get_and_the_batch(live: Live, keys: Keys) -> None:
    deviceid = (await rufus(live, "POST", "/v0/devices", keys.rw, {"model": "X", "serial_number": "S"}))["deviceid"]
    token = (await rufus(live, "POST", "/v0/sessions", keys.rw, {"deviceid": deviceid}))["token_session"]
    async with stream(live, f"/v0/sessions/{token}/stream", params={"api_key": keys.read, "patch": "1"}) as events:
        doc = (await events.next()).json()
        for nums in ((1, 2), (3,), (7, 8, 9)):
            await batch(live, keys.rw, token, *nums)
            doc = apply(doc, (await events.next()).json())
            get = (await live.http.get(f"/v0/sessions/{token}", headers={"api_key": keys.read})).json()
            assert doc["result"] == get["result"]
            page = (await live.http.get(f"/v0/passings/session/{token}", headers={"api_key": keys.read},
                                        params={"first": nums[0], "last": nums[-1]})).json()["result"]
            assert doc["passings"] == page


# the stream's life -------------------------------------------------------------------------------

async def test_heartbeats_keep_an_idle_stream_alive(live: Live, keys: Keys, loc: int,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "HEARTBEAT_S", 0.2)
    s = await coord(live, "POST", f"/{loc}/session", keys.rw, {"user_id": USER})
    async with stream(live, f"{BASE}/{loc}/session/{s['id']}/stream", params={"access_key": keys.read}) as events:
        await events.next()
        with pytest.raises(TimeoutError):
            await events.next(timeout=0.9)
        assert events.comments >= 3


async def test_a_client_that_leaves_ends_its_stream_and_tasks(live: Live, keys: Keys, loc: int) -> None:
    s = await coord(live, "POST", f"/{loc}/session", keys.rw, {"user_id": USER})
    hub = live.runtime.hub
    await asyncio.sleep(0.1)
    tasks_before = len(asyncio.all_tasks())
    for _ in range(3):
        async with httpx.AsyncClient(base_url=live.base_url) as other:  # its own connection, closed after
            async with other.stream("GET", f"{BASE}/{loc}/session/{s['id']}/stream",
                                    params={"access_key": keys.read}) as r:
                await EventReader(r).next()
                assert hub.subscriber_count >= 1
    for _ in range(100):
        if hub.subscriber_count == 0 and len(asyncio.all_tasks()) <= tasks_before:
            break
        await asyncio.sleep(0.05)
    assert hub.subscriber_count == 0
    assert len(asyncio.all_tasks()) <= tasks_before, asyncio.all_tasks()


async def test_a_long_poll_whose_client_leaves_ends_at_once(live: Live, keys: Keys, loc: int) -> None:
    s = await coord(live, "POST", f"/{loc}/session", keys.rw, {"user_id": USER})
    path = f"{BASE}/{loc}/session/{s['id']}"
    tag = (await live.http.get(path, params={"access_key": keys.read})).headers["etag"]
    async with httpx.AsyncClient(base_url=live.base_url) as other:
        poll = asyncio.create_task(other.get(path, params={"access_key": keys.read, "wait": "60"},
                                             headers={"if-none-match": tag}))
        for _ in range(100):
            if live.runtime.hub.subscriber_count:
                break
            await asyncio.sleep(0.02)
        assert live.runtime.hub.subscriber_count == 1
        poll.cancel()
    for _ in range(100):
        if live.runtime.hub.subscriber_count == 0:
            break
        await asyncio.sleep(0.05)
    assert live.runtime.hub.subscriber_count == 0


async def test_errors_come_before_the_stream_in_the_dialects_shape(live: Live, keys: Keys, loc: int) -> None:
    s = await coord(live, "POST", f"/{loc}/session", keys.rw, {"user_id": USER})
    path = f"{BASE}/{loc}/session/{s['id']}/stream"
    cases = [
        (path, {"access_key": keys.rival}, {}, 404),
        (path, {}, {}, 401),
        (path, {"access_key": "nope"}, {}, 401),
        (path, {"access_key": keys.read}, {"last-event-id": "abc"}, 400),
        (path, {"access_key": keys.read, "patch": "yes"}, {}, 400),
        (f"{BASE}/{loc}/session/abc/stream", {"access_key": keys.read}, {}, 400),
        (f"{BASE}/{loc + 1}/stream", {"access_key": keys.read}, {}, 404),
        (f"{BASE}/{loc}/stream", {"access_key": keys.rival}, {}, 404),
    ]
    for url, params, headers, status in cases:
        r = await live.http.get(url, params=params, headers=headers)
        assert r.status_code == status and set(r.json()) == {"code", "message"}, (url, r.text)
    token = "A" * 64
    for url, headers, status in [
        (f"/v0/sessions/{token}/stream", {"api_key": keys.read}, 404),
        ("/v0/sessions/xyz/stream", {"api_key": keys.read}, 400),
        (f"/v0/sessions/{token}/stream", {}, 400),
        (f"/v0/sessions/{token}/stream", {"api_key": "nope"}, 401),
        (f"/v0/passings/device2/{token}/stream", {"api_key": keys.read}, 404),
        (f"/v0/passings/device2/{token}/stream", {"api_key": keys.read, "last-event-id": "-1"}, 400),
    ]:
        r = await live.http.get(url, headers=headers)
        assert r.status_code == status and "description" in r.json(), (url, r.text)
    assert live.runtime.hub.subscriber_count == 0


# paging ----------------------------------------------------------------------------------------

async def test_the_paging_station_streams_its_sessions_with_keys_for_browsers(live: Live, keys: Keys) -> None:
    from sessionhub.core.paging import Action, Fields

    paging = live.runtime.paging
    acme = await live.runtime.store.reads.accounts.account_id("acme")
    assert acme is not None
    await paging.open_session(acme, 7, Fields(label="Smith"), None, None)
    async with stream(live, "/v1/paging/stream", params={"access_key": keys.read, "patch": "1"}) as patched, \
            stream(live, "/v1/paging/stream", headers={"api_key": keys.read}) as plain:
        first, listing = await patched.next(), await plain.next()
        assert listing.event == "sessions" and [s["number"] for s in listing.json()] == [7]
        assert listing.json()[0]["label"] == "Smith" and first.json() == listing.json()
        doc = first.json()
        await paging.open_session(acme, 9, Fields(party_size=4), None, None)
        await paging.update_session(acme, 7, Fields(), Action.PAGE, None)
        await paging.update_session(acme, 9, Fields(), Action.CLEAR, None)
        events = await plain.take(3)
        assert [(e.event, e.json()["number"], e.json()["state"]) for e in events] == [
            ("session", 9, "started"), ("session", 7, "paged"), ("session", 9, "cleared")]
        assert events[2].json()["clearType"] == "STOP"
        for _ in range(3):
            doc = apply(doc, (await patched.next()).json())
        current = [s.number for s in (await paging.active_sessions(acme)).sessions]
        assert [s["number"] for s in doc] == current == [7] and doc[0]["state"] == "paged"
    async with stream(live, "/v1/paging/stream", params={"api_key": keys.read},
                      headers={"last-event-id": str(listing.id)}) as resumed:
        assert [e.json()["number"] for e in await resumed.take(3)] == [9, 7, 9]
    async with stream(live, "/v1/paging/stream", params={"access_key": keys.rival}) as rival:
        assert (await rival.next()).json() == []  # the rival's own (empty) station: nothing of acme's
    for params, status in (({}, 401), ({"access_key": "nope"}, 401), ({"access_key": keys.write}, 403),
                           ({"access_key": keys.read, "patch": "2"}, 400)):
        r = await live.http.get("/v1/paging/stream", params=params)
        assert r.status_code == status and set(r.json()) == {"error"}, r.text


async def test_the_paging_stream_follows_one_station_of_the_account(live: Live, keys: Keys) -> None:
    from sessionhub.core.paging import Action, Fields

    paging = live.runtime.paging
    acme = await live.runtime.store.reads.accounts.account_id("acme")
    assert acme is not None
    await paging.open_session(acme, 7, Fields(label="default seven"), None, None)
    await paging.open_session(acme, 7, Fields(label="north seven"), None, None, station="north")
    async with stream(live, "/v1/paging/stream", params={"access_key": keys.read, "station": "north"}) as north, \
            stream(live, "/v1/paging/stream", params={"access_key": keys.read}) as default:
        assert [s["label"] for s in (await north.next()).json()] == ["north seven"]
        assert [s["label"] for s in (await default.next()).json()] == ["default seven"]
        await paging.update_session(acme, 7, Fields(), Action.PAGE, None)  # the default station's
        await paging.open_session(acme, 8, Fields(label="north eight"), None, None, station="north")
        north_event, default_event = await north.next(), await default.next()
        assert (north_event.event, north_event.json()["label"]) == ("session", "north eight")
        assert (default_event.event, default_event.json()["state"]) == ("session", "paged")
    async with stream(live, "/v1/paging/stream", params={"access_key": keys.read, "station": "north"},
                      headers={"last-event-id": "0"}) as resumed:  # a replay holds north's changes only
        assert [e.json()["label"] for e in await resumed.take(2)] == ["north seven", "north eight"]
    for bad in ("North", "a/b", "x" * 33):
        r = await live.http.get("/v1/paging/stream", params={"access_key": keys.read, "station": bad})
        assert r.status_code == 400 and set(r.json()) == {"error"}, r.text
