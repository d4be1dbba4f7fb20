"""Issue 9's low findings on the HTTP dialects, in-process on both stores: a huge ``?wait=``, the
slash redirect that reflected ``Host``, coordinates that ``float()`` takes but the reference does
not, and timestamps that were accepted but could not be rendered (every later read a 500)."""

from __future__ import annotations

import httpx
import pytest

from sessionhub.core.clock import MAX_MS, MIN_MS, iso_ms, parse_iso
from tests.conftest import Keys
from tests.http.test_timing import Rufus


@pytest.fixture
def rufus(client: httpx.AsyncClient, keys: Keys) -> Rufus:
    return Rufus(client, keys.rw)


async def test_a_wait_of_thousands_of_digits_is_a_400_not_a_500(rufus: Rufus, client: httpx.AsyncClient,
                                                               keys: Keys) -> None:
    token = await rufus.open(await rufus.bind())
    r = await client.get(f"/v0/sessions/{token}", params={"wait": "9" * 5000},
                         headers={**rufus.h, "if-none-match": '"1"'})
    assert r.status_code == 400 and r.json()["field"] == "wait"
    r = await client.get("/v1/access/parking/session", params={"wait": "1" * 4301, "access_key": keys.rw})
    assert r.status_code == 400 and r.json()["code"] == "invalid_input"


async def test_the_slash_redirect_never_names_the_client_s_host(client: httpx.AsyncClient, keys: Keys) -> None:
    r = await client.get("/v0/devices/", params={"page": "1"}, headers={"host": "evil.example", "api_key": keys.rw})
    assert r.status_code == 307 and r.headers["location"] == "/v0/devices?page=1"
    assert (await client.get("/v1/access/parking/session/", headers={"host": "evil.example"})).headers[
        "location"] == "/v1/access/parking/session"
    # a path that would read as another host ("//evil.example") is not redirected at all
    r = await client.get("//evil.example/", headers={"host": "evil.example"})
    assert r.status_code == 404 and "location" not in r.headers
    assert (await client.get("/v0/nothing/", headers=rufus_headers(keys))).status_code == 404


def rufus_headers(keys: Keys) -> dict[str, str]:
    return {"api_key": keys.rw}


@pytest.mark.parametrize("bad", ["1_0", "١٢", " 12 ", "1e1", "12.", ".5", "+1", "0x10", "nan", "", "12,5"])
async def test_coordinates_are_plain_ascii_decimals(rufus: Rufus, client: httpx.AsyncClient, bad: str) -> None:
    token = await rufus.open(await rufus.bind())
    r = await client.post("/v0/passings", headers=rufus.h, json={"token_session": token, "passings_list": [
        {"bib": "1", "num_passing": 1, "timestamp": "2023-02-03T16:08:18.263Z", "latitude": bad}]})
    assert r.status_code == 400 and r.json()["field"] == "passings_list[0].latitude", r.text
    ok = await client.post("/v0/passings", headers=rufus.h, json={"token_session": token, "passings_list": [
        {"bib": "1", "num_passing": 1, "timestamp": "2023-02-03T16:08:18.263Z", "latitude": "-12.000",
         "longitude": 13.5}]})
    assert ok.status_code == 201
    got = (await rufus.get(f"/v0/passings/session/{token}")).json()["result"][0]
    assert (got["latitude"], got["longitude"]) == ("-12.000", "13.5")


@pytest.mark.parametrize("ts", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59",
                                "0001-01-01T00:00:00.000+00:01"])
async def test_a_timestamp_that_cannot_be_rendered_is_refused(rufus: Rufus, ts: str) -> None:
    token = await rufus.open(await rufus.bind())
    r = await rufus.send(token, 1, ts=ts)
    assert r.status_code == 400 and r.json()["field"] == "passings_list[0].timestamp", r.text
    assert (await rufus.get(f"/v0/sessions/{token}")).status_code == 200


async def test_the_extreme_timestamps_that_are_accepted_render_with_four_digit_years(rufus: Rufus) -> None:
    deviceid = await rufus.bind()
    token = await rufus.open(deviceid)
    assert (await rufus.send(token, 1, ts="0001-01-01T00:00:00Z")).status_code == 201
    assert (await rufus.send(token, 2, ts="9999-12-31T23:59:59.999Z")).status_code == 201
    assert (await rufus.send(token, 3, ts="9999-12-31T23:59:59.999+00:00")).status_code == 201
    session = (await rufus.get(f"/v0/sessions/{token}")).json()["result"][0]
    assert (session["first"], session["last"]) == ("0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z")
    stamps = [p["timestamp"] for p in (await rufus.get(f"/v0/passings/session/{token}")).json()["result"]]
    assert sorted(stamps) == ["0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"]
    assert (await rufus.get(f"/v0/passings/device/{deviceid}")).status_code == 200
    assert (await rufus.get(f"/v0/passings/device2/{deviceid}")).status_code == 200


def test_the_clock_renders_every_instant_it_accepts() -> None:
    assert iso_ms(MIN_MS) == "0001-01-01T00:00:00.000Z" and iso_ms(MAX_MS) == "9999-12-31T23:59:59.999Z"
    assert iso_ms(parse_iso("0099-03-04T05:06:07.008Z")) == "0099-03-04T05:06:07.008Z"
    for text in ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+00:01"]:
        with pytest.raises(ValueError):
            parse_iso(text)
