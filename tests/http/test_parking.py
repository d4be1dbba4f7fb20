"""The Coord parking dialect in process (httpx ASGI transport): every endpoint, identities, errors."""

from __future__ import annotations

import math
import uuid
from typing import Any

import httpx
import jwt
import pytest

from sessionhub.core import parking
from sessionhub.core.errors import InvalidInput, error_classes
from sessionhub.http import parking_wire
from sessionhub.runtime import Runtime
from tests.conftest import Keys

BASE = "/v1/access/parking"
USER = "00000000-0000-0000-0000-000000000001"
OTHER = "00000000-0000-0000-0000-000000000002"


@pytest.fixture
async def loc(runtime: Runtime, keys: Keys) -> int:
    return await runtime.parking.create_location("acme", "Lot A", 400, "USD", 15, 2000)


def q(key: str) -> dict[str, str]:
    return {"access_key": key}


def coord_error(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"code", "message"} and body["message"], body
    if code is not None:
        assert body["code"] == code, body
    return body  # type: ignore[no-any-return]


async def start(client: httpx.AsyncClient, key: str, loc: int, user: str = USER, **extra: Any) -> dict[str, Any]:
    r = await client.post(f"{BASE}/{loc}/session", params=q(key), json={"user_id": user, **extra})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_direct_session_start_get_end(client: httpx.AsyncClient, keys: Keys, loc: int) -> None:
    s = await start(client, keys.rw, loc)
    assert set(s) == {"id", "start_time", "user_id", "location_id"}
    assert isinstance(s["id"], int) and s["user_id"] == USER and s["location_id"] == loc
    assert s["start_time"].endswith("Z") and len(s["start_time"]) == 24
    r = await client.get(f"{BASE}/{loc}/session/{s['id']}", params=q(keys.read))
    assert r.json() == s
    r = await client.put(f"{BASE}/{loc}/session/{s['id']}/end", params=q(keys.write))
    ended = r.json()
    assert r.status_code == 200 and ended["end_time"] >= ended["start_time"]
    amount = 0 if ended["end_time"] == ended["start_time"] else 100  # any ms into an increment starts it
    assert ended["billing_info"] == {"cost": {"amount": amount, "currency": "USD"}}
    r = await client.get(f"{BASE}/{loc}/session/{s['id']}", params=q(keys.read))
    assert r.json() == ended  # the cached body was dropped on the change
    coord_error(await client.put(f"{BASE}/{loc}/session/{s['id']}/end", params=q(keys.rw)), 409, "illegal_transition")


async def test_barcode_session_through_the_gate(client: httpx.AsyncClient, keys: Keys, loc: int) -> None:
    s = await start(client, keys.rw, loc, redemption="barcode")
    code = s["redemption_info"]["barcode"]
    assert "start_time" not in s and len(code) == 20 and code.isdigit()
    coord_error(await client.put(f"{BASE}/{loc}/session/{s['id']}/end", params=q(keys.rw)), 409)
    scan = f"{BASE}/{loc}/gate/scan"
    coord_error(await client.post(scan, params=q(keys.rw), json={"barcode": code, "direction": "exit"}), 409)
    r = await client.post(scan, params=q(keys.write), json={"barcode": code, "direction": "entry"})
    assert r.status_code == 200 and "start_time" in r.json() and "end_time" not in r.json()
    got = (await client.get(f"{BASE}/{loc}/session/{s['id']}", params=q(keys.read))).json()
    assert got["start_time"] == r.json()["start_time"]
    coord_error(await client.post(scan, params=q(keys.rw), json={"barcode": code, "direction": "entry"}), 409)
    coord_error(await client.put(f"{BASE}/{loc}/session/{s['id']}/end", params=q(keys.rw)), 409)
    r = await client.post(scan, params=q(keys.rw), json={"barcode": code, "direction": "exit"})
    out = r.json()
    assert out["billing_info"]["cost"]["currency"] == "USD" and "end_time" in out
    assert (await client.get(f"{BASE}/{loc}/session/{s['id']}", params=q(keys.read))).json() == out
    coord_error(await client.post(scan, params=q(keys.rw), json={"barcode": code, "direction": "exit"}), 409)
    coord_error(await client.post(scan, params=q(keys.rw), json={"barcode": "1" * 20, "direction": "entry"}), 404,
                "barcode_not_found")


