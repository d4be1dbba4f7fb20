"""The RUFUS dialect over a real socket against ``sessionhub serve``: curl, the seed's example,
clean shutdown, and durability across SIGKILL."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.system  # curl

SEED = Path(__file__).resolve().parents[1] / "seeds" / "rufus-get-session.md"


def setup_session(server: Server) -> tuple[str, str, str]:
    """A READ_WRITE key, a device and an open session on ``server``."""
    key = server.cli("keys", "create", "--account", "acme", "--access", "READ_WRITE")
    h = {"api_key": key}
    with httpx.Client(base_url=server.base_url, headers=h) as c:
        deviceid = c.post("/v0/devices", json={"model": "X1", "serial_number": "S-1"}).json()["deviceid"]
        token = c.post("/v0/sessions", json={"deviceid": deviceid, "alias": "START-5K"}).json()["token_session"]
    return key, deviceid, token


def test_keys_create_prints_the_key_alone(server: Server) -> None:
    key = server.cli("keys", "create", "--account", "acme", "--access", "READ")
    assert re.fullmatch(r"shk_[0-9a-f]{32}", key)
    admin = server.cli("keys", "create", "--account", "acme", "--access", "READ_WRITE", "--admin")
    listed = server.cli("keys", "list")
    assert "acme\tREAD\t-\tlive" in listed and "acme\tREAD_WRITE\tadmin\tlive" in listed
    assert key not in listed and admin not in listed


def test_the_seed_curl_example_works_with_host_and_key_changed(server: Server) -> None:
    key, _, token = setup_session(server)
    with httpx.Client(base_url=server.base_url, headers={"api_key": key}) as c:
        c.post("/v0/passings", json={"token_session": token, "passings_list": [
            {"bib": "7", "num_passing": 1, "timestamp": "2023-02-03T16:08:18.263Z"}]}).raise_for_status()
    shell = SEED.read_text().split("```sh", 1)[1].split("```", 1)[0]
    shell = (shell.replace("ror-ae4fc6c19681a20fad30", key).replace("https://api.runonrufus.com", server.base_url)
             .replace("2A19294BB886C3D5C7783309BBC6E385515C843893A6BC126FECE3904C6E2B25", token))
    argv = shlex.split(shell.replace("\\\n", " "))
    assert argv[0] == "curl"
    out = subprocess.run([*argv, "-s", "-w", "\n%{http_code}"], capture_output=True, text=True, check=True, timeout=30)
    body, status = out.stdout.rsplit("\n", 1)
    assert status == "200"
    s = httpx.Response(200, content=body).json()["result"][0]
    assert (s["token_session"], s["alias"], s["passings"], s["first"]) == (token, "START-5K", 1,
                                                                         "2023-02-03T16:08:18.263Z")


def test_every_endpoint_over_curl(server: Server) -> None:
    key = server.cli("keys", "create", "--account", "acme", "--access", "READ_WRITE", "--unbind")

    def curl(method: str, path: str, body: str | None = None) -> tuple[int, dict[str, object]]:
        argv = ["curl", "-s", "-X", method, "-H", "Content-Type: application/json", "-H", f"x-api-key: {key}",
                "-w", "\n%{http_code}", server.base_url + path]
        if body is not None:
            argv += ["-d", body]
        out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout
        text, status = out.rsplit("\n", 1)
        return int(status), httpx.Response(200, content=text).json()

    status, bound = curl("POST", "/v0/devices", '{"model":"Model X1","serial_number":"DEVICE-123"}')
    assert status == 201
    deviceid = bound["deviceid"]
    status, opened = curl("POST", "/v0/sessions", f'{{"deviceid":"{deviceid}","alias":"START-5K"}}')
    token = opened["token_session"]
    batch = '{"bib":"7","num_passing":1,"timestamp":"2023-01-22T09:20:25.000Z"}'
    assert curl("POST", "/v0/passings", f'{{"token_session":"{token}","passings_list":[{batch}]}}')[0] == 201
    for path in ["/v0/devices", f"/v0/devices/{deviceid}", f"/v0/sessions/{token}",
                 f"/v0/sessions/device/{deviceid}", f"/v0/sessions/device/{deviceid}/active",
                 f"/v0/passings/session/{token}?first=1&last=1", f"/v0/passings/device/{deviceid}",
                 f"/v0/passings/device2/{deviceid}?token_session={token}&last=0"]:
        status, body = curl("GET", path)
        assert (status, body["description"]) == (200, "Success"), path
    assert curl("PATCH", f"/v0/sessions/close/{token}")[0] == 200
    assert curl("DELETE", f"/v0/devices/{deviceid}") == (200, {"description": "Device unbinded succesfully",
                                                                "deviceid": deviceid})
    assert curl("GET", "/v0/devices/" + "0" * 64)[0] == 404


def test_a_key_revoked_from_the_cli_stops_working_on_the_running_server(server: Server) -> None:
    key, _, token = setup_session(server)
    with httpx.Client(base_url=server.base_url, headers={"api_key": key}) as c:
        assert c.get(f"/v0/sessions/{token}").status_code == 200
        server.cli("keys", "revoke", key)
        deadline = time.monotonic() + 5
        while c.get(f"/v0/sessions/{token}").status_code != 401:
            assert time.monotonic() < deadline, "revocation never reached the server"
            time.sleep(0.05)


def test_sigterm_stops_cleanly(server: Server) -> None:
    assert stop_server(server, signal.SIGTERM) == 0
    assert "Traceback" not in server.log.read_text()


@pytest.mark.slow
def test_every_acknowledged_passing_survives_sigkill(server: Server, tmp_path: Path) -> None:
    key, _, token = setup_session(server)
    acked: list[range] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(first: int) -> None:
        n = first
        with httpx.Client(base_url=server.base_url, headers={"api_key": key}, timeout=5) as c:
            while not stop.is_set():
                nums = range(n, n + 200)
                body = {"token_session": token, "passings_list": [
                    {"bib": str(i), "num_passing": i, "timestamp": "2023-02-03T16:08:18.263Z"} for i in nums]}
                try:
                    r = c.post("/v0/passings", json=body)
                except httpx.HTTPError:
                    return
                if r.status_code == 201:
                    with lock:
                        acked.append(nums)
                n += 200 * 4

    threads = [threading.Thread(target=writer, args=(1 + 200 * i,)) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(acked) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.proc.send_signal(signal.SIGKILL)  # mid-stream: writers have requests in flight
    server.proc.wait(timeout=10)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    assert len(acked) >= 40, "the writers made too little progress to test anything"

    restarted = start_server(server.db, tmp_path / "restarted.log")
    try:
        with httpx.Client(base_url=restarted.base_url, headers={"api_key": key}) as c:
            stored: list[int] = []
            page = 1
            while chunk := c.get(f"/v0/passings/session/{token}", params={"page": page}).json()["result"]:
                stored += [p["num_passing"] for p in chunk]
                page += 1
            count = c.get(f"/v0/sessions/{token}").json()["result"][0]["passings"]
    finally:
        stop_server(restarted)
    expected = {n for nums in acked for n in nums}
    assert expected <= set(stored), f"{len(expected - set(stored))} acknowledged passings were lost"
    assert len(stored) == len(set(stored)) == count
