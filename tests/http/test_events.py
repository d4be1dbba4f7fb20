"""RUFUS events and participants (§7) and live results, in process and over a socket with curl."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from typing import Any

import httpx
import pytest

from sessionhub.runtime import Runtime
from tests.conftest import Keys, Server
from tests.http.test_timing import Rufus
from tests.live.test_clients import CurlStream

START, FINISH = "2026-04-12T08:00:00.000Z", "2026-04-12T14:00:00.000Z"


@pytest.fixture
def rufus(client: httpx.AsyncClient, keys: Keys) -> Rufus:
    return Rufus(client, keys.rw)


async def race(runtime: Runtime, rufus: Rufus) -> tuple[str, str, str]:
    """An event with a START and a FINISH device; returns (event_token, start device, finish device)."""
    start_dev, finish_dev = await rufus.bind("MAT-1"), await rufus.bind("MAT-2")
    token = await runtime.events.create_event("acme", "City 10K", edition="2026", location="Bilbao",
                                              start_ms=1776067200000 - 7200000, end_ms=None)
    await runtime.events.add_point("acme", token, start_dev, "START")
    await runtime.events.add_point("acme", token, finish_dev, "FINISH")
    return token, start_dev, finish_dev


async def passings(rufus: Rufus, deviceid: str, reads: list[tuple[int, dict[str, str], str]]) -> None:
    token = await rufus.open(deviceid)
    batch = [{"num_passing": n, "timestamp": ts, **ids} for n, ids, ts in reads]
    r = await rufus.c.post("/v0/passings", json={"token_session": token, "passings_list": batch}, headers=rufus.h)
    assert r.status_code == 201, r.text


async def test_events_participants_and_results(
    rufus: Rufus, client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    token, start_dev, finish_dev = await race(runtime, rufus)
    listing = (await rufus.get("/v0/events", page=1, limit=10)).json()
    assert listing["pagination"] == {"page": 1, "limit": 10, "total": 1, "has_more": False}
    assert listing["result"] == [{"event_token": token, "name": "City 10K", "edition": "2026", "location": "Bilbao",
                                  "start_date": "2026-04-13T06:00:00.000Z", "end_date": None,
                                  "status": "PUBLISHED"}]
    one = (await rufus.get(f"/v0/events/{token}")).json()["result"]
    assert one["timing_points"] == sorted([{"deviceid": finish_dev, "name": "FINISH"},
                                           {"deviceid": start_dev, "name": "START"}], key=lambda p: p["name"])
    made = await client.post(f"/v0/events/{token}/participants", headers={"api_key": keys.write}, json={
        "participants_list": [{"participant_id": "XB123AR8", "bib": "17", "chip": "000000000000017",
                               "first_name": "Ane"}, {"bib": "7", "last_name": "Etxeberria"}]})
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["description"], body["inserted_count"]) == ("Participants inserted succesfully", 2)
    seven = body["result"][1]["participant_id"]
    assert len(seven) == 8 and seven.isalnum() and seven.isupper()
    listed = (await rufus.get(f"/v0/events/{token}/participants", limit=1, page=2)).json()
    assert [p["bib"] for p in listed["result"]] == ["7"] and listed["pagination"]["total"] == 2
    assert (await rufus.get(f"/v0/events/{token}/participants/XB123AR8")).json()["result"]["first_name"] == "Ane"

    late = "2026-04-13T07:00:00.000Z"
    await passings(rufus, start_dev, [(1, {"bib": "17", "chip": "000000000000017"}, "2026-04-13T06:30:00.000Z"),
                                      (2, {"bib": "7"}, "2026-04-13T06:30:01.000Z"),
                                      (3, {"bib": "99"}, "2026-04-13T06:30:02.000Z"),
                                      (4, {"bib": "7"}, "2026-04-12T06:00:00.000Z")])  # before the start
    await passings(rufus, finish_dev, [(1, {"bib": "x", "chip": "000000000000017"}, "2026-04-13T06:40:00.000Z"),
                                       (2, {"bib": "7"}, "2026-04-13T06:45:00.000Z"),
                                       (3, {"bib": "0", "participant_id": "XB123AR8"}, late)])
    r = await rufus.get(f"/v0/events/{token}/results")
    results = r.json()
    assert results["event_token"] == token and results["truncated"] is False
    points = {p["name"]: p for p in results["result"]}
    assert points["START"]["unmatched"] == 1  # bib 99; the passing before the start does not count
    assert [(s["bib"], s["laps"]) for s in points["START"]["participants"]] == [("17", 1), ("7", 1)]
    finish = points["FINISH"]["participants"]
    assert [(s["participant_id"], s["laps"], s["latest"]) for s in finish] == [
        ("XB123AR8", 2, late), (seven, 1, "2026-04-13T06:45:00.000Z")]
    assert finish[0]["passings"] == ["2026-04-13T06:40:00.000Z", late]

    # the passing reads link by chip or bib: participant_id is filled in where the passing had none
    got = (await rufus.get(f"/v0/passings/device/{finish_dev}")).json()["result"]
    assert [p["participant_id"] for p in got] == ["XB123AR8", seven, "XB123AR8"]

    # results are a conditional GET and a long-poll: a new passing at a point wakes it
    tag = r.headers["etag"]
    assert (await client.get(f"/v0/events/{token}/results", headers={**rufus.h, "if-none-match": tag})
            ).status_code == 304
    held = asyncio.ensure_future(client.get(f"/v0/events/{token}/results", params={"wait": "20"},
                                            headers={**rufus.h, "if-none-match": tag}))
    await asyncio.sleep(0.3)
    await passings(rufus, finish_dev, [(1, {"bib": "7"}, "2026-04-13T06:50:00.000Z")])
    woken = await asyncio.wait_for(held, 30)  # woken by the first change (the session opening)
    assert woken.status_code == 200 and woken.headers["etag"] != tag
    now = (await rufus.get(f"/v0/events/{token}/results")).json()
    laps = {s["bib"]: s["laps"] for p in now["result"] if p["name"] == "FINISH" for s in p["participants"]}
    assert laps == {"17": 2, "7": 2}


async def test_participants_are_checked_and_never_updated_through_the_api(
    rufus: Rufus, client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    token, _, _ = await race(runtime, rufus)
    url = f"/v0/events/{token}/participants"

    async def create(body: Any, key: str = keys.write) -> httpx.Response:
        return await client.post(url, json=body, headers={"api_key": key})

    first = await create({"participants_list": [{"bib": "1", "chip": "C1", "participant_id": "P1"}]})
    assert first.status_code == 201
    for clash in ({"bib": "1"}, {"bib": "2", "chip": "C1"}, {"bib": "3", "participant_id": "P1"}):
        r = await create({"participants_list": [clash]})
        assert r.status_code == 409, r.text
    r = await create({"participants_list": [{"bib": "5"}, {"bib": "5"}]})  # inside one batch: nothing stored
    assert r.status_code == 409 and "participants_list[1]" in r.json()["message"]
    bad: object
    for bad in ({"participants_list": []}, {"participants_list": [{"chip": "x"}]}, {"participants_list": [{"bib": ""}]},
                {"participants_list": [{"bib": "1" * 65}]}, {"participants_list": [{"bib": "9", "age": 3}]}, []):
        r = await create(bad)
        assert r.status_code == 400 and r.json()["description"] == "Bad request", (bad, r.text)
    assert (await create({"participants_list": [{"bib": "8"}]}, keys.read)).status_code == 403
    assert (await create({"participants_list": [{"bib": "8"}]}, keys.rival)).json() == {
        "description": "Event not found", "event_token": token}
    for method in ("PATCH", "PUT", "DELETE"):
        assert (await client.request(method, f"{url}/P1", headers={"api_key": keys.rw})).status_code == 405
    assert (await rufus.get(f"{url}/NOPE")).json() == {"description": "Participant not found",
                                                       "participant_id": "NOPE"}
    assert (await rufus.get("/v0/events/xyz")).status_code == 400
    assert (await rufus.get("/v0/events", limit=1001)).status_code == 400
    assert (await rufus.get("/v0/events", page=0)).status_code == 400
    assert (await client.get("/v0/events")).status_code == 400  # no key: RUFUS's 400
    assert (await client.get("/v0/events", headers={"api_key": keys.rival})).json()["result"] == []
    # the operator corrects a participant from the CLI's service call
    await runtime.events.update_participant("acme", token, "P1", chip="C9", first_name="Jon")
    fixed = (await rufus.get(f"{url}/P1")).json()["result"]
    assert (fixed["chip"], fixed["first_name"], fixed["bib"]) == ("C9", "Jon", "1")


@pytest.mark.slow
def test_a_timing_app_reads_live_results_with_curl(server: Server) -> None:
    key = server.cli("keys", "create", "--account", "acme", "--access", "READ_WRITE")
    h = {"api_key": key}
    with httpx.Client(base_url=server.base_url, headers=h) as c:
        dev = c.post("/v0/devices", json={"model": "X", "serial_number": "FIN"}).json()["deviceid"]
        token = server.cli("events", "create", "--account", "acme", "--name", "Trail", "--start", START)
        server.cli("events", "add-point", "--account", "acme", "--event", token, "--deviceid", dev, "--name",
                   "FINISH")

        def curl(method: str, path: str, body: Any = None) -> tuple[int, Any]:
            argv = ["curl", "-sS", "-X", method, "-H", f"x-api-key: {key}", "-H", "Content-Type: application/json",
                    "-w", "\n%{http_code}", server.base_url + path]
            if body is not None:
                argv += ["-d", json.dumps(body)]
            out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout
            text, _, status = out.rpartition("\n")
            return int(status), json.loads(text)

        assert curl("GET", "/v0/events")[1]["result"][0]["event_token"] == token
        status, made = curl("POST", f"/v0/events/{token}/participants", {"participants_list": [{"bib": "42"}]})
        assert status == 201
        follow = CurlStream(f"{server.base_url}/v0/events/{token}/results/stream", f"api_key: {key}")
        try:
            assert json.loads(follow.wait_events(1)[0]["data"])["result"][0]["participants"] == []
            session = c.post("/v0/sessions", json={"deviceid": dev}).json()["token_session"]
            c.post("/v0/passings", json={"token_session": session, "passings_list": [
                {"bib": "42", "num_passing": 1, "timestamp": "2026-04-12T09:00:00.000Z"}]}).raise_for_status()
            deadline = time.monotonic() + 15  # one event per change: the session's opening, then the batch's
            while not any((s := json.loads(e["data"])["result"][0]["participants"]) and s[0]["laps"] == 1
                          for e in follow.events()):
                assert time.monotonic() < deadline, follow.lines
                time.sleep(0.05)
        finally:
            follow.close()
        status, results = curl("GET", f"/v0/events/{token}/results")
        assert status == 200 and results["result"][0]["participants"][0]["latest"] == "2026-04-12T09:00:00.000Z"
        assert made["result"][0]["participant_id"] == results["result"][0]["participants"][0]["participant_id"]
