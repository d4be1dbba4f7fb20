"""The bench's own CoAP load generator against a real ``sessionhub serve`` (and the repository needs
nothing beside it: no test, bench or script reaches outside the clone)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bench import coapload
from tests.conftest import free_port, start_server, stop_server

ROOT = Path(__file__).resolve().parents[2]


def test_options_encode_extended_deltas_and_lengths() -> None:
    # Uri-Path "v1" (11), then Uri-Query (15, delta 4) of 20 bytes (13 + 7), then option 300 (delta 285 = 269 + 16)
    got = coapload.options([(300, b""), (URI_QUERY := 15, b"q" * 20), (11, b"v1")])
    assert got == bytes((0xB2,)) + b"v1" + bytes((0x4D, 7)) + b"q" * 20 + bytes((0xE0, 0, 16))
    assert URI_QUERY == coapload.URI_QUERY
    assert coapload.code_name(0x45) == "2.05" and coapload.code_name(0x84) == "4.04"


@pytest.mark.slow
def test_loads_a_served_coap_endpoint(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    port = free_port(socket.SOCK_DGRAM)
    subprocess.run([sys.executable, "-m", "sessionhub", "migrate", "--db", db], check=True, capture_output=True)
    server = start_server(db, tmp_path / "server.log", "--coap", f"127.0.0.1:{port}",
                          "--coap-rate-per-host", "0")  # a load generator is one host far over any per-host rate
    try:
        out = subprocess.run([sys.executable, "-m", "bench.coapload", "127.0.0.1", str(port), "v1/sessions",
                              "--ports", "2", "--window", "2", "--seconds", "1", "--json"],
                             check=True, capture_output=True, text=True, timeout=60, cwd=ROOT).stdout
        got = json.loads(out)
        assert got["responses"] > 0 and set(got["codes"]) == {"2.05"}, got
        missing = coapload.run("127.0.0.1", port, "v1/nothing-here", ports=1, window=1, seconds=0.5)
        assert missing.responses > 0 and set(missing.codes) == {"4.04"}
    finally:
        stop_server(server)


def test_nothing_reaches_outside_the_clone() -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    pattern = r"\.\./sha" + r'red|"sha' + r'red"'  # split, so this line does not match itself
    out = subprocess.run(["git", "grep", "-nE", pattern, "--", "tests", "bench", "src", "scripts", "Makefile", ".ci"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and not out.stdout, out.stdout
