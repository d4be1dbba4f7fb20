"""``sessionhub serve`` with CoAP, as a real process: the flags, the allow list, the busy default."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sessionhub.coap import numbers as N
from sessionhub.coap.wire import Message, decode, encode
from tests.conftest import free_port, start_server, stop_server


def get(port: int, path: list[str], query: list[str] | None = None, timeout: float = 3.0) -> Message | None:
    """One CON request from loopback (answering the endpoint's probe); None when nothing answers."""
    options = [(N.URI_PATH, p.encode()) for p in path] + [(N.URI_QUERY, q.encode()) for q in query or []]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(encode(Message(N.CON, N.GET, 7, b"t", options)), ("127.0.0.1", port))
        try:
            while True:
                m = decode(s.recv(4096))
                if m.mtype != N.CON or m.code != N.EMPTY:
                    return m
                s.sendto(bytes((0x70, 0, m.mid >> 8, m.mid & 0xFF)), ("127.0.0.1", port))  # the probe: RST
        except TimeoutError:
            return None


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    subprocess.run([sys.executable, "-m", "sessionhub", "migrate", "--db", url], check=True, capture_output=True)
    return url


def test_serve_answers_coap_on_the_given_port_for_its_station(db: str, tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    srv = start_server(db, tmp_path / "a.log", "--coap", f"127.0.0.1:{port}", "--station-account", "bistro")
    try:
        r = get(port, ["v1", "settings"])
        assert r is not None and r.code == N.CONTENT and b'"deviceName":"T7470"' in r.payload
        r = get(port, ["v1", "sessions"], ["number=5"])
        assert r is not None and r.code == N.NOT_FOUND
    finally:
        assert stop_server(srv) == 0
    assert "station 'default' of account 'bistro'" in (tmp_path / "a.log").read_text()


def test_a_client_outside_the_allow_list_is_dropped_silently(db: str, tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    srv = start_server(db, tmp_path / "b.log", "--coap", f"127.0.0.1:{port}", "--coap-allow", "10.0.0.0/8")
    try:
        assert get(port, ["v1", "settings"], timeout=1.0) is None
    finally:
        stop_server(srv)


def test_an_explicit_busy_address_fails_and_a_bad_cidr_is_refused(db: str, tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "sessionhub", "serve", "--db", db, "--http", f"127.0.0.1:{free_port()}",
             "--coap", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=60)
        assert out.returncode != 0
    bad = subprocess.run([sys.executable, "-m", "sessionhub", "serve", "--db", db, "--coap-allow", "nonsense"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "--coap-allow must be a CIDR" in bad.stderr


def test_serve_runs_several_stations_of_one_account(db: str, tmp_path: Path) -> None:
    north, south = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    srv = start_server(db, tmp_path / "s.log", "--coap", f"127.0.0.1:{north}=bistro/north",
                       "--coap", f"127.0.0.1:{south}=bistro/south")
    try:
        for port in (north, south):
            r = get(port, ["v1", "settings"])
            assert r is not None and r.code == N.CONTENT, port
        listing = srv.cli("stations", "list", "--account", "bistro").splitlines()
        assert [line.split("\t")[0] for line in listing] == ["north", "south"]
        assert srv.cli("stations", "list", "--account", "nobody") == ""
    finally:
        assert stop_server(srv) == 0
    log = (tmp_path / "s.log").read_text()
    assert "station 'north' of account 'bistro'" in log and "station 'south' of account 'bistro'" in log


def test_serve_refuses_one_station_on_two_addresses(db: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "sessionhub", "serve", "--db", db, "--http", "127.0.0.1:0",
                           "--coap", "127.0.0.1:0=bistro", "--coap", "127.0.0.1:0=bistro/default"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "is already served on" in done.stderr
