"""The Coord parking dialect over a real socket: a ``sessionhub serve`` process driven with curl."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import yaml

from tests.conftest import Server

pytestmark = [pytest.mark.slow, pytest.mark.system]  # curl

SEED = Path(__file__).parents[1] / "seeds" / "coord-parking-access-get-session.yaml"
USER = "00000000-0000-0000-0000-000000000000"
OTHER = "11111111-2222-3333-4444-555555555555"


def curl(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """Run curl; return (status, decoded JSON body or the raw text when it is not JSON)."""
    args = ["curl", "-sS", "-X", method, "-w", "\n%{http_code}", "--max-time", "20"]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
    out = subprocess.run([*args, url], input=body, capture_output=True, check=True, timeout=30).stdout
    text, _, status = out.decode().rpartition("\n")
    try:
        return int(status), json.loads(text)
    except ValueError:
        return int(status), text


class Coord:
    """The dialect's URLs for one server and key."""

    def __init__(self, server: Server, key: str) -> None:
        self.base, self.key = server.base_url, key

    def url(self, path: str, key: str | None = None, **params: str) -> str:
        query = urlencode({"access_key": key or self.key, **params})
        return f"{self.base}/v1/access/parking{path}?{query}"

    def call(self, method: str, path: str, body: Any = None, key: str | None = None,
             headers: dict[str, str] | None = None, **params: str) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        return curl(method, self.url(path, key, **params), data, headers)

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, got = self.call(method, path, body, **kw)
        assert status == 200, got
        return got


def refused(status_and_body: tuple[int, Any], status: int) -> None:
    got, body = status_and_body
    assert got == status, body
    assert isinstance(body, dict) and set(body) == {"code", "message"}, body


def poll(c: Coord, path: str, until: str, timeout: float = 10.0) -> dict[str, Any]:
    """GET ``path`` until its session has field ``until`` (how an app shows live feedback)."""
    deadline = time.monotonic() + timeout
    while True:
        got: dict[str, Any] = c.ok("GET", path)
        if until in got or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


@pytest.fixture
def setup(server: Server) -> tuple[Coord, int, str]:
    key = server.cli("keys", "create", "--account", "acme", "--access", "READ_WRITE")
    location = server.cli("locations", "create", "--account", "acme", "--name", "Main St garage", "--rate", "400",
                          "--currency", "USD", "--daily-max", "2000")
    assert location.isdigit()
    return Coord(server, key), int(location), key


def test_pending_session_through_the_gate_with_polling(setup: tuple[Coord, int, str], server: Server) -> None:
    c, loc, _ = setup
    gate = server.cli("keys", "create", "--account", "acme", "--access", "WRITE", "--alias", "gate")
    s = c.ok("POST", f"/{loc}/session", {"user_id": USER, "redemption": "barcode"})
    code = s["redemption_info"]["barcode"]
    one = f"/{loc}/session/{s['id']}"
    assert "start_time" not in c.ok("GET", one)
    entered = c.ok("POST", f"/{loc}/gate/scan", {"barcode": code, "direction": "entry"}, key=gate)
    inside = poll(c, one, "start_time")
    assert inside["start_time"] == entered["start_time"] and "end_time" not in inside
    refused(c.call("POST", f"/{loc}/gate/scan", {"barcode": code, "direction": "entry"}, key=gate), 409)
    refused(c.call("PUT", f"{one}/end"), 409)
    c.ok("POST", f"/{loc}/gate/scan", {"barcode": code, "direction": "exit"}, key=gate)
    out = poll(c, one, "end_time")
    assert out["billing_info"]["cost"]["currency"] == "USD" and out["billing_info"]["cost"]["amount"] >= 0
    assert out["redemption_info"] == {"barcode": code} and out["user_id"] == USER
    refused(c.call("POST", f"/{loc}/gate/scan", {"barcode": "4" * 20, "direction": "entry"}, key=gate), 404)


