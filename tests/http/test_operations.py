"""Health, readiness, Prometheus metrics and CORS, in process on both stores."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sessionhub.http import create_app
from sessionhub.runtime import Runtime
from sessionhub.store import SchemaError
from tests.conftest import Keys

TOKEN = "ab" * 32


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample(fams: dict[str, Any], name: str, **labels: str) -> float:
    """The value of the one sample of family ``name`` (sample name ``name`` + suffix) with ``labels``."""
    family, _, suffix = name.partition(":")
    found = [s.value for s in fams[family].samples
             if s.name == family + suffix and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, fams[family].samples)
    return float(found[0])


async def test_healthz_and_readyz(client: httpx.AsyncClient, runtime: Runtime) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "store": runtime.store.engine}


async def test_readyz_is_503_with_the_reason_when_the_store_is_not_ready(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def behind() -> None:
        raise SchemaError("database schema is at version 3, this build needs 4: run `sessionhub migrate`")

    monkeypatch.setattr(runtime.store, "preflight", behind)
    r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"status": "unavailable", "store": runtime.store.engine,
                        "reason": "database schema is at version 3, this build needs 4: run `sessionhub migrate`"}
    assert (await client.get("/healthz")).status_code == 200  # alive all the same


async def test_readyz_is_503_when_the_store_is_closed(runtime: Runtime) -> None:
    app = create_app(runtime, lifespan=False)
    await runtime.store.stop()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            r = await c.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "unavailable" and r.json()["reason"]
    finally:
        await runtime.store.start()


async def test_metrics_count_requests_by_route_template_status_and_latency(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    h = {"api_key": keys.rw}
    dev = (await client.post("/v0/devices", headers=h, json={"model": "M", "serial_number": "S"})).json()["deviceid"]
    token = (await client.post("/v0/sessions", headers=h, json={"deviceid": dev})).json()["token_session"]
    batch = [{"bib": str(n), "num_passing": n, "timestamp": "2023-02-03T16:08:18.263Z"} for n in range(1, 6)]
    await client.post("/v0/passings", headers=h, json={"token_session": token, "passings_list": batch})
    await client.post("/v0/passings", headers=h, json={"token_session": token, "passings_list": batch[:2]})
    for _ in range(3):  # the fast lane's hot GET
        assert (await client.get(f"/v0/sessions/{token}", headers=h)).status_code == 200
    tag = (await client.get(f"/v0/sessions/{token}", headers=h)).headers["etag"]
    assert (await client.get(f"/v0/sessions/{token}", headers={**h, "if-none-match": tag})).status_code == 304
    assert (await client.get(f"/v0/sessions/{TOKEN}", headers=h)).status_code == 404
    assert (await client.get("/v0/sessions/not-hex", headers=h)).status_code == 400
    assert (await client.get("/nowhere/at/all")).status_code == 404
    assert (await client.request("BREW", "/v0/devices")).status_code == 405
    loc = await runtime.parking.create_location("acme", "Lot", 400, "USD", 15, None)
    assert (await client.get(f"/v1/access/parking/{loc}/session", params={"access_key": keys.rw})).status_code == 200

    r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    fams = families(r.text)
    req = "sessionhub_http_requests:_total"
    route = "/v0/sessions/{token}"
    assert sample(fams, req, dialect="timing", route=route, method="GET", status="200") == 4
    assert sample(fams, req, dialect="timing", route=route, method="GET", status="304") == 1
    assert sample(fams, req, dialect="timing", route=route, method="GET", status="404") == 1
    assert sample(fams, req, dialect="timing", route=route, method="GET", status="400") == 1
    assert sample(fams, req, dialect="timing", route="/v0/passings", method="POST", status="201") == 2
    assert sample(fams, req, dialect="other", route="unmatched", method="GET", status="404") == 1
    assert sample(fams, req, dialect="timing", route="/v0/devices", method="other", status="405") == 1
    assert sample(fams, req, dialect="parking", route="/v1/access/parking/{location_id}/session", method="GET",
                  status="200") == 1
    assert not any(token in s.labels.get("route", "") for f in fams.values() for s in f.samples)  # never raw paths
    hist = "sessionhub_http_request_duration_seconds"
    assert sample(fams, f"{hist}:_count", dialect="timing", route=route) == 7
    assert sample(fams, f"{hist}:_bucket", dialect="timing", route=route, le="+Inf") == 7
    assert 0 < sample(fams, f"{hist}:_sum", dialect="timing", route=route) < 60
    assert sample(fams, "sessionhub_passings_ingested:_total") == 5
    assert sample(fams, "sessionhub_passings_duplicate:_total") == 2
    assert sample(fams, "sessionhub_change_feed_lag:") == 0
    assert sample(fams, "sessionhub_live_subscriptions:") == 0
    assert sample(fams, "sessionhub_coap_observers:") == 0
    assert "process_cpu_seconds" in fams or "python_gc_objects_collected" in fams


async def test_metrics_off(runtime: Runtime) -> None:
    runtime.settings = dataclasses.replace(runtime.settings, metrics=False)
    app = create_app(runtime, lifespan=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/metrics")).status_code == 404
        assert "/metrics" not in (await c.get("/openapi.json")).json()["paths"]


@pytest.fixture
async def cors(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    runtime.settings = dataclasses.replace(runtime.settings, cors_origin=("http://screens.example:8001",))
    app = create_app(runtime, lifespan=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def test_cors_answers_preflights_for_the_key_headers_and_exposes_etag(
    cors: httpx.AsyncClient, keys: Keys
) -> None:
    origin = "http://screens.example:8001"
    r = await cors.options(f"/v0/sessions/{TOKEN}", headers={
        "origin": origin, "access-control-request-method": "GET",
        "access-control-request-headers": "api_key, x-api-key, authorization, if-none-match, content-type"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == origin
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert {"api_key", "x-api-key", "authorization", "if-none-match"} <= allowed
    assert "GET" in r.headers["access-control-allow-methods"]
    dev = (await cors.post("/v0/devices", headers={"api_key": keys.rw, "origin": origin},
                           json={"model": "M", "serial_number": "S"})).json()["deviceid"]
    r = await cors.get(f"/v0/devices/{dev}", headers={"api_key": keys.rw, "origin": origin})
    assert r.headers["access-control-allow-origin"] == origin
    assert r.headers["access-control-expose-headers"] == "ETag"
    r = await cors.options("/v0/devices", headers={"origin": "http://evil.example",
                                                   "access-control-request-method": "GET"})
    assert r.status_code == 400 and "access-control-allow-origin" not in r.headers


async def test_no_cors_headers_by_default(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"origin": "http://screens.example"})
    assert not any(h.startswith("access-control-") for h in r.headers)
    r = await client.options("/v0/devices", headers={"origin": "http://screens.example",
                                                     "access-control-request-method": "GET"})
    assert r.status_code == 405 and not any(h.startswith("access-control-") for h in r.headers)