async def test_user_pass_opens_sessions(client: httpx.AsyncClient, keys: Keys, loc: int, runtime: Runtime) -> None:
    other_loc = await runtime.parking.create_location("acme", "Lot B", 100, "EUR")
    r = await client.post(f"{BASE}/barcode", params=q(keys.rw), json={"user_id": OTHER})
    assert r.status_code == 200 and r.json()["user_id"] == OTHER
    code = r.json()["barcode"]
    scan = f"{BASE}/{loc}/gate/scan"
    coord_error(await client.post(scan, params=q(keys.rw), json={"barcode": code, "direction": "exit"}), 409)
    first = (await client.post(scan, params=q(keys.rw), json={"barcode": code, "direction": "entry"})).json()
    assert first["user_id"] == OTHER and first["redemption_info"] == {"barcode": code}
    coord_error(await client.post(scan, params=q(keys.rw), json={"barcode": code, "direction": "entry"}), 409)
    coord_error(await client.post(f"{BASE}/{other_loc}/gate/scan", params=q(keys.rw),
                                  json={"barcode": code, "direction": "exit"}), 409)
    done = (await client.post(scan, params=q(keys.rw), json={"barcode": code, "direction": "exit"})).json()
    assert done["id"] == first["id"] and "billing_info" in done
    again = (await client.post(f"{BASE}/{other_loc}/gate/scan", params=q(keys.rw),
                               json={"barcode": code, "direction": "entry"})).json()
    assert again["id"] != first["id"] and again["location_id"] == other_loc
    # a pass bound to one location is unknown at another's gate
    bound = (await client.post(f"{BASE}/barcode", params=q(keys.rw), json={"user_id": USER, "location_id": loc})).json()
    assert bound["location_id"] == loc
    coord_error(await client.post(f"{BASE}/{other_loc}/gate/scan", params=q(keys.rw),
                                  json={"barcode": bound["barcode"], "direction": "entry"}), 404)
    coord_error(await client.post(f"{BASE}/barcode", params=q(keys.rw), json={"user_id": USER, "location_id": 999}),
                404, "location_not_found")


async def test_listings(client: httpx.AsyncClient, keys: Keys, loc: int) -> None:
    a = await start(client, keys.rw, loc, USER)
    await client.put(f"{BASE}/{loc}/session/{a['id']}/end", params=q(keys.rw))
    b = await start(client, keys.rw, loc, USER)
    c = await start(client, keys.rw, loc, OTHER, redemption="barcode")
    r = await client.get(f"{BASE}/{loc}/session", params=q(keys.read))
    assert [s["id"] for s in r.json()] == [a["id"], b["id"], c["id"]]
    r = await client.get(f"{BASE}/{loc}/session", params={**q(keys.read), "after_id": str(a["id"]), "limit": "1"})
    assert [s["id"] for s in r.json()] == [b["id"]]
    r = await client.get(f"{BASE}/session", params={**q(keys.read), "user_id": USER})
    mine = r.json()
    assert [s["id"] for s in mine] == [a["id"], b["id"]]
    assert sum("end_time" not in s for s in mine) == 1
    coord_error(await client.get(f"{BASE}/session", params=q(keys.read)), 400)  # no user named
    # one active session per user
    coord_error(await client.post(f"{BASE}/{loc}/session", params=q(keys.rw), json={"user_id": USER}), 409)


async def test_jwt_identity(client: httpx.AsyncClient, keys: Keys, loc: int) -> None:
    r = await client.post("/v1/users/create_jwt", params=q(keys.rw), json={"external_uid": "alice"})
    token = r.json()["jwt_token"]
    r2 = await client.post("/v1/users/create_jwt", params=q(keys.rw), json={"email": "alice"})
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 3600
    assert jwt.decode(r2.json()["jwt_token"], options={"verify_signature": False})["sub"] == claims["sub"]
    auth = {"Authorization": f"Bearer {token}"}
    r = await client.post(f"{BASE}/{loc}/session", params=q(keys.rw), headers=auth)
    s = r.json()
    assert r.status_code == 200 and s["user_id"] == claims["sub"] and uuid.UUID(s["user_id"]).version == 5
    r = await client.get(f"{BASE}/session", params=q(keys.read), headers=auth)
    assert [x["id"] for x in r.json()] == [s["id"]]
    r = await client.post(f"{BASE}/barcode", params=q(keys.rw), headers=auth)
    assert r.json()["user_id"] == claims["sub"]
    # the same user_id in the body is fine, another one is contradictory
    coord_error(await client.post(f"{BASE}/barcode", params=q(keys.rw), headers=auth, json={"user_id": USER}), 400)
    # tokens of another account, forged, malformed, wrongly introduced, expired
    rival = (await client.post("/v1/users/create_jwt", params=q(keys.rival), json={"external_uid": "alice"})).json()
    coord_error(await client.get(f"{BASE}/session", params=q(keys.read),
                                 headers={"Authorization": f"Bearer {rival['jwt_token']}"}), 401)
    forged = jwt.encode({**claims, "sub": OTHER}, "not-our-secret-not-our-secret-32b!", algorithm="HS256")
    expired = jwt.encode({**claims, "exp": 1}, "x" * 32, algorithm="HS256")
    for header in (f"Bearer {forged}", "Bearer not.a.jwt", "Basic abc", "Bearer ", f"Bearer {expired}"):
        coord_error(await client.get(f"{BASE}/session", params=q(keys.read), headers={"Authorization": header}), 401)