def test_direct_end_and_user_listing(setup: tuple[Coord, int, str]) -> None:
    c, loc, _ = setup
    s = c.ok("POST", f"/{loc}/session", {"user_id": USER})
    assert set(s) == {"id", "start_time", "user_id", "location_id"}
    ended = c.ok("PUT", f"/{loc}/session/{s['id']}/end")
    assert ended["id"] == s["id"] and "end_time" in ended and ended["billing_info"]["cost"]["currency"] == "USD"
    refused(c.call("PUT", f"/{loc}/session/{s['id']}/end"), 409)
    t = c.ok("POST", f"/{loc}/session", {"user_id": USER})
    c.ok("POST", f"/{loc}/session", {"user_id": OTHER})
    mine = c.ok("GET", "/session", user_id=USER)
    assert [x["id"] for x in mine] == [s["id"], t["id"]]
    assert [x["id"] for x in c.ok("GET", f"/{loc}/session")][:2] == [s["id"], t["id"]]


def test_jwt_identity_and_user_barcode(setup: tuple[Coord, int, str], server: Server) -> None:
    c, loc, key = setup
    status, got = curl("POST", f"{server.base_url}/v1/users/create_jwt?access_key={key}",
                       json.dumps({"external_uid": "driver-42"}).encode())
    assert status == 200
    auth = {"Authorization": f"Bearer {got['jwt_token']}"}
    card = c.ok("POST", "/barcode", {}, headers=auth)
    entered = c.ok("POST", f"/{loc}/gate/scan", {"barcode": card["barcode"], "direction": "entry"})
    assert entered["user_id"] == card["user_id"]
    mine = c.ok("GET", "/session", headers=auth)
    assert [x["id"] for x in mine] == [entered["id"]]
    refused(c.call("GET", "/session", headers={"Authorization": "Bearer abc.def.ghi"}), 401)


def test_testing_endpoint(server: Server) -> None:
    key = server.cli("keys", "create", "--account", "sandbox", "--access", "READ_WRITE", "--test-account")
    loc = int(server.cli("locations", "create", "--account", "sandbox", "--name", "Test", "--rate", "350",
                         "--currency", "USD"))
    c = Coord(server, key)
    s = c.ok("POST", f"/{loc}/session", {"user_id": USER, "redemption": "barcode"})
    done = c.ok("POST", f"/testing/{loc}/{s['id']}/simulate_redemption", {"duration_m": 45})
    assert done["billing_info"] == {"cost": {"amount": 263, "currency": "USD"}}  # 3 x 87.5, rounded up
    assert c.ok("GET", f"/{loc}/session/{s['id']}") == done


def test_isolation_between_accounts(setup: tuple[Coord, int, str], server: Server) -> None:
    c, loc, _ = setup
    rival = server.cli("keys", "create", "--account", "rival", "--access", "READ_WRITE")
    s = c.ok("POST", f"/{loc}/session", {"user_id": USER, "redemption": "barcode"})
    for call in (
        c.call("GET", f"/{loc}/session/{s['id']}", key=rival),
        c.call("GET", f"/{loc}/session", key=rival),
        c.call("PUT", f"/{loc}/session/{s['id']}/end", key=rival),
        c.call("POST", f"/{loc}/gate/scan", {"barcode": s["redemption_info"]["barcode"], "direction": "entry"},
               key=rival),
    ):
        refused(call, 404)
    assert c.ok("GET", "/session", key=rival, user_id=USER) == []


