"""``sessionhub simulate`` against a real ``sessionhub serve`` (HTTP and CoAP sockets): every request
acknowledged, the objects there through the APIs, the same seed playing the same run."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sessionhub.simulate.clients import decode_reply, encode_request
from tests.conftest import free_port, start_server, stop_server

pytestmark = pytest.mark.slow


def simulate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sessionhub", "simulate", *args], capture_output=True, text=True,
                          timeout=120)


def test_all_three_simulators_drive_the_real_apis_deterministically(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'sim.db'}"
    coap = f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}"
    server = start_server(db, tmp_path / "server.log", "--coap", f"{coap}=sim")  # the station of account sim
    try:
        key = server.cli("keys", "create", "--account", "sim", "--access", "READ_WRITE")
        loc = server.cli("locations", "create", "--account", "sim", "--name", "Sim garage", "--rate", "300",
                         "--currency", "EUR")
        args = ["all", "--url", server.base_url, "--coap", coap, "--key", key, "--location", loc,
                "--rate", "6", "--duration", "6", "--seed", "42"]
        first, second = simulate(*args), simulate(*args)
        for run in (first, second):
            assert run.returncode == 0, run.stdout + run.stderr
            assert "Traceback" not in run.stderr and "/6s]" in run.stderr  # the progress line
            for name in ("timing", "parking", "paging"):
                line = next(x for x in run.stdout.splitlines() if x.startswith(name + ":"))
                sent, acked = re.search(r"sent (\d+), acknowledged (\d+)", line).groups()  # type: ignore[union-attr]
                assert int(sent) == int(acked) > 0, line
        # the same seed plays the same race, cars and parties (the second run finds the devices bound)
        plan = [re.sub(r"sent \d+, acknowledged \d+, |; billed .*|, (inserted|duplicates) \d+", "", x)
                for x in first.stdout.splitlines()]
        assert plan == [re.sub(r"sent \d+, acknowledged \d+, |; billed .*|, (inserted|duplicates) \d+", "", x)
                        for x in second.stdout.splitlines()]
        with httpx.Client(base_url=server.base_url, timeout=10) as c:
            devices = c.get("/v0/devices", headers={"api_key": key}).json()["result"]
            assert sorted(d["serial_number"] for d in devices) == ["SIM-42-FINISH", "SIM-42-HALFWAY", "SIM-42-START"]
            finish = next(d for d in devices if d["serial_number"] == "SIM-42-FINISH")
            assert c.get(f"/v0/devices/{finish['deviceid']}", headers={"api_key": key}).json()["result"]["passings"] > 0
            sessions = c.get(f"/v1/access/parking/{loc}/session", params={"access_key": key}).json()
            assert any("billing_info" in s for s in sessions) and any("start_time" in s for s in sessions)
    finally:
        stop_server(server)


def test_a_simulator_without_a_server_fails_plainly() -> None:
    run = simulate("parking", "--url", f"http://127.0.0.1:{free_port()}", "--key", "shk_x", "--duration", "1")
    assert run.returncode == 1 and "cannot start" in run.stdout and "Traceback" not in run.stderr


def test_the_coap_codec_round_trips_options_and_payload() -> None:
    packet = encode_request("PUT", "/v1/sessions", ["number=1234"], b'{"action":"page"}', 0x1234, b"\x01\x02")
    assert packet[:4] == bytes([0x42, 0x03, 0x12, 0x34]) and packet.endswith(b'\xff{"action":"page"}')
    reply = decode_reply(bytes([0x62, 0x44, 0x12, 0x34, 1, 2, 0xC1, 50, 0xD1, 0x02, 7, 0xFF]) + b"{}")
    assert reply is not None and reply.code_text == "2.04" and reply.payload == b"{}" and reply.token == b"\x01\x02"