async def test_jwt_expiry_uses_the_clock(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = (await client.post("/v1/users/create_jwt", params=q(keys.rw), json={"external_uid": "bob"})).json()
    auth = {"Authorization": f"Bearer {token['jwt_token']}"}
    assert (await client.get(f"{BASE}/session", params=q(keys.read), headers=auth)).status_code == 200
    clock = runtime.parking.users._clock
    later = clock.now_ms() + 3601 * 1000
    monkeypatch.setattr(clock, "now_ms", lambda: later)
    body = coord_error(await client.get(f"{BASE}/session", params=q(keys.read), headers=auth), 401)
    assert "expired" in body["message"]


async def test_jwt_secret_is_kept_in_the_database(db_url: str, keys: Keys, runtime: Runtime) -> None:
    from sessionhub.config import Settings
    from sessionhub.runtime import build

    key = await runtime.access.authenticate(keys.rw)
    assert key is not None
    token = await runtime.parking.users.issue(key, "carol")
    other = build(Settings(db=db_url))  # a second process on the same database
    await other.start()
    try:
        assert await other.parking.users.user(key, token, None) == await runtime.parking.users.user(key, token, None)
    finally:
        await other.stop()


async def test_simulate_redemption_for_test_accounts_only(
    client: httpx.AsyncClient, keys: Keys, loc: int, runtime: Runtime
) -> None:
    s = await start(client, keys.rw, loc, redemption="barcode")
    path = f"{BASE}/testing/{loc}/{s['id']}/simulate_redemption"
    coord_error(await client.post(path, params=q(keys.rw), json={"duration_m": 30}), 403, "forbidden")
    sandbox = await runtime.access.create_key("sandbox", "READ_WRITE", test_account=True)
    lot = await runtime.parking.create_location("sandbox", "Test lot", 400, "USD", daily_max=2000)
    t = await start(client, sandbox, lot, redemption="barcode")
    path = f"{BASE}/testing/{lot}/{t['id']}/simulate_redemption"
    r = await client.post(path, params=q(sandbox), json={"duration_m": 31})
    done = r.json()
    assert r.status_code == 200 and done["billing_info"] == {"cost": {"amount": 300, "currency": "USD"}}
    from sessionhub.core.clock import parse_iso
    assert parse_iso(done["end_time"]) - parse_iso(done["start_time"]) == 31 * 60_000
    coord_error(await client.post(path, params=q(sandbox), json={"duration_m": 31}), 409)
    direct = await start(client, sandbox, lot, OTHER)
    coord_error(await client.post(f"{BASE}/testing/{lot}/{direct['id']}/simulate_redemption", params=q(sandbox),
                                  json={"duration_m": 5}), 409)
    for bad in ({"duration_m": -1}, {"duration_m": 10**9}, {"duration_m": "5"}, {}, {"duration_m": 5, "x": 1}):
        coord_error(await client.post(path, params=q(sandbox), json=bad), 400, "invalid_input")


async def test_keys_and_isolation(client: httpx.AsyncClient, keys: Keys, loc: int, runtime: Runtime) -> None:
    s = await start(client, keys.rw, loc)
    one = f"{BASE}/{loc}/session/{s['id']}"
    coord_error(await client.get(one), 401, "unauthorized")
    coord_error(await client.get(one, params=q("shk_nope")), 401)
    coord_error(await client.post(f"{BASE}/{loc}/session", params=q(keys.read), json={"user_id": OTHER}), 403)
    coord_error(await client.get(one, params=q(keys.write)), 403)
    # another account sees nothing: 404 exactly as missing objects
    for r in (
        await client.get(one, params=q(keys.rival)),
        await client.get(f"{BASE}/{loc}/session", params=q(keys.rival)),
        await client.put(f"{one}/end", params=q(keys.rival)),
        await client.post(f"{BASE}/{loc}/session", params=q(keys.rival), json={"user_id": OTHER}),
        await client.post(f"{BASE}/{loc}/gate/scan", params=q(keys.rival), json={"barcode": "1", "direction": "entry"}),
    ):
        coord_error(r, 404)
    rival_loc = await runtime.parking.create_location("rival", "Their lot", 100, "USD")
    mine = await start(client, keys.rw, loc, OTHER, redemption="barcode")
    coord_error(await client.post(f"{BASE}/{rival_loc}/gate/scan", params=q(keys.rival),
                                  json={"barcode": mine["redemption_info"]["barcode"], "direction": "entry"}), 404)
    r = await client.get(f"{BASE}/session", params={**q(keys.rival), "user_id": USER})
    assert r.json() == []
    # a session of another location of the same account is not under this location
    lot_b = await runtime.parking.create_location("acme", "Lot B", 100, "USD")
    coord_error(await client.get(f"{BASE}/{lot_b}/session/{s['id']}", params=q(keys.read)), 404, "session_not_found")
    coord_error(await client.get(f"{BASE}/999/session", params=q(keys.read)), 404, "location_not_found")


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "{loc}/session", b"{", 400),
        ("POST", "{loc}/session", b"[]", 400),
        ("POST", "{loc}/session", b'{"user_id": "not-a-uuid"}', 400),
        ("POST", "{loc}/session", b'{"user_id": 5}', 400),
        ("POST", "{loc}/session", b'{"user_id": "%s", "redemption": "qr"}' % USER.encode(), 400),
        ("POST", "{loc}/session", b'{"user_id": "%s", "redemtion": "barcode"}' % USER.encode(), 400),
        ("POST", "{loc}/session", b"{}", 400),
        ("POST", "{loc}/session", b"\xff\xfe", 400),
        ("POST", "abc/session", b'{"user_id": "%s"}' % USER.encode(), 400),
        ("POST", "0/session", b'{"user_id": "%s"}' % USER.encode(), 400),
        ("POST", "99999999999999999999/session", b'{"user_id": "%s"}' % USER.encode(), 400),
        ("GET", "{loc}/session/-1", b"", 400),
        ("GET", "{loc}/session/1e3", b"", 400),
        ("GET", "{loc}/session/123456", b"", 404),
        ("GET", "{loc}/session?limit=0", b"", 400),
        ("GET", "{loc}/session?after_id=x", b"", 400),
        ("PUT", "{loc}/session/abc/end", b"", 400),
        ("POST", "{loc}/gate/scan", b'{"barcode": "1", "direction": "sideways"}', 400),
        ("POST", "{loc}/gate/scan", b'{"barcode": "", "direction": "entry"}', 400),
        ("POST", "{loc}/gate/scan", b'{"barcode": "%s", "direction": "entry"}' % (b"9" * 65), 400),
        ("POST", "{loc}/gate/scan", b'{"direction": "entry"}', 400),
        ("POST", "barcode", b'{"location_id": -3, "user_id": "%s"}' % USER.encode(), 400),
        ("POST", "barcode", b"{}", 400),
        ("GET", "session?user_id=nope", b"", 400),
        ("DELETE", "{loc}/session", b"", 405),
        ("GET", "nowhere/at/all", b"", 404),
        ("POST", "{loc}/session", b'{"user_id": "%s", "pad": "%s"}' % (USER.encode(), b"x" * 70_000), 413),
    ],
)
async def test_bad_input_gets_a_coord_error(
    client: httpx.AsyncClient, keys: Keys, loc: int, method: str, path: str, body: bytes, status: int
) -> None:
    url = f"{BASE}/{path.format(loc=loc)}"
    sep = "&" if "?" in url else "?"
    r = await client.request(method, f"{url}{sep}access_key={keys.rw}", content=body)
    coord_error(r, status)