def test_bad_input_of_every_kind(setup: tuple[Coord, int, str], server: Server, tmp_path: Path) -> None:
    c, loc, key = setup
    read = server.cli("keys", "create", "--account", "acme", "--access", "READ")
    s = c.ok("POST", f"/{loc}/session", {"user_id": USER})
    cases: list[tuple[tuple[int, Any], int]] = [
        (curl("GET", f"{server.base_url}/v1/access/parking/{loc}/session/{s['id']}"), 401),
        (c.call("GET", f"/{loc}/session/{s['id']}", key="shk_unknown"), 401),
        (c.call("POST", f"/{loc}/session", {"user_id": OTHER}, key=read), 403),
        (c.call("POST", f"/testing/{loc}/{s['id']}/simulate_redemption", {"duration_m": 1}), 403),
        (c.call("GET", f"/{loc}/session/{s['id'] + 100}"), 404),
        (c.call("GET", f"/{loc + 100}/session"), 404),
        (c.call("POST", f"/{loc}/session", {"user_id": USER}), 409),
        (c.call("GET", f"/{loc}/session/abc"), 400),
        (c.call("GET", f"/{loc}/session/99999999999999999999999"), 400),
        (c.call("POST", f"/{loc}/session", {"user_id": "nope"}), 400),
        (c.call("POST", f"/{loc}/session", {"user_id": OTHER, "redemption": "nfc"}), 400),
        (c.call("POST", f"/{loc}/session", [1, 2]), 400),
        (curl("POST", c.url(f"/{loc}/session"), b'{"user_id": '), 400),
        (curl("POST", c.url(f"/{loc}/session"), b"\x00\xff garbage"), 400),
        (c.call("POST", f"/{loc}/gate/scan", {"barcode": 5, "direction": "entry"}), 400),
        (c.call("GET", f"/{loc}/session", limit="-4"), 400),
        (c.call("DELETE", f"/{loc}/session/{s['id']}"), 405),
        (c.call("GET", "/no/such/thing/here"), 404),
        (c.call("GET", "/session", headers={"Authorization": "Token x"}), 401),
    ]
    big = tmp_path / "big.json"
    big.write_bytes(b'{"user_id": "' + b"x" * 200_000 + b'"}')
    status, body = curl("POST", c.url(f"/{loc}/session"), big.read_bytes())
    cases.append(((status, body), 413))
    for got, want in cases:
        refused(got, want)
    assert "Traceback" not in server.log.read_text()


def test_the_swagger_seed_describes_a_call_that_succeeds(setup: tuple[Coord, int, str], server: Server) -> None:
    c, loc, key = setup
    s = c.ok("POST", f"/{loc}/session", {"user_id": USER})
    # the file is Jekyll front matter (between --- lines): the spec is its first non-empty document
    spec = next(doc for doc in yaml.safe_load_all(SEED.read_text()) if doc)
    ((path, ops),) = spec["paths"].items()
    op = ops["get"]
    assert op["operationId"] == "get_session"
    ours = urlsplit(server.base_url)
    filled = path.format(location_id=loc, session_id=s["id"])
    params = {p["name"]: key for p in op["parameters"] if p["in"] == "query" and p["name"] == "access_key"}
    url = f"{spec['schemes'][0]}://{ours.netloc}{spec['basePath']}{filled}?{urlencode(params)}"
    status, got = curl("GET", url, headers={"Accept": "*/*"})
    assert status == 200
    example = json.loads(re.search(r"```\s*(\{.*?\})\s*```", op["description"], re.S).group(1))  # type: ignore[union-attr]
    for field, value in example.items():
        assert type(got[field]) is type(value), field
    assert got["user_id"] == example["user_id"] and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
                                                                  got["start_time"])


def test_sandbox_jwt_and_invalid_bearer_over_curl(server: Server) -> None:
    key = server.cli("keys", "create", "--account", "sandbox", "--access", "READ_WRITE", "--test-account")
    loc = int(server.cli("locations", "create", "--account", "sandbox", "--name", "Test", "--rate", "350",
                         "--currency", "USD"))
    status, got = curl("POST", f"{server.base_url}/v1/users/testing/create_jwt?access_key={key}",
                       json.dumps({"email": "dev@example.com"}).encode())
    assert status == 200, got
    c = Coord(server, key)
    auth = {"Authorization": f"Bearer {got['jwt_token']}"}
    s = c.ok("POST", f"/{loc}/session", headers=auth)
    assert [x["id"] for x in c.ok("GET", f"/{loc}/session", headers=auth)] == [s["id"]]
    for path in (f"/{loc}/session", f"/{loc}/session/{s['id']}", "/session"):
        refused(c.call("GET", path, headers={"Authorization": "Bearer abc.def.ghi"}), 401)
    assert c.ok("GET", f"/{loc}/session/{s['id']}") == s


