"""The OpenAPI document: every served route is in it, its schemas are the wire structs, the renderers'
bodies are exactly those structs, 405s name every allowed method, and the reference page renders it."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest
from starlette.routing import Route, Router

from sessionhub.http import create_app
from sessionhub.http import parking_wire as pw
from sessionhub.http import timing_wire as tw
from sessionhub.http.openapi import UNDOCUMENTED, Docs, document, served, strings_refuse_nul
from sessionhub.runtime import Runtime
from tests.conftest import Keys

TOKEN = "ab" * 32


async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc: dict[str, Any] = r.json()
    return doc


async def test_every_route_the_app_serves_is_documented(client: httpx.AsyncClient, runtime: Runtime) -> None:
    doc = await spec(client)
    assert doc["openapi"] == "3.1.0"
    app: Any = create_app(runtime, lifespan=False)
    while not isinstance(app, Router):  # through the lanes and the error boundary
        app = app.app
    routes = list(served(app.routes))
    assert len(routes) > 25
    for path, route in routes:
        for method in (route.methods or set()) - {"HEAD"}:
            assert method.lower() in doc["paths"][path], f"{method} {path}"
    documented = {(p, m) for p, item in doc["paths"].items() for m in item}
    assert len(documented) == sum(len((r.methods or set()) - {"HEAD"}) for _, r in routes)


def test_a_route_without_docs_is_listed_as_undocumented() -> None:
    async def handler(request: object) -> None: ...

    doc = document([Route("/x/{secret}", handler, methods=["GET"])])
    assert doc["paths"]["/x/{secret}"]["get"]["tags"] == [UNDOCUMENTED]
    docs = Docs("t", [], None)
    doc = document([Route("/x/fine", docs.op("fine", errors=())(handler), methods=["GET"])])
    assert doc["paths"]["/x/fine"]["get"]["tags"] == ["t"]


async def test_no_new_route_goes_undocumented(client: httpx.AsyncClient) -> None:
    doc = await spec(client)
    undocumented = {(m, p) for p, item in doc["paths"].items() for m, op in item.items()
                    if op["tags"] == [UNDOCUMENTED]}
    assert not undocumented, sorted(undocumented)  # every route documents itself


async def test_the_document_derives_live_updates_security_and_path_formats(client: httpx.AsyncClient) -> None:
    doc = await spec(client)
    get = doc["paths"]["/v0/sessions/{token}"]["get"]
    names = {p["name"]: p for p in get["parameters"]}
    assert names["token"]["schema"]["pattern"] == "^[0-9A-Fa-f]{64}$" and names["token"]["in"] == "path"
    assert names["wait"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 60}
    assert names["If-None-Match"]["in"] == "header"
    assert "ETag" in get["responses"]["200"]["headers"] and "304" in get["responses"]
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SessionInfo"}
    assert get["security"] == [{"ApiKeyHeader": []}, {"XApiKeyHeader": []}]
    stream = doc["paths"]["/v0/sessions/{token}/stream"]["get"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    assert {"patch", "Last-Event-ID", "last_event_id"} <= {p["name"] for p in stream["parameters"]}
    assert {"ApiKeyQuery": []} in stream["security"]
    create = doc["paths"]["/v1/access/parking/{location_id}/session"]["post"]
    assert create["security"] == [{"AccessKeyQuery": [], "UserJWT": []}, {"AccessKeyQuery": []}]
    assert create["requestBody"]["required"] is False  # Coord reads no body as {}
    assert doc["paths"]["/v0/devices"]["post"]["requestBody"]["required"] is True
    schemes = doc["components"]["securitySchemes"]
    assert schemes["AccessKeyQuery"] == {"type": "apiKey", "in": "query", "name": "access_key",
                                         "description": schemes["AccessKeyQuery"]["description"]}
    assert schemes["UserJWT"]["scheme"] == "bearer"
    # the request schemas are the handlers' own structs, each string saying that U+0000 is refused
    own = msgspec.json.schema(tw.BindDevice)["$defs"]["BindDevice"]
    assert own["properties"]["model"]["type"] == "string" and "not" not in own["properties"]["model"]
    strings_refuse_nul(own)
    assert doc["components"]["schemas"]["BindDevice"] == own
    assert own["properties"]["model"]["not"] == {"pattern": "\\u0000"}


def roundtrip(body: Any, into: Any) -> None:
    """``body`` is exactly an ``into``: it decodes strictly and encodes back to the same JSON."""
    typed = msgspec.convert(body, into)
    assert msgspec.to_builtins(typed) == body


async def test_each_renderer_gives_exactly_its_struct(client: httpx.AsyncClient, keys: Keys, runtime: Runtime) -> None:
    h = {"api_key": keys.unbind}
    bound = (await client.post("/v0/devices", headers=h, json={"model": "M", "serial_number": "S"})).json()
    roundtrip(bound, tw.DeviceEcho)
    dev = bound["deviceid"]
    opened = (await client.post("/v0/sessions", headers=h, json={"deviceid": dev, "alias": "A"})).json()
    roundtrip(opened, tw.SessionEcho)
    token = opened["token_session"]
    roundtrip((await client.post("/v0/passings", headers=h, json={"token_session": token, "passings_list": [
        {"bib": "1", "num_passing": 1, "timestamp": "2023-02-03T16:08:18.263Z", "latitude": 1.5}]})).json(),
        tw.PassingsInserted)
    for path, into in [(f"/v0/devices/{dev}", tw.DeviceInfo), ("/v0/devices", tw.DeviceList),
                       (f"/v0/sessions/{token}", tw.SessionInfo), (f"/v0/sessions/device/{dev}", tw.SessionList),
                       (f"/v0/sessions/device/{dev}/active", tw.SessionInfo),
                       (f"/v0/passings/session/{token}", tw.PassingList),
                       (f"/v0/passings/device/{dev}", tw.PassingList),
                       (f"/v0/passings/device2/{dev}", tw.Device2), (f"/v0/sessions/{TOKEN}", tw.RufusError),
                       (f"/v0/devices/{TOKEN}", tw.RufusError), ("/v0/devices?page=x", tw.RufusError)]:
        r = await client.get(path, headers=h)
        roundtrip(r.json(), into)
    roundtrip((await client.patch(f"/v0/sessions/close/{token}", headers=h)).json(), tw.SessionEcho)

    loc = await runtime.parking.create_location("acme", "Lot", 400, "USD", 15, None)
    q = {"access_key": keys.rw}
    user = "00000000-0000-4000-8000-000000000001"
    started = (await client.post(f"/v1/access/parking/{loc}/session", params=q, json={"user_id": user})).json()
    roundtrip(started, pw.Session)
    ended = (await client.put(f"/v1/access/parking/{loc}/session/{started['id']}/end", params=q)).json()
    roundtrip(ended, pw.Session)
    assert "billing_info" in ended
    pending = (await client.post(f"/v1/access/parking/{loc}/session", params=q,
                                 json={"user_id": user, "redemption": "barcode"})).json()
    roundtrip(pending, pw.Session)
    assert "redemption_info" in pending and "start_time" not in pending
    roundtrip((await client.get(f"/v1/access/parking/{loc}/session", params=q)).json(), list[pw.Session])
    roundtrip((await client.post("/v1/access/parking/barcode", params=q, json={"user_id": user})).json(), pw.BarcodeOut)
    roundtrip((await client.post("/v1/users/create_jwt", params=q, json={"external_uid": "u"})).json(), pw.Jwt)
    roundtrip((await client.get("/v1/access/parking/9/session/9", params=q)).json(), pw.CoordError)


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("PUT", "/v0/devices", "GET, HEAD, POST"),
    ("POST", f"/v0/devices/{TOKEN}", "GET, HEAD, DELETE"),
    ("GET", "/v0/passings", "POST"),
    ("DELETE", "/v1/access/parking/1/session", "GET, HEAD, POST"),
    ("POST", "/openapi.json", "GET, HEAD"),
    ("PATCH", "/live", "GET, HEAD"),
])
async def test_a_405_allows_every_method_of_the_path(client: httpx.AsyncClient, method: str, path: str,
                                                     allow: str) -> None:
    r = await client.request(method, path)
    assert r.status_code == 405 and r.headers["allow"] == allow


async def test_the_reference_page_shows_every_operation(client: httpx.AsyncClient) -> None:
    doc = await spec(client)
    r = await client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<script" not in r.text and "http://" not in r.text.replace("http://t", "")
    for item in doc["paths"].values():
        for op in item.values():
            assert f'id="{op["operationId"]}"' in r.text
    assert "id='schema-SessionInfo'" in r.text


async def test_a_whole_number_with_a_zero_fraction_is_an_integer(client: httpx.AsyncClient, keys: Keys) -> None:
    """schemathesis found it: JSON Schema (and JavaScript) call 3.0 an integer; it was a 400."""
    h = {"api_key": keys.rw}
    dev = (await client.post("/v0/devices", headers=h, json={"model": "M", "serial_number": "S"})).json()["deviceid"]
    token = (await client.post("/v0/sessions", headers=h, json={"deviceid": dev})).json()["token_session"]
    r = await client.post("/v0/passings", headers=h, json={"token_session": token, "passings_list": [
        {"bib": "1", "num_passing": 3.0, "timestamp": "2023-02-03T16:08:18.263Z"}]})
    assert r.status_code == 201 and r.json()["inserted_count"] == 1
    got = (await client.get(f"/v0/passings/session/{token}", headers=h)).json()["result"]
    assert got[0]["num_passing"] == 3
    for bad in (3.5, -1.0, 1e300):
        r = await client.post("/v0/passings", headers=h, json={"token_session": token, "passings_list": [
            {"bib": "1", "num_passing": bad, "timestamp": "2023-02-03T16:08:18.263Z"}]})
        assert r.status_code == 400 and r.json()["field"] == "passings_list[0].num_passing", bad