async def test_create_jwt_bad_input(client: httpx.AsyncClient, keys: Keys) -> None:
    for body in (b"{}", b'{"external_uid": "  "}', b'{"external_uid": 3}', b"nope", b'{"external_uid": "%s"}' % (
            b"x" * 300)):
        coord_error(await client.post("/v1/users/create_jwt", params=q(keys.rw), content=body), 400)
    coord_error(await client.post("/v1/users/create_jwt", json={"external_uid": "a"}), 401)
    coord_error(await client.post("/v1/users/create_jwt", params=q(keys.read), json={"external_uid": "a"}), 403)
    coord_error(await client.get("/v1/users/create_jwt", params=q(keys.rw)), 405)


def test_every_error_class_has_a_coord_body() -> None:
    for cls in error_classes():
        assert cls in parking_wire.BODIES, cls.__name__


async def test_fast_lane_and_full_stack_agree(client: httpx.AsyncClient, keys: Keys, loc: int) -> None:
    s = await start(client, keys.rw, loc, redemption="barcode")
    one = f"{BASE}/{loc}/session/{s['id']}"
    fast = await client.get(f"{one}?access_key={keys.read}")
    full = await client.get(f"{one}?access_key=%{ord(keys.read[0]):02X}{keys.read[1:]}")  # encoded: not the lane
    assert fast.status_code == full.status_code == 200 and fast.content == full.content
    assert fast.headers["content-type"] == "application/json"
    assert (await client.get(f"{one}?access_key=x&access_key={keys.read}")).json() == s  # the last one counts
    coord_error(await client.get(f"{one}?access_key={keys.read}&access_key=x"), 401)
    coord_error(await client.get(f"{BASE}/{loc}/session/{s['id'] + 1}?access_key={keys.read}"), 404)


