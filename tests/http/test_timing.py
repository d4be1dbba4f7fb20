"""The RUFUS v0 dialect in-process: every endpoint, access types, isolation, and bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Keys

TS = "2023-02-03T16:08:18.263Z"


class Rufus:
    """A small RUFUS client over the ASGI transport."""

    def __init__(self, client: httpx.AsyncClient, key: str) -> None:
        self.c, self.h = client, {"api_key": key}

    async def bind(self, serial: str = "S-1", **extra: Any) -> str:
        r = await self.c.post("/v0/devices", json={"model": "X1", "serial_number": serial, **extra}, headers=self.h)
        assert r.status_code == 201, r.text
        return str(r.json()["deviceid"])

    async def open(self, deviceid: str, alias: str = "START-5K") -> str:
        r = await self.c.post("/v0/sessions", json={"deviceid": deviceid, "alias": alias}, headers=self.h)
        assert r.status_code == 201, r.text
        return str(r.json()["token_session"])

    async def send(self, token: str, *nums: int, ts: str = TS) -> httpx.Response:
        passings = [{"bib": str(n), "num_passing": n, "timestamp": ts} for n in nums]
        return await self.c.post("/v0/passings", json={"token_session": token, "passings_list": passings},
                                 headers=self.h)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.c.get(path, params=params, headers=self.h)


@pytest.fixture
def rufus(client: httpx.AsyncClient, keys: Keys) -> Rufus:
    return Rufus(client, keys.rw)


async def test_device_lifecycle(rufus: Rufus, client: httpx.AsyncClient, keys: Keys) -> None:
    deviceid = await rufus.bind("O4A-00150", type="One4All", alias="Finish and start", firmware="1.0.1")
    assert len(deviceid) == 64 and deviceid == deviceid.upper()
    info = (await rufus.get(f"/v0/devices/{deviceid}")).json()
    assert info["description"] == "Success"
    assert info["result"] | {"creation_date": None} == {
        "deviceid": deviceid, "type": "One4All", "model": "X1", "alias": "Finish and start", "firmware": "1.0.1",
        "serial_number": "O4A-00150", "creation_date": None, "sessions": 0, "passings": 0, "last_seen": None,
        "device_status": None, "battery_percentage": None, "charging": None, "last_telemetry_at": None,
        "latitude": None, "longitude": None, "temperature": None}
    listing = (await rufus.get("/v0/devices", page=1, limit=10)).json()
    assert [d["deviceid"] for d in listing["result"]] == [deviceid]
    assert listing["pagination"] == {"page": 1, "limit": 10, "total": 1, "has_more": False}

    # the same serial twice: 409 with the existing deviceid (clients treat it as "already bound")
    again = await client.post("/v0/devices", json={"model": "X1", "serial_number": "O4A-00150"}, headers=rufus.h)
    assert again.status_code == 409 and again.json()["deviceid"] == deviceid

    token = await rufus.open(deviceid)
    assert (await rufus.send(token, 1, 2)).status_code == 201
    # unbind needs the unbind flag
    assert (await client.delete(f"/v0/devices/{deviceid}", headers=rufus.h)).status_code == 403
    r = await client.delete(f"/v0/devices/{deviceid}", headers={"api_key": keys.unbind})
    assert r.status_code == 200
    assert r.json() == {"description": "Device unbinded succesfully", "deviceid": deviceid}
    assert (await rufus.get(f"/v0/devices/{deviceid}")).status_code == 404
    gone = await rufus.get(f"/v0/sessions/{token}")
    assert gone.status_code == 404 and gone.json() == {"description": "Session not found", "token_session": token}
    assert (await client.delete(f"/v0/devices/{deviceid}", headers={"api_key": keys.unbind})).json() == {
        "description": "Device not found", "deviceid": deviceid}


async def test_device_pagination(rufus: Rufus) -> None:
    ids = [await rufus.bind(f"S-{i}") for i in range(5)]
    page2 = (await rufus.get("/v0/devices", page=2, limit=2)).json()
    assert [d["deviceid"] for d in page2["result"]] == ids[2:4]
    assert page2["pagination"] == {"page": 2, "limit": 2, "total": 5, "has_more": True}


async def test_opening_a_session_closes_the_active_one(rufus: Rufus) -> None:
    deviceid = await rufus.bind()
    first = await rufus.open(deviceid, "WARMUP")
    second = await rufus.open(deviceid, "START-5K")
    detail = (await rufus.get(f"/v0/sessions/{first}")).json()["result"]
    assert len(detail) == 1 and detail[0]["active"] is False
    assert detail[0]["duration"] >= detail[0]["creation_date"]
    active = (await rufus.get(f"/v0/sessions/device/{deviceid}/active")).json()["result"]
    assert [s["token_session"] for s in active] == [second]
    listing = (await rufus.get(f"/v0/sessions/device/{deviceid}")).json()["result"]
    assert [(s["token_session"], s["active"]) for s in listing] == [(second, True), (first, False)]
    assert set(listing[0]) == {"token_session", "alias", "creation_date", "active", "passings"}


async def test_session_detail_matches_the_seed(rufus: Rufus) -> None:
    token = await rufus.open(await rufus.bind())
    await rufus.send(token, 1, ts="2023-02-03T16:08:18.263Z")
    await rufus.send(token, 2, ts="2023-12-22T09:20:25.130Z")
    body = (await rufus.get(f"/v0/sessions/{token}")).json()
    assert body["description"] == "Success"
    (s,) = body["result"]
    assert list(s) == ["token_session", "alias", "creation_date", "duration", "active", "passings", "first", "last"]
    assert (s["alias"], s["active"], s["passings"]) == ("START-5K", True, 2)
    assert (s["first"], s["last"]) == ("2023-02-03T16:08:18.263Z", "2023-12-22T09:20:25.130Z")


async def test_close(rufus: Rufus, client: httpx.AsyncClient) -> None:
    deviceid = await rufus.bind()
    token = await rufus.open(deviceid)
    r = await client.patch(f"/v0/sessions/close/{token}", headers=rufus.h)
    assert r.json() == {"description": "Session closed succesfully", "token_session": token}
    assert (await client.patch(f"/v0/sessions/close/{token}", headers=rufus.h)).status_code == 200
    late = await rufus.send(token, 1)
    assert late.status_code == 404
    assert late.json() == {"description": "Session not found or closed", "token_session": token}
    none = await rufus.get(f"/v0/sessions/device/{deviceid}/active")
    assert none.status_code == 404 and none.json() == {"description": "Sessions not found", "deviceid": deviceid}
    missing = "A" * 64
    r = await client.patch(f"/v0/sessions/close/{missing}", headers=rufus.h)
    assert r.status_code == 404 and r.json() == {"description": "Session not found", "token_session": missing}


async def test_passings_are_deduplicated_by_number(rufus: Rufus) -> None:
    token = await rufus.open(await rufus.bind())
    r = await rufus.send(token, 1, 2, 3)
    assert r.status_code == 201
    assert r.json() == {"description": "Passings inserted succesfully", "token_session": token,
                        "inserted_count": 3, "duplicate_count": 0}
    r = await rufus.send(token, 3, 4, 4, 5)
    assert (r.json()["inserted_count"], r.json()["duplicate_count"]) == (2, 2)
    result = (await rufus.get(f"/v0/passings/session/{token}")).json()["result"]
    assert [p["num_passing"] for p in result] == [1, 2, 3, 4, 5]
    assert (await rufus.get(f"/v0/sessions/{token}")).json()["result"][0]["passings"] == 5


async def test_passing_fields_round_trip(rufus: Rufus, client: httpx.AsyncClient) -> None:
    deviceid = await rufus.bind()
    token = await rufus.open(deviceid)
    full = {"bib": "17", "num_passing": 2, "timestamp": "2023-01-22T09:21:33.000Z", "timezone": "UTC",
            "latitude": "12.000", "longitude": 13.5, "status": "Sent", "participant_id": "XB123AR8",
            "chip": "000000000000017", "gender": "F"}
    r = await client.post("/v0/passings", json={"token_session": token, "passings_list": [full]}, headers=rufus.h)
    assert r.status_code == 201
    (p,) = (await rufus.get(f"/v0/passings/session/{token}")).json()["result"]
    assert p == full | {"longitude": "13.5", "token_session": token, "deviceid": deviceid}


async def test_session_range_and_pages(rufus: Rufus) -> None:
    token = await rufus.open(await rufus.bind())
    await rufus.send(token, *range(1, 5002))
    got = (await rufus.get(f"/v0/passings/session/{token}", first=10, last=12)).json()["result"]
    assert [p["num_passing"] for p in got] == [10, 11, 12]
    page1 = (await rufus.get(f"/v0/passings/session/{token}")).json()["result"]
    page2 = (await rufus.get(f"/v0/passings/session/{token}", page=2)).json()["result"]
    assert len(page1) == 5000 and [p["num_passing"] for p in page2] == [5001]


async def test_device_passings_by_time_across_sessions(rufus: Rufus) -> None:
    deviceid = await rufus.bind()
    one = await rufus.open(deviceid, "ONE")
    await rufus.send(one, 1, ts="2023-01-01T10:00:00.000Z")
    await rufus.send(one, 2, ts="2023-01-01T12:00:00.000Z")
    two = await rufus.open(deviceid, "TWO")
    await rufus.send(two, 1, ts="2023-01-01T11:00:00.000Z")
    got = (await rufus.get(f"/v0/passings/device/{deviceid}", **{"from": "2023-01-01T10:30:00.000Z",
                                                                   "to": "2023-01-01T12:00:00.000Z"})).json()
    assert [(p["token_session"], p["num_passing"]) for p in got["result"]] == [(two, 1), (one, 2)]
    everything = (await rufus.get(f"/v0/passings/device/{deviceid}")).json()["result"]
    assert len(everything) == 3


async def test_device2_resumes_and_follows_the_device_into_its_next_session(rufus: Rufus) -> None:
    deviceid = await rufus.bind()
    one = await rufus.open(deviceid, "Marathon Split KM10")
    await rufus.send(one, 1, 2, 3)
    got = (await rufus.get(f"/v0/passings/device2/{deviceid}")).json()
    assert (got["session_used"], got["session_label"], got["resumed_from"]) == (one, "Marathon Split KM10", 0)
    assert [p["num_passing"] for p in got["passings"]] == [1, 2, 3] and got["deviceid"] == deviceid
    got = (await rufus.get(f"/v0/passings/device2/{deviceid}", token_session=one, last=2)).json()
    assert got["resumed_from"] == 2 and [p["num_passing"] for p in got["passings"]] == [3]
    two = await rufus.open(deviceid, "KM20")
    await rufus.send(two, 1)
    await rufus.send(one, 4)  # closed: refused, so nothing is left behind in ONE
    got = (await rufus.get(f"/v0/passings/device2/{deviceid}", token_session=one, last=3)).json()
    assert got["session_used"] == two and got["resumed_from"] == 0
    assert [p["num_passing"] for p in got["passings"]] == [1]
    got = (await rufus.get(f"/v0/passings/device2/{deviceid}", token_session=two, last=1)).json()
    assert got["session_used"] == two and got["passings"] == []


# access types and isolation ---------------------------------------------------------------------


async def test_access_types(client: httpx.AsyncClient, keys: Keys, rufus: Rufus) -> None:
    deviceid = await rufus.bind()
    read = {"api_key": keys.read}
    write = {"x-api-key": keys.write}
    assert (await client.get(f"/v0/devices/{deviceid}", headers=read)).status_code == 200
    assert (await client.get(f"/v0/devices/{deviceid}", headers=write)).status_code == 403
    assert (await client.post("/v0/sessions", json={"deviceid": deviceid}, headers=read)).status_code == 403
    r = await client.post("/v0/sessions", json={"deviceid": deviceid}, headers=write)
    assert r.status_code == 201
    forbidden = await client.delete(f"/v0/devices/{deviceid}", headers={"api_key": keys.rw})
    assert forbidden.status_code == 403 and forbidden.json()["description"] == "Forbidden"


@pytest.mark.parametrize("headers", [{"api_key": "shk_nope"}, {"x-api-key": "ror-ae4f"}])
async def test_unknown_key_is_401_json(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    r = await client.get("/v0/devices", headers=headers)
    assert r.status_code == 401 and r.json()["description"] == "Unauthorized"


@pytest.mark.parametrize("headers", [{}, {"api_key": ""}, {"x-api-key": ""}])
@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v0/devices"), ("POST", "/v0/devices"), ("GET", "/v0/sessions/" + "A" * 64),
    ("PATCH", "/v0/sessions/close/" + "A" * 64), ("POST", "/v0/passings"), ("DELETE", "/v0/devices/" + "A" * 64),
])
async def test_missing_key_is_400_as_the_seed_documents(
    client: httpx.AsyncClient, headers: dict[str, str], method: str, path: str
) -> None:
    """The seed: "400: Bad Request If any of the required parameters is missing" (api_key is one)."""
    bodies = {"/v0/devices": {"model": "X1", "serial_number": "S-1"}, "/v0/passings": {
        "token_session": "A" * 64, "passings_list": []}}
    r = await client.request(method, path, headers=headers, json=bodies.get(path, {}))
    assert r.status_code == 400, r.text
    assert r.json()["description"] == "Bad request" and r.json()["field"] == "api_key"


async def test_revoked_key_stops_working(client: httpx.AsyncClient, runtime: Any, keys: Keys) -> None:
    assert (await client.get("/v0/devices", headers={"api_key": keys.read})).status_code == 200
    await runtime.access.revoke_key(keys.read)
    assert (await client.get("/v0/devices", headers={"api_key": keys.read})).status_code == 401


async def test_other_accounts_objects_look_missing(client: httpx.AsyncClient, keys: Keys, rufus: Rufus) -> None:
    deviceid = await rufus.bind()
    token = await rufus.open(deviceid)
    await rufus.send(token, 1)
    rival = Rufus(client, keys.rival)
    for path, body in [
        (f"/v0/devices/{deviceid}", {"description": "Device not found", "deviceid": deviceid}),
        (f"/v0/sessions/{token}", {"description": "Session not found", "token_session": token}),
        (f"/v0/sessions/device/{deviceid}", {"description": "Sessions not found", "deviceid": deviceid}),
        (f"/v0/sessions/device/{deviceid}/active", {"description": "Sessions not found", "deviceid": deviceid}),
        (f"/v0/passings/session/{token}", {"description": "Session not found", "token_session": token}),
        (f"/v0/passings/device/{deviceid}", {"description": "Device not found", "deviceid": deviceid}),
        (f"/v0/passings/device2/{deviceid}", {"description": "Device not found", "deviceid": deviceid}),
    ]:
        r = await rival.get(path)
        assert (r.status_code, r.json()) == (404, body), path
    assert (await rival.get("/v0/devices")).json()["result"] == []
    assert (await rival.send(token, 2)).status_code == 404
    assert (await client.patch(f"/v0/sessions/close/{token}", headers=rival.h)).status_code == 404
    assert (await client.post("/v0/sessions", json={"deviceid": deviceid}, headers=rival.h)).status_code == 404
    assert (await client.delete(f"/v0/devices/{deviceid}", headers=rival.h)).status_code == 404
    assert (await rufus.get(f"/v0/sessions/{token}")).json()["result"][0]["passings"] == 1


# bad input ----------------------------------------------------------------------------------------


def bad(r: httpx.Response, field: str | None, status: int = 400) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["description"] == "Bad request" and body.get("field") == field, body


async def test_malformed_json(client: httpx.AsyncClient, rufus: Rufus) -> None:
    for raw in [b"", b"{", b"not json", b"[1,2]", b'{"model": "x", "serial_number": "y"} trailing', b"\xff\xfe"]:
        r = await client.post("/v0/devices", content=raw, headers=rufus.h)
        assert r.status_code == 400 and r.json()["description"] == "Bad request", raw


async def test_missing_wrong_and_unknown_fields_are_named(client: httpx.AsyncClient, rufus: Rufus) -> None:
    post = client.post
    bad(await post("/v0/devices", json={"model": "X1"}, headers=rufus.h), "serial_number")
    bad(await post("/v0/devices", json={"model": 5, "serial_number": "S"}, headers=rufus.h), "model")
    bad(await post("/v0/devices", json={"model": "X", "serial_number": "S", "colour": "red"}, headers=rufus.h),
        "colour")
    bad(await post("/v0/devices", json={"model": " ", "serial_number": "S"}, headers=rufus.h), "model")
    bad(await post("/v0/devices", json={"model": "X" * 300, "serial_number": "S"}, headers=rufus.h), "model")
    bad(await post("/v0/sessions", json={"alias": "x"}, headers=rufus.h), "deviceid")
    bad(await post("/v0/sessions", json={"deviceid": "xyz"}, headers=rufus.h), "deviceid")
    token = await rufus.open(await rufus.bind())
    for passing, field in [
        ({"num_passing": 1, "timestamp": TS}, "passings_list[0].bib"),
        ({"bib": "1", "num_passing": "1", "timestamp": TS}, "passings_list[0].num_passing"),
        ({"bib": "1", "num_passing": -1, "timestamp": TS}, "passings_list[0].num_passing"),
        ({"bib": "1", "num_passing": 1.5, "timestamp": TS}, "passings_list[0].num_passing"),
        ({"bib": "1", "num_passing": 1, "timestamp": "yesterday"}, "passings_list[0].timestamp"),
        ({"bib": "1", "num_passing": 1, "timestamp": TS, "chips": "x"}, "passings_list[0].chips"),
        ({"bib": "1", "num_passing": 1, "timestamp": TS, "latitude": "north"}, "passings_list[0].latitude"),
        ({"bib": "1", "num_passing": 1, "timestamp": TS, "longitude": 181}, "passings_list[0].longitude"),
    ]:
        r = await post("/v0/passings", json={"token_session": token, "passings_list": [passing]}, headers=rufus.h)
        bad(r, field)
    bad(await post("/v0/passings", json={"token_session": token, "passings_list": []}, headers=rufus.h),
        "passings_list")
    bad(await post("/v0/passings", json={"token_session": token}, headers=rufus.h), "passings_list")
    # nothing of the refused batches was stored
    assert (await rufus.get(f"/v0/sessions/{token}")).json()["result"][0]["passings"] == 0


async def test_a_batch_with_one_bad_passing_stores_nothing(client: httpx.AsyncClient, rufus: Rufus) -> None:
    token = await rufus.open(await rufus.bind())
    passings = [{"bib": "1", "num_passing": n, "timestamp": TS} for n in range(100)]
    passings[57]["timestamp"] = "2023-02-30T00:00:00Z"
    r = await client.post("/v0/passings", json={"token_session": token, "passings_list": passings}, headers=rufus.h)
    bad(r, "passings_list[57].timestamp")
    assert (await rufus.get(f"/v0/passings/session/{token}")).json()["result"] == []


async def test_oversized_body_is_413(client: httpx.AsyncClient, rufus: Rufus) -> None:
    r = await client.post("/v0/passings", content=b" " * (16 * 1024 * 1024 + 1), headers=rufus.h)
    assert r.status_code == 413 and r.json()["description"] == "Payload too large"


@pytest.mark.parametrize(("query", "field"), [
    ("page=0", "page"), ("page=-1", "page"), ("page=abc", "page"), ("page=99999999999999999999", "page"),
    ("page=2000000", "page"), ("first=x", "first"), ("first=9&last=3", "first"),
])
async def test_absurd_query_values(rufus: Rufus, query: str, field: str) -> None:
    token = await rufus.open(await rufus.bind())
    bad(await rufus.c.get(f"/v0/passings/session/{token}?{query}", headers=rufus.h), field)


@pytest.mark.parametrize(("query", "field"), [("limit=0", "limit"), ("limit=5001", "limit"), ("page=1.5", "page")])
async def test_absurd_device_list_values(rufus: Rufus, query: str, field: str) -> None:
    bad(await rufus.c.get(f"/v0/devices?{query}", headers=rufus.h), field)


@pytest.mark.parametrize(("query", "field"), [("from=soon", "from"),
                                              ("from=2023-01-02T00:00:00Z&to=2023-01-01T00:00:00Z", "from")])
async def test_bad_time_windows(rufus: Rufus, query: str, field: str) -> None:
    deviceid = await rufus.bind()
    bad(await rufus.c.get(f"/v0/passings/device/{deviceid}?{query}", headers=rufus.h), field)


@pytest.mark.parametrize("path", ["/v0/devices/123", "/v0/sessions/" + "G" * 64, "/v0/passings/device2/zz",
                                  "/v0/sessions/device/" + "A" * 63])
async def test_non_hex_ids(rufus: Rufus, path: str) -> None:
    r = await rufus.get(path)
    assert r.status_code == 400 and r.json()["description"] == "Bad request"


async def test_unknown_routes_and_methods(client: httpx.AsyncClient, rufus: Rufus) -> None:
    r = await client.get("/v0/nothing", headers=rufus.h)
    assert r.status_code == 404 and r.json()["description"] == "Not found"
    r = await client.put("/v0/devices", headers=rufus.h)
    assert r.status_code == 405 and r.json()["description"] == "Method not allowed"
    r = await client.get("/elsewhere")
    assert r.status_code == 404 and r.json()["error"]["code"] == "route_not_found"
