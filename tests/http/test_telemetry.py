"""RUFUS device telemetry (§8): a WRITE key reports, the device reads show the latest, stale
reports are refused, and the device's stream follows it (in process, and with curl -N over a socket)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import httpx
import pytest

from tests.conftest import Keys, Server
from tests.http.test_timing import Rufus
from tests.live.test_clients import CurlStream

T1, T2 = "2026-01-01T10:00:00.000Z", "2026-01-01T10:01:00.000Z"
REPORT = {"timestamp": T1, "device_status": "RUNNING", "battery_percentage": 87, "charging": False,
          "latitude": "40.7128", "longitude": -74.006, "temperature": 31.5}


@pytest.fixture
def rufus(client: httpx.AsyncClient, keys: Keys) -> Rufus:
    return Rufus(client, keys.rw)


async def report(client: httpx.AsyncClient, key: str, deviceid: str, body: Any) -> httpx.Response:
    return await client.post(f"/v0/devices/{deviceid}/telemetry", json=body, headers={"api_key": key})


async def test_a_report_shows_in_the_device_reads(rufus: Rufus, client: httpx.AsyncClient, keys: Keys) -> None:
    deviceid = await rufus.bind()
    before = (await rufus.get("/v0/devices")).json()["result"][0]
    assert [before[f] for f in ("device_status", "battery_percentage", "charging", "last_telemetry_at")] == [None] * 4
    r = await report(client, keys.write, deviceid, REPORT)
    assert r.status_code == 201, r.text
    assert r.json() == {"description": "Telemetry inserted succesfully", "deviceid": deviceid, "last_telemetry_at": T1}
    want = {"device_status": "RUNNING", "battery_percentage": 87, "charging": False, "last_telemetry_at": T1,
            "latitude": 40.7128, "longitude": -74.006, "temperature": 31.5}
    listed = (await rufus.get("/v0/devices")).json()["result"][0]
    detail = (await rufus.get(f"/v0/devices/{deviceid}")).json()["result"]
    assert {k: listed[k] for k in want} == want and {k: detail[k] for k in want} == want
    # a later partial report replaces the whole latest report
    assert (await report(client, keys.write, deviceid, {"timestamp": T2, "charging": True})).status_code == 201
    detail = (await rufus.get(f"/v0/devices/{deviceid}")).json()["result"]
    assert (detail["charging"], detail["battery_percentage"], detail["last_telemetry_at"]) == (True, None, T2)


async def test_stale_and_bad_reports_are_refused(rufus: Rufus, client: httpx.AsyncClient, keys: Keys) -> None:
    deviceid = await rufus.bind()
    assert (await report(client, keys.write, deviceid, {**REPORT, "timestamp": T2})).status_code == 201
    for ts in (T1, T2):  # older, and the same report delivered twice
        r = await report(client, keys.write, deviceid, {**REPORT, "timestamp": ts})
        assert r.status_code == 409 and r.json()["description"] == "Stale telemetry", r.text
        assert r.json()["deviceid"] == deviceid
    assert (await rufus.get(f"/v0/devices/{deviceid}")).json()["result"]["last_telemetry_at"] == T2
    bad: list[Any] = [{"battery_percentage": 101}, {"battery_percentage": -1}, {"temperature": 1e6},
                      {"latitude": 91}, {"longitude": "east"}, {"charging": "yes"}, {"gps": [1, 2]},
                      {"timestamp": "2999-01-01T00:00:00Z"}, {"device_status": "x" * 65}, [], "null"]
    for body in bad:
        r = await report(client, keys.write, deviceid, body)
        assert r.status_code == 400 and r.json()["description"] == "Bad request", (body, r.text)
    big = await client.post(f"/v0/devices/{deviceid}/telemetry", content=b"{" + b" " * 20000 + b"}",
                            headers={"api_key": keys.write})
    assert big.status_code == 413
    assert (await report(client, keys.read, deviceid, REPORT)).status_code == 403
    assert (await report(client, keys.rival, deviceid, REPORT)).status_code == 404
    assert (await report(client, keys.write, "A" * 64, REPORT)).json() == {"description": "Device not found",
                                                                           "deviceid": "A" * 64}
    assert (await report(client, keys.write, "nope", REPORT)).status_code == 400
    r = await client.post(f"/v0/devices/{deviceid}/telemetry", json=REPORT)
    assert r.status_code == 400 and r.json()["field"] == "api_key"
    # a report without a time is timed on arrival: later than anything the device sent before
    assert (await report(client, keys.write, deviceid, {"battery_percentage": 5})).status_code == 201


@pytest.mark.slow
def test_curl_follows_a_devices_telemetry(server: Server) -> None:
    key = server.cli("keys", "create", "--account", "acme", "--access", "READ_WRITE")
    with httpx.Client(base_url=server.base_url, headers={"api_key": key}) as c:
        deviceid = c.post("/v0/devices", json={"model": "X1", "serial_number": "S-1"}).json()["deviceid"]
        follow = CurlStream(f"{server.base_url}/v0/devices/{deviceid}/stream", f"api_key: {key}")
        try:
            assert json.loads(follow.wait_events(1)[0]["data"])["result"]["battery_percentage"] is None
            out = subprocess.run(
                ["curl", "-sS", "-X", "POST", "-H", f"x-api-key: {key}", "-H", "Content-Type: application/json",
                 "-d", json.dumps(REPORT), f"{server.base_url}/v0/devices/{deviceid}/telemetry"],
                capture_output=True, text=True, check=True, timeout=30)
            assert json.loads(out.stdout)["last_telemetry_at"] == T1
            got = json.loads(follow.wait_events(2)[1]["data"])["result"]
            assert (got["battery_percentage"], got["temperature"], got["last_telemetry_at"]) == (87, 31.5, T1)
            c.delete(f"/v0/devices/{deviceid}")  # without the unbind flag: refused, the stream goes on
        finally:
            follow.close()