async def test_an_unexpected_failure_is_a_coord_500_without_a_traceback(
    client: httpx.AsyncClient, keys: Keys, loc: int, runtime: Runtime, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(runtime.parking, "session_body", broken)
    r = await client.get(f"{BASE}/{loc}/session/1", params=q(keys.read))
    assert r.status_code == 500 and r.json() == {"code": "internal_error", "message": "internal error"}
    assert "secret" not in r.text and "secret internals" in caplog.text


async def test_an_invalid_bearer_token_is_a_401_on_every_call(client: httpx.AsyncClient, keys: Keys, loc: int) -> None:
    s = await start(client, keys.rw, loc)
    pending = await start(client, keys.rw, loc, OTHER, redemption="barcode")
    calls = [
        ("GET", f"{BASE}/{loc}/session"), ("POST", f"{BASE}/{loc}/session"),
        ("GET", f"{BASE}/{loc}/session/{s['id']}"), ("GET", f"{BASE}/{loc}/session/{s['id']}/stream"),
        ("GET", f"{BASE}/{loc}/stream"), ("PUT", f"{BASE}/{loc}/session/{s['id']}/end"),
        ("POST", f"{BASE}/barcode"), ("GET", f"{BASE}/session"),
        ("POST", f"{BASE}/{loc}/gate/scan"), ("POST", f"{BASE}/testing/{loc}/{pending['id']}/simulate_redemption"),
        ("POST", "/v1/users/testing/create_jwt"),
    ]
    bodies = {"scan": {"barcode": "1", "direction": "entry"}, "simulate_redemption": {"duration_m": 1},
              "create_jwt": {"email": "a"}}
    for header in ("Bearer not.a.jwt", "Basic abc", "Bearer "):
        for method, path in calls:
            r = await client.request(method, path, params=q(keys.rw), headers={"Authorization": header},
                                     json=bodies.get(path.rsplit("/", 1)[1], {}))
            coord_error(r, 401, "unauthorized")
    # nothing was changed by the refused calls, and the polled GET (fast lane) checks the token too
    assert (await client.get(f"{BASE}/{loc}/session/{s['id']}", params=q(keys.rw))).json() == s


async def test_a_user_jwt_lists_that_users_sessions_at_a_location(
    client: httpx.AsyncClient, keys: Keys, loc: int, runtime: Runtime
) -> None:
    other_loc = await runtime.parking.create_location("acme", "Lot B", 400, "USD")
    token = (await client.post("/v1/users/create_jwt", params=q(keys.rw), json={"external_uid": "ann"})).json()
    auth = {"Authorization": f"Bearer {token['jwt_token']}"}
    mine = (await client.post(f"{BASE}/{loc}/session", params=q(keys.rw), headers=auth)).json()
    await start(client, keys.rw, loc, USER)
    ended = (await client.put(f"{BASE}/{loc}/session/{mine['id']}/end", params=q(keys.rw))).json()
    elsewhere = (await client.post(f"{BASE}/{other_loc}/session", params=q(keys.rw), headers=auth)).json()
    r = await client.get(f"{BASE}/{loc}/session", params=q(keys.read), headers=auth)
    assert r.status_code == 200 and r.json() == [ended]
    assert [x["id"] for x in (await client.get(f"{BASE}/{other_loc}/session", params=q(keys.read),
                                                 headers=auth)).json()] == [elsewhere["id"]]
    assert len((await client.get(f"{BASE}/{loc}/session", params=q(keys.read))).json()) == 2  # the partner's view
    tag = r.headers["etag"]
    again = await client.get(f"{BASE}/{loc}/session", params=q(keys.read), headers={**auth, "if-none-match": tag})
    assert again.status_code == 304


async def test_the_sandbox_create_jwt(client: httpx.AsyncClient, runtime: Runtime, keys: Keys) -> None:
    sandbox = await runtime.access.create_key("sandbox", "READ_WRITE", test_account=True)
    r = await client.post("/v1/users/testing/create_jwt", params=q(sandbox), json={"email": "dev@example.com"})
    assert r.status_code == 200 and set(r.json()) == {"jwt_token"}
    loc = await runtime.parking.create_location("sandbox", "Test lot", 350, "USD")
    auth = {"Authorization": f"Bearer {r.json()['jwt_token']}"}
    s = (await client.post(f"{BASE}/{loc}/session", params=q(sandbox), headers=auth,
                           json={"redemption": "barcode"})).json()
    done = await client.post(f"{BASE}/testing/{loc}/{s['id']}/simulate_redemption", params=q(sandbox),
                             headers=auth, json={"duration_m": 60})
    assert done.status_code == 200 and done.json()["billing_info"]["cost"]["amount"] == 350
    coord_error(await client.post("/v1/users/testing/create_jwt", params=q(keys.rw), json={"email": "a"}), 403)
    coord_error(await client.post("/v1/users/testing/create_jwt", json={"email": "a"}), 401)
    coord_error(await client.post("/v1/users/testing/create_jwt", params=q(sandbox), json={}), 400)
    coord_error(await client.post("/v1/users/testing/create_jwt", params=q(sandbox), content=b"[1]"), 400)


async def test_create_jwt_takes_a_key_of_the_account_as_coords_server_token(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    def call(token: str) -> Any:
        return client.post("/v1/users/create_jwt", params=q(keys.write), json={"external_uid": "ann"},
                           headers={"Authorization": f"Bearer {token}"})

    assert (await call(keys.rw)).status_code == 200
    assert (await call(keys.write)).status_code == 200
    for refused in (keys.read, keys.rival, "shk_nope", "a.b.c"):
        coord_error(await call(refused), 401, "unauthorized")


SEARCH = "/v1/search/parking/location"


async def test_search_lists_the_accounts_locations_with_rates(
    client: httpx.AsyncClient, keys: Keys, loc: int, runtime: Runtime
) -> None:
    other = await runtime.parking.create_location("acme", "Lot B", 350, "EUR", 60)
    await runtime.parking.create_location("rival", "Their lot", 100, "USD")
    r = await client.get(SEARCH, params=q(keys.read))
    assert r.status_code == 200
    found = r.json()
    assert [x["id"] for x in found] == [loc, other]
    assert found[0] | {"created": None} == {
        "id": loc, "name": "Lot A", "online_access_type": "instant", "created": None,
        "rates": [{"name": "Hourly rate", "rate_type": "hourly", "price_per_hour": {"amount": 400, "currency": "USD"},
                   "increment_m": 15, "daily_max": {"amount": 2000, "currency": "USD"}}]}
    assert "daily_max" not in found[1]["rates"][0]
    priced = (await client.get(SEARCH, params={**q(keys.read), "duration_m": "90", "location_ids": f"{other}"})).json()
    assert [(x["id"], x["cost"]) for x in priced] == [(other, {"amount": 700, "currency": "EUR"})]  # 2 started hours
    one = await client.get(f"{SEARCH}/{loc}", params={**q(keys.read), "duration_m": "15",
                                                       "parking_start_time": "2018-04-12T00:14:20.292Z"})
    assert one.status_code == 200 and one.json()["cost"] == {"amount": 100, "currency": "USD"}
    assert (await client.get(SEARCH, params=q(keys.rival))).json()[0]["name"] == "Their lot"
    coord_error(await client.get(f"{SEARCH}/{loc}", params=q(keys.rival)), 404, "location_not_found")


async def test_search_around_a_point_finds_the_locations_within_the_radius_nearest_first(
    client: httpx.AsyncClient, keys: Keys, loc: int, runtime: Runtime
) -> None:
    """Times Square; Bryant Park is ~0.6 km away, Battery Park ~6.5 km, Newark airport ~17 km; ``loc``
    has no coordinates, so it is in no area."""
    create = runtime.parking.create_location
    battery = await create("acme", "Battery", 500, "USD", latitude=40.7033, longitude=-74.0170)
    bryant = await create("acme", "Bryant", 500, "USD", latitude=40.7536, longitude=-73.9832)
    newark = await create("acme", "Newark", 500, "USD", latitude=40.6895, longitude=-74.1745)
    await create("rival", "Their lot", 100, "USD", latitude=40.7540, longitude=-73.9840)
    point = {**q(keys.read), "latitude": "40.7580", "longitude": "-73.9855"}
    near = (await client.get(SEARCH, params=point)).json()  # the default radius: 5 km
    assert [x["id"] for x in near] == [bryant] and 0.5 < near[0]["distance_km"] < 0.6
    wider = (await client.get(SEARCH, params={**point, "radius_km": "10", "duration_m": "60"})).json()
    assert [x["id"] for x in wider] == [bryant, battery] and 6.0 < wider[1]["distance_km"] < 7.0
    assert wider[1]["cost"] == {"amount": 500, "currency": "USD"}
    assert [x["id"] for x in (await client.get(SEARCH, params={**point, "radius_km": "0"})).json()] == []
    farthest = (await client.get(SEARCH, params={**point, "radius_km": "100"})).json()
    assert [x["id"] for x in farthest] == [bryant, battery, newark] and 16 < farthest[2]["distance_km"] < 18
    assert "distance_km" not in (await client.get(SEARCH, params=q(keys.read))).json()[0]
    assert [x["id"] for x in (await client.get(SEARCH, params={**point, "location_ids": f"{loc},{battery}",
                                                               "radius_km": "10"})).json()] == [battery]


def test_great_circle_distances_match_published_figures() -> None:
    assert abs(parking.distance_km(51.5074, -0.1278, 48.8566, 2.3522) - 343.5) < 1.0  # London-Paris
    assert abs(parking.distance_km(0, 0, 0, 180) - math.pi * parking.EARTH_RADIUS_KM) < 1e-6  # antipodes
    assert parking.distance_km(12.5, 99.0, 12.5, 99.0) == 0.0


@pytest.mark.parametrize("where", [{"latitude": 91.0, "longitude": 0.0}, {"latitude": 1.0},
                                   {"latitude": 1.0, "longitude": math.inf}, {"longitude": -181.0, "latitude": 0.0}])
async def test_a_location_is_placed_with_both_coordinates_in_range(runtime: Runtime, where: dict[str, float]) -> None:
    with pytest.raises(InvalidInput):
        await runtime.parking.create_location("acme", "Nowhere", 100, "USD", **where)  # type: ignore[arg-type]


@pytest.mark.parametrize("params", [
    {"latitude": "91", "longitude": "0"}, {"latitude": "1"}, {"radius_km": "1"}, {"latitude": "nan", "longitude": "0"},
    {"latitude": "1", "longitude": "0", "radius_km": "1e9"}, {"location_ids": "1,x"}, {"location_ids": "0"},
    {"location_ids": ",".join(["1"] * 1001)}, {"duration_m": "-1"}, {"duration_m": "999999999"},
    {"parking_start_time": "yesterday"}, {"latitude": "1" * 40, "longitude": "0"},
    {"latitude": "1_0", "longitude": "0"}, {"latitude": "١٢", "longitude": "0"}, {"latitude": " 12", "longitude": "0"},
    {"latitude": "inf", "longitude": "0"}, {"latitude": "1", "longitude": "0", "radius_km": "-1"},
])
async def test_search_refuses_bad_parameters(client: httpx.AsyncClient, keys: Keys, params: dict[str, str]) -> None:
    coord_error(await client.get(SEARCH, params={**q(keys.read), **params}), 400, "invalid_input")


async def test_search_needs_a_key_and_a_valid_path(client: httpx.AsyncClient, keys: Keys) -> None:
    coord_error(await client.get(SEARCH), 401)
    coord_error(await client.get(SEARCH, params=q(keys.write)), 403)
    coord_error(await client.get(f"{SEARCH}/abc", params=q(keys.read)), 400)
    coord_error(await client.post(SEARCH, params=q(keys.read)), 405)
    coord_error(await client.get("/v1/search/parking/nope", params=q(keys.read)), 404, "route_not_found")
    coord_error(await client.get(SEARCH, params=q(keys.read), headers={"Authorization": "Bearer x"}), 401)


async def test_a_gated_location_hands_out_barcodes_unasked(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    gated = await runtime.parking.create_location("acme", "Gated garage", 400, "USD", gated=True)
    s = await start(client, keys.rw, gated)  # Coord's body: nothing about barcodes
    assert "start_time" not in s and len(s["redemption_info"]["barcode"]) == 20
    entered = (await client.post(f"{BASE}/{gated}/gate/scan", params=q(keys.write),
                                 json={"barcode": s["redemption_info"]["barcode"], "direction": "entry"})).json()
    assert entered["id"] == s["id"] and "start_time" in entered
    coord_error(await client.put(f"{BASE}/{gated}/session/{s['id']}/end", params=q(keys.rw)), 409)  # physical exit
    # sessionhub's override still wins, both ways
    instant = await start(client, keys.rw, gated, OTHER, redemption="instant")
    assert "start_time" in instant and "redemption_info" not in instant
    found = (await client.get(f"{SEARCH}/{gated}", params=q(keys.read))).json()
    assert found["online_access_type"] == "barcode"
    coord_error(await client.post(f"{BASE}/{gated}/session", params=q(keys.rw),
                                  json={"user_id": str(uuid.uuid4()), "redemption": "maybe"}), 400)


async def test_a_plate_stands_in_for_a_barcode_at_the_gate(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    gated = await runtime.parking.create_location("acme", "Gated garage", 400, "USD", gated=True)
    token = (await client.post("/v1/users/create_jwt", params=q(keys.rw), json={"external_uid": "ann"})).json()
    auth = {"Authorization": f"Bearer {token['jwt_token']}"}
    r = await client.put("/v1/users/user/current/vehicle", params=q(keys.rw), headers=auth,
                         json={"license_plate": {"text": "7abc 123", "country": "us", "subdivision": "CA"}})
    assert r.status_code == 200 and r.json() == {
        "license_plate": {"text": "7abc 123", "country": "US", "subdivision": "CA"}, "plate": "7ABC123"}
    me = (await client.get("/v1/users/user/current", params=q(keys.read), headers=auth)).json()
    assert me["vehicle"]["plate"] == "7ABC123" and uuid.UUID(me["user_id"])

    def scan(plate: str, direction: str) -> Any:
        return client.post(f"{BASE}/{gated}/gate/scan", params=q(keys.write),
                           json={"plate": plate, "direction": direction})

    # no session yet: the camera's read opens a started one (with a barcode, so it leaves at the gate)
    entered = (await scan("7ABC-123", "entry")).json()
    assert entered["user_id"] == me["user_id"] and "start_time" in entered and "redemption_info" in entered
    coord_error(await scan("7ABC123", "entry"), 409, "illegal_transition")  # second entry
    left = (await scan("7abc123", "exit")).json()
    assert left["id"] == entered["id"] and left["billing_info"]["cost"]["amount"] in (0, 100)
    coord_error(await scan("7ABC123", "exit"), 409)  # exit before entry
    # a pending session the app created is scanned in by the plate, like its barcode would be
    pending = (await client.post(f"{BASE}/{gated}/session", params=q(keys.rw), headers=auth)).json()
    assert (await scan("7ABC123", "entry")).json()["id"] == pending["id"]
    coord_error(await scan("NOPE1", "entry"), 404, "plate_not_found")
    # one plate, one user; bad plates and scans
    coord_error(await client.put("/v1/users/user/current/vehicle", params={**q(keys.rw), "user_id": USER},
                                 json={"license_plate": {"text": "7ABC123"}}), 409, "already_exists")
    for plate in ({"text": "!!"}, {"text": "x" * 33}, {"text": "7ABC", "country": "USA"}, {"text": "7"} | {"z": 1}):
        coord_error(await client.put("/v1/users/user/current/vehicle", params=q(keys.rw), headers=auth,
                                     json={"license_plate": plate}), 400)
    coord_error(await client.put("/v1/users/user/current/vehicle", params=q(keys.rw),
                                 json={"license_plate": {"text": "7ABC"}}), 400)  # nobody named
    coord_error(await client.put("/v1/users/user/current/vehicle", params=q(keys.read), headers=auth,
                                 json={"license_plate": {"text": "7ABC"}}), 403)
    for body in ({"direction": "entry"}, {"direction": "entry", "plate": "7ABC123", "barcode": "1"}):
        coord_error(await client.post(f"{BASE}/{gated}/gate/scan", params=q(keys.write), json=body), 400)
    coord_error(await client.put("/v1/users/user/current/vehicle", params=q(keys.rw),
                                 headers={"Authorization": "Bearer x.y.z"}, json={"license_plate": {"text": "1"}}), 401)
