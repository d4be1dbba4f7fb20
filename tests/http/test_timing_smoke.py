from __future__ import annotations

import httpx

from tests.conftest import Keys


async def test_bind_open_record_read(client: httpx.AsyncClient, keys: Keys) -> None:
    h = {"api_key": keys.rw}
    r = await client.post("/v0/devices", json={"model": "X1", "serial_number": "S-1"}, headers=h)
    assert r.status_code == 201, r.text
    deviceid = r.json()["deviceid"]
    r = await client.post("/v0/sessions", json={"deviceid": deviceid, "alias": "START-5K"}, headers=h)
    token = r.json()["token_session"]
    r = await client.post("/v0/passings", headers=h, json={"token_session": token, "passings_list": [
        {"bib": "7", "num_passing": 1, "timestamp": "2023-02-03T16:08:18.263Z"}]})
    assert r.json()["inserted_count"] == 1
    r = await client.get(f"/v0/sessions/{token}", headers=h)
    assert r.json()["result"][0]["passings"] == 1
