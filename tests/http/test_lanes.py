"""The lanes and the full stack answer alike (issue 10), and one change renders a page once however
many long-polls wait on it (issue 9 #3). In-process, on both stores.

The fast lane's routes are found in the route table (every cached conditional GET); this test runs
EVERY one of them through the whole app (fast lane first) and through the stack behind the lanes,
for a 200, a 304, and the 4xx a client can provoke, and compares status, body, ETag and type."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sessionhub.config import Settings
from sessionhub.http import create_app
from sessionhub.http.fastpath import FastLane
from sessionhub.http.metrics import Metrics
from sessionhub.http.ratelimit import RateLimit
from sessionhub.runtime import Runtime, build
from tests.conftest import Keys

USER = "00000000-0000-4000-8000-000000000001"
HEX = "AB" * 32


class Both:
    """The whole app (fast lane first) and the stack behind the fast lane, on one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        app = create_app(runtime, lifespan=False)
        assert isinstance(app, Metrics) and isinstance(app.app, RateLimit) and isinstance(app.app.app, FastLane)
        self.lane: FastLane = app.app.app
        self.whole = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        self.full = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.lane.app), base_url="http://t")


@pytest.fixture
async def runtime(db_url: str) -> AsyncIterator[Runtime]:
    """The rate limits off: the test plays many clients (and many 401s) from one address."""
    rt = build(Settings(db=db_url, rate_per_key=0, rate_per_address=0, rate_auth_failures=0))
    await rt.store.apply_migrations()
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


@pytest.fixture
async def both(runtime: Runtime) -> AsyncIterator[Both]:
    b = Both(runtime)
    async with b.whole, b.full:
        yield b


async def seed(c: httpx.AsyncClient, runtime: Runtime, keys: Keys) -> dict[str, str]:
    """One of everything a fast route names; the values of its path parameters."""
    h = {"api_key": keys.rw}
    deviceid = (await c.post("/v0/devices", headers=h, json={"model": "X", "serial_number": "S-1"})).json()["deviceid"]
    token = (await c.post("/v0/sessions", headers=h, json={"deviceid": deviceid})).json()["token_session"]
    r = await c.post("/v0/passings", headers=h, json={"token_session": token, "passings_list": [
        {"bib": str(n), "num_passing": n, "timestamp": "2023-02-03T16:08:18.263Z"} for n in range(1, 4)]})
    assert r.status_code == 201
    loc = await runtime.parking.create_location("acme", "Garage", 350, "USD", 15, None)
    s = (await c.post(f"/v1/access/parking/{loc}/session", params={"access_key": keys.rw},
                      json={"user_id": USER})).json()
    return {"deviceid": deviceid, "token": token, "location_id": str(loc), "session_id": str(s["id"]),
            "participant_id": "1"}


def concrete(path: str, params: dict[str, str]) -> str:
    for name, value in params.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, path
    return path


def credentials(prefix: str, key: str) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, query) that carry ``key`` the dialect's way."""
    return ({}, {"access_key": key}) if prefix.startswith("/v1/access/parking") else ({"api_key": key}, {})


async def same(both: Both, path: str, headers: dict[str, str], params: dict[str, str]) -> httpx.Response:
    a = await both.whole.get(path, headers=headers, params=params)
    b = await both.full.get(path, headers=headers, params=params)
    assert (a.status_code, a.content, a.headers.get("etag"), a.headers.get("content-type")) == (
        b.status_code, b.content, b.headers.get("etag"), b.headers.get("content-type")), path
    return a