def test_search_over_curl(server: Server) -> None:
    key = server.cli("keys", "create", "--account", "finder", "--access", "READ_WRITE")
    loc = int(server.cli("locations", "create", "--account", "finder", "--name", "Pier 9", "--rate", "600",
                         "--currency", "USD", "--latitude", "37.8015", "--longitude", "-122.3975"))
    assert server.cli("locations", "list", "--account", "finder").endswith("\topen\t37.8015,-122.3975")
    status, found = curl("GET", f"{server.base_url}/v1/search/parking/location?"
                         + urlencode({"access_key": key, "latitude": 37.8, "longitude": -122.4, "radius_km": 1,
                                      "duration_m": 60}))
    assert status == 200 and [(x["id"], x["online_access_type"], x["cost"]["amount"]) for x in found] == [
        (loc, "instant", 600)] and 0.2 < found[0]["distance_km"] < 0.4
    status, one = curl("GET", f"{server.base_url}/v1/search/parking/location/{loc}?access_key={key}")
    assert status == 200 and one["rates"][0]["price_per_hour"] == {"amount": 600, "currency": "USD"}
    refused(curl("GET", f"{server.base_url}/v1/search/parking/location?access_key={key}&latitude=200&longitude=0"),
            400)


def test_an_unchanged_coord_client_at_a_gated_garage_gets_a_barcode(server: Server) -> None:
    """Coord's client sends POST /{location_id}/session with no body at all (none is declared) and
    shows the user whatever ``redemption_info`` comes back."""
    key = server.cli("keys", "create", "--account", "garage", "--access", "READ_WRITE")
    gated = int(server.cli("locations", "create", "--account", "garage", "--name", "Gated", "--rate", "400",
                           "--currency", "USD", "--gated"))
    assert "\tgated\t" in server.cli("locations", "list", "--account", "garage")
    status, got = curl("POST", f"{server.base_url}/v1/users/create_jwt?access_key={key}",
                       json.dumps({"external_uid": "driver-7"}).encode())
    auth = {"Authorization": f"Bearer {got['jwt_token']}"}
    c = Coord(server, key)
    s = c.ok("POST", f"/{gated}/session", headers=auth)
    assert "start_time" not in s and re.fullmatch(r"\d{20}", s["redemption_info"]["barcode"])
    c.ok("POST", f"/{gated}/gate/scan", {"barcode": s["redemption_info"]["barcode"], "direction": "entry"})
    assert "start_time" in c.ok("GET", f"/{gated}/session/{s['id']}")


def test_a_licence_plate_camera_runs_a_stay_over_curl(server: Server) -> None:
    key = server.cli("keys", "create", "--account", "lpr", "--access", "READ_WRITE")
    gated = int(server.cli("locations", "create", "--account", "lpr", "--name", "LPR garage", "--rate", "400",
                           "--currency", "USD", "--gated"))
    c = Coord(server, key)
    status, got = curl("PUT", f"{server.base_url}/v1/users/user/current/vehicle?access_key={key}&user_id={USER}",
                       json.dumps({"license_plate": {"text": "KA-01-1234", "country": "IN"}}).encode())
    assert status == 200 and got["plate"] == "KA011234"
    entered = c.ok("POST", f"/{gated}/gate/scan", {"plate": "KA 01 1234", "direction": "entry"})
    left = c.ok("POST", f"/{gated}/gate/scan", {"plate": "KA011234", "direction": "exit"})
    assert left["id"] == entered["id"] and left["user_id"] == USER and "billing_info" in left
