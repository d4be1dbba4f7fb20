"""Rate limits (http/ratelimit.py, issue 9 #8): per key, per address, bad keys per address; 429 with
Retry-After in each dialect's shape; defaults that real devices and polling apps never reach."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest

from sessionhub.config import Settings
from sessionhub.http import create_app
from sessionhub.http.ratelimit import Limiter, Rates
from sessionhub.runtime import Runtime, build


@pytest.fixture
async def tight(db_url: str) -> AsyncIterator[Runtime]:
    rt = build(Settings(db=db_url, rate_per_key=0.5, rate_key_burst=3, rate_per_address=0.5, rate_address_burst=8,
                        rate_auth_failures=0.5, rate_auth_failures_burst=2))
    await rt.store.apply_migrations()
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


def client_from(runtime: Runtime, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(runtime, lifespan=False), client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_per_key_limit_answers_429_with_retry_after_in_both_dialects(tight: Runtime) -> None:
    key = await tight.access.create_key("acme", "READ_WRITE")
    async with client_from(tight, "127.0.0.2") as c:
        got = [await c.get("/v0/devices", headers={"api_key": key}) for _ in range(4)]
        assert [r.status_code for r in got] == [200, 200, 200, 429]
        refused = got[-1]
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["description"] == "Too many requests" and "key" in refused.json()["message"]
        coord = await c.get("/v1/access/parking/session", params={"access_key": key})
        assert coord.status_code == 429 and coord.json()["code"] == "rate_limited"
        other = await tight.access.create_key("acme", "READ")
        assert (await c.get("/v0/devices", headers={"api_key": other})).status_code == 200  # its own bucket


async def test_per_address_limit_holds_whatever_the_key(tight: Runtime) -> None:
    keys = [await tight.access.create_key("acme", "READ") for _ in range(9)]
    async with client_from(tight, "127.0.0.3") as c, client_from(tight, "127.0.0.4") as d:
        got = [(await c.get("/v0/devices", headers={"api_key": k})).status_code for k in keys]
        assert got == [200] * 8 + [429]
        assert (await c.get("/nowhere")).json()["error"]["code"] == "rate_limited"  # the generic shape
        assert (await d.get("/v0/devices", headers={"api_key": keys[0]})).status_code == 200


async def test_a_bad_key_flood_is_refused_per_address_before_any_key_is_looked_up(tight: Runtime) -> None:
    good = await tight.access.create_key("acme", "READ")
    async with client_from(tight, "127.0.0.5") as attacker, client_from(tight, "127.0.0.6") as legit:
        got = [(await attacker.get("/v0/devices", headers={"api_key": f"shk_bad{n}"})).status_code for n in range(4)]
        assert got == [401, 401, 429, 429]
        # the attacker's address is refused even with a good key, while others are served
        assert (await attacker.get("/v0/devices", headers={"api_key": good})).status_code == 429
        assert (await legit.get("/v0/devices", headers={"api_key": good})).status_code == 200


async def test_rate_limits_apply_to_the_fast_lane_too(tight: Runtime, ) -> None:
    key = await tight.access.create_key("acme", "READ_WRITE")
    async with client_from(tight, "127.0.0.7") as c:
        deviceid = (await c.post("/v0/devices", headers={"api_key": key},
                                 json={"model": "X", "serial_number": "S"})).json()["deviceid"]
        token = (await c.post("/v0/sessions", headers={"api_key": key}, json={"deviceid": deviceid})).json()
        one = f"/v0/sessions/{token['token_session']}"
        assert (await c.get(one, headers={"api_key": key})).status_code == 200
        assert (await c.get(one, headers={"api_key": key})).status_code == 429


def test_the_defaults_never_refuse_a_timing_device_or_a_polling_app() -> None:
    """Ten simulated minutes on one address: a device posting a batch a second, and a polling app
    with four GETs in parallel every second, sharing one key."""
    now = [0.0]
    limiter = Limiter(Rates(), clock=lambda: now[0])
    for second in range(600):
        now[0] = float(second)
        assert limiter.check("10.0.0.1", b"shk_device") is None
        for _ in range(4):
            assert limiter.check("10.0.0.1", b"shk_app") is None
    assert limiter.refused == 0


def test_the_defaults_do_refuse_a_flood() -> None:
    now = [0.0]
    limiter = Limiter(Rates(), clock=lambda: now[0])
    refused = 0
    for n in range(20_000):  # 20k requests within one second from one client
        now[0] = n / 20_000
        refused += limiter.check("10.0.0.9", b"shk_one") is not None
    assert refused > 19_000


def test_keys_named_in_settings_reach_the_limiter() -> None:
    fields = {f.name for f in dataclasses.fields(Settings)}
    assert {"rate_per_key", "rate_per_address", "rate_auth_failures"} <= fields