async def test_every_fast_route_answers_as_the_full_stack(both: Both, runtime: Runtime, keys: Keys) -> None:
    params = await seed(both.whole, runtime, keys)
    routes = both.lane.routes
    assert {fr.prefix + fr.route.path for fr in routes} >= {"/v0/sessions/{token}",
                                                            "/v1/access/parking/{location_id}/session/{session_id}"}
    for fr in routes:
        path = concrete(fr.prefix + fr.route.path, params)
        headers, query = credentials(fr.prefix, keys.read)
        await both.full.get(path, headers=headers, params=query)  # renders it: the fast lane may now answer
        before = both.lane.answered
        ok = await same(both, path, headers, query)
        if fr.prefix == "/v0/events" and "{" in fr.route.path:
            assert ok.status_code == 404  # no event seeded here (tests/http cover events): 404 alike
            continue
        assert ok.status_code == 200 and ok.headers["etag"], (path, ok.text)
        assert both.lane.answered == before + 1, f"the fast lane did not answer {path}"
        tag = ok.headers["etag"]
        assert (await same(both, path, {**headers, "if-none-match": tag}, query)).status_code == 304
        assert (await same(both, path, {**headers, "if-none-match": '"999999999", ' + tag}, query)).status_code == 304
        assert (await same(both, path, {**headers, "if-none-match": '"999999999"'}, query)).status_code == 200
        assert both.lane.answered == before + 4
        # what a client can get wrong: no key, an unknown key, a key that may not read, another account's key
        rufus = (fr.prefix + fr.route.path).startswith("/v0")
        assert (await same(both, path, {}, {})).status_code == (400 if rufus else 401)  # RUFUS: a required key
        bad_h, bad_q = credentials(fr.prefix, "shk_" + "0" * 32)
        assert (await same(both, path, bad_h, bad_q)).status_code == 401
        w_h, w_q = credentials(fr.prefix, keys.write)
        assert (await same(both, path, w_h, w_q)).status_code == 403
        r_h, r_q = credentials(fr.prefix, keys.rival)
        rival = await same(both, path, r_h, r_q)  # its own list, or nothing it may see
        assert rival.status_code == (404 if "{" in fr.route.path else 200)
        assert both.lane.answered == before + 4  # none of those came from the lane (a rival's first read)
    # ids of the right shape that name nothing, and malformed ones
    for wrong in ({**params, "deviceid": HEX, "token": HEX, "location_id": "999", "session_id": "999"},
                  {**params, "deviceid": "nothex", "token": "nothex", "location_id": "0", "session_id": "x"}):
        for fr in routes:
            path = concrete(fr.prefix + fr.route.path, wrong)
            if path == concrete(fr.prefix + fr.route.path, params):
                continue  # the route names none of the ids changed
            headers, query = credentials(fr.prefix, keys.read)
            assert (await same(both, path, headers, query)).status_code in (400, 404), path


async def test_a_change_is_seen_at_once_by_both_paths(both: Both, runtime: Runtime, keys: Keys) -> None:
    params = await seed(both.whole, runtime, keys)
    path = f"/v0/sessions/{params['token']}"
    first = await same(both, path, {"api_key": keys.read}, {})
    r = await both.whole.post("/v0/passings", headers={"api_key": keys.rw}, json={
        "token_session": params["token"], "passings_list": [
            {"bib": "9", "num_passing": 9, "timestamp": "2023-02-03T16:09:18.263Z"}]})
    assert r.status_code == 201
    second = await same(both, path, {"api_key": keys.read}, {})
    assert second.headers["etag"] != first.headers["etag"] and second.json()["result"][0]["passings"] == 4


async def test_two_hundred_long_polls_and_one_write_render_the_page_once(both: Both, runtime: Runtime,
                                                                        keys: Keys) -> None:
    params = await seed(both.whole, runtime, keys)
    h = {"api_key": keys.rw}
    token = params["token"]
    for first in range(10, 5000, 1000):  # a 5,000-passing page (issue 9's herd)
        await both.whole.post("/v0/passings", headers=h, json={"token_session": token, "passings_list": [
            {"bib": str(n), "num_passing": n, "timestamp": "2023-02-03T16:08:18.263Z"}
            for n in range(first, min(first + 1000, 5000))]})
    page = f"/v0/passings/session/{token}"
    now = await both.whole.get(page, headers=h)
    tag, renders = now.headers["etag"], both.lane.renders
    before = renders.renders
    subscribed = runtime.hub.subscriber_count

    async def poll() -> Any:
        return await both.whole.get(page, headers={**h, "if-none-match": tag}, params={"wait": "40"}, timeout=60)

    waiters = [asyncio.ensure_future(poll()) for _ in range(200)]
    for _ in range(600):  # bounded: every waiter holds its subscription
        if runtime.hub.subscriber_count >= subscribed + 200:
            break
        await asyncio.sleep(0.05)
    assert runtime.hub.subscriber_count >= subscribed + 200
    assert renders.renders == before  # waiting costs no render
    r = await both.whole.post("/v0/passings", headers=h, json={"token_session": token, "passings_list": [
        {"bib": "x", "num_passing": 4999 + 1, "timestamp": "2023-02-03T16:10:18.263Z"}]})
    assert r.status_code == 201
    answers = await asyncio.wait_for(asyncio.gather(*waiters), 120)
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1 and {a.headers["etag"] for a in answers} != {tag}
    assert renders.renders == before + 1, f"{renders.renders - before} renders for one change"


async def test_a_revoked_key_is_refused_by_the_fast_lane_at_once(both: Both, runtime: Runtime, keys: Keys) -> None:
    params = await seed(both.whole, runtime, keys)
    path = f"/v0/sessions/{params['token']}"
    reader = await runtime.access.create_key("acme", "READ")
    for _ in range(2):  # rendered, then answered by the lane (the request resolved and remembered)
        assert (await both.whole.get(path, headers={"api_key": reader})).status_code == 200
    answered = both.lane.answered
    await runtime.access.revoke_key(reader)
    assert (await same(both, path, {"api_key": reader}, {})).status_code == 401
    assert both.lane.answered == answered
