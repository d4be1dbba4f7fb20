"""A U+0000 in any text a client sends is a 400 in the dialect's error shape, on every engine.

PostgreSQL cannot store it (it was a 500 there), SQLite would (it was stored): the store's seam
refuses it for both (store/db.py), and every HTTP dialect renders that InvalidInput as its 400.
"""

from __future__ import annotations

import httpx

from sessionhub.runtime import Runtime
from tests.conftest import Keys

TS = "2026-03-01T10:00:00.000Z"


async def test_rufus_refuses_a_nul_in_a_passing_and_stores_nothing(client: httpx.AsyncClient, keys: Keys) -> None:
    h = {"api_key": keys.rw}
    r = await client.post("/v0/devices", json={"model": "X1", "serial_number": "S-1"}, headers=h)
    deviceid = r.json()["deviceid"]
    token = (await client.post("/v0/sessions", json={"deviceid": deviceid}, headers=h)).json()["token_session"]
    passings = [{"bib": "7", "num_passing": 1, "timestamp": TS}, {"bib": "8\u0000", "num_passing": 2, "timestamp": TS}]
    r = await client.post("/v0/passings", json={"token_session": token, "passings_list": passings}, headers=h)
    assert r.status_code == 400 and r.json()["description"] == "Bad request", r.text
    assert (await client.get(f"/v0/sessions/{token}", headers=h)).json()["result"][0]["passings"] == 0
    r = await client.post("/v0/devices", json={"model": "X\u00001", "serial_number": "S-2"}, headers=h)
    assert r.status_code == 400 and r.json()["description"] == "Bad request", r.text
    r = await client.post("/v0/sessions", json={"deviceid": deviceid, "alias": "\u0000"}, headers=h)
    assert r.status_code == 400 and r.json()["description"] == "Bad request", r.text


async def test_coord_refuses_a_nul_in_a_barcode(client: httpx.AsyncClient, runtime: Runtime, keys: Keys) -> None:
    loc = await runtime.parking.create_location("acme", "Lot A", 400, "USD", 15, 2000)
    r = await client.post(f"/v1/access/parking/{loc}/gate/scan", params={"access_key": keys.rw},
                          json={"barcode": "1234\u00005678", "direction": "entry"})
    assert r.status_code == 400, r.text
    body = r.json()
    assert set(body) == {"code", "message"} and body["code"] == "invalid_input", body
