"""Connection hygiene over real sockets against ``sessionhub serve`` (issue 9 #1): slow clients are
closed after the read timeouts, connections and streams are capped per address, per account and in
all with a clean 429/503, and the descriptor reserve keeps the server answering instead of EMFILE.

The guard sits below the store, so these run on SQLite only."""

from __future__ import annotations

import contextlib
import http.client
import resource
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, free_port, start_server, stop_server, wait_for_port


@contextlib.contextmanager
def served(tmp_path: Path, *flags: str) -> Iterator[Server]:
    db = f"sqlite:///{tmp_path / 'guard.db'}"
    subprocess.run([sys.executable, "-m", "sessionhub", "migrate", "--db", db], check=True, capture_output=True)
    srv = start_server(db, tmp_path / "server.log", *flags)
    try:
        yield srv
    finally:
        stop_server(srv)


_open: list[socket.socket] = []


@pytest.fixture(autouse=True)
def close_sockets() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


def connect(server: Server, source: str = "127.0.0.1") -> socket.socket:
    """A client socket from ``source`` (closed at the end of the test)."""
    s = socket.socket()
    _open.append(s)
    s.bind((source, 0))
    s.settimeout(20)
    s.connect(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])))
    return s


def read_all(s: socket.socket) -> bytes:
    """Everything the server sends until it closes (bounded by the socket's timeout)."""
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    return out


def session(server: Server) -> tuple[str, str]:
    key = server.cli("keys", "create", "--account", "acme", "--access", "READ_WRITE")
    with httpx.Client(base_url=server.base_url, headers={"api_key": key}) as c:
        deviceid = c.post("/v0/devices", json={"model": "X1", "serial_number": "S-1"}).json()["deviceid"]
        token = c.post("/v0/sessions", json={"deviceid": deviceid}).json()["token_session"]
    return key, token


def test_slow_headers_a_silent_connection_and_a_slow_body_are_closed(tmp_path: Path) -> None:
    with served(tmp_path, "--header-timeout", "1", "--body-timeout", "1") as server:
        slow = connect(server)
        slow.sendall(b"GET /v0/devices HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        silent = connect(server)
        body = connect(server)
        body.sendall(b"POST /v0/passings HTTP/1.1\r\nHost: x\r\ncontent-length: 100\r\n\r\n{\"token")
        started = time.monotonic()
        answer = read_all(slow)
        assert answer.startswith(b"HTTP/1.1 408 ") and b"connection: close" in answer
        assert read_all(silent).startswith(b"HTTP/1.1 408 ")
        assert read_all(body) == b""  # mid-body: closed (nothing to answer a half request with)
        assert time.monotonic() - started < 15
        # keep-alive requests that arrive whole are never cut
        ok = http.client.HTTPConnection("127.0.0.1", int(server.base_url.rsplit(":", 1)[1]), timeout=20)
        for _ in range(3):
            ok.request("GET", "/v0/devices")
            response = ok.getresponse()
            assert response.status == 400 and response.read()
            time.sleep(0.6)
        ok.close()
        assert "did not arrive in time" in server.log.read_text()


def test_over_the_address_cap_a_clean_429_while_other_addresses_are_served(tmp_path: Path) -> None:
    with served(tmp_path, "--max-connections-per-address", "5") as server:
        key, token = session(server)
        held = [connect(server, "127.0.0.2") for _ in range(5)]
        for s in held:
            s.sendall(b"GET /v0/devices HTTP/1.1\r\nHost: x\r\n")
        # connected is not yet accepted: over four accept queues the server takes connections in no
        # global order, so the five are given the time to be counted before the sixth comes
        time.sleep(0.5)
        refused = connect(server, "127.0.0.2")
        answer = read_all(refused)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 429 ") and b"retry-after: 5" in head
        assert httpx.Response(429, content=body).json()["error"]["code"] == "too_many_connections"
        r = httpx.get(f"{server.base_url}/v0/sessions/{token}", headers={"api_key": key}, timeout=20)
        assert r.status_code == 200
        for s in held:
            s.close()
        deadline = time.monotonic() + 20  # the slots come back once the server sees the closes
        while True:
            again = connect(server, "127.0.0.2")
            if True:
                again.sendall(b"GET /v0/devices HTTP/1.1\r\nHost: x\r\nconnection: close\r\n\r\n")
                if read_all(again).startswith(b"HTTP/1.1 400 ") or time.monotonic() > deadline:
                    break
            time.sleep(0.2)
        assert "per-address cap" in server.log.read_text()


def test_at_the_descriptor_limit_new_clients_get_503_and_a_held_connection_still_works(tmp_path: Path) -> None:
    """A process limited to 512 descriptors, 256 of them reserved: 300 attacker connections from 8
    addresses; the server refuses the surplus with 503 instead of running out (EMFILE)."""
    db = f"sqlite:///{tmp_path / 'guard.db'}"
    subprocess.run([sys.executable, "-m", "sessionhub", "migrate", "--db", db], check=True, capture_output=True)
    key = subprocess.run([sys.executable, "-m", "sessionhub", "keys", "create", "--account", "acme", "--access",
                          "READ", "--db", db], check=True, capture_output=True, text=True).stdout.strip()
    port, log = free_port(), tmp_path / "server.log"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (512, 512))

    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "sessionhub", "serve", "--db", db, "--http", f"127.0.0.1:{port}",
                                 "--coap", "off", "--fd-reserve", "256", "--header-timeout", "60"],
                                stdout=out, stderr=subprocess.STDOUT, preexec_fn=limit)
    server = Server(proc, f"http://127.0.0.1:{port}", db, log)
    attackers: list[socket.socket] = []
    try:
        wait_for_port(port, proc, log)
        legit = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        legit.request("GET", "/v0/devices", headers={"api_key": key})
        assert legit.getresponse().read() and True
        for n in range(300):
            s = connect(server, f"127.0.0.{2 + n % 8}")
            s.sendall(b"GET /v0/devices HTTP/1.1\r\nHost: x\r\n")
            attackers.append(s)
        time.sleep(0.5)
        answered = [s for s in attackers if select.select([s], [], [], 0)[0]]
        refusals = [read_all(s) for s in answered]
        assert len(refusals) >= 300 - 256 and all(r.startswith(b"HTTP/1.1 503 ") for r in refusals), refusals[:3]
        legit.request("GET", "/v0/devices", headers={"api_key": key})
        response = legit.getresponse()
        assert response.status == 200 and response.read()
        legit.close()
        text = log.read_text()
        assert "connections open, the cap" in text and "Too many open files" not in text
    finally:
        stop_server(server)


def test_streams_are_capped_per_address_and_per_account(tmp_path: Path) -> None:
    with served(tmp_path, "--max-streams-per-address", "2", "--max-streams-per-account", "3") as server:
        key, token = session(server)
        url = f"/v0/sessions/{token}/stream"
        with contextlib.ExitStack() as stack:
            def client(source: str) -> httpx.Client:
                transport = httpx.HTTPTransport(local_address=source)
                return stack.enter_context(httpx.Client(base_url=server.base_url, transport=transport, timeout=20,
                                                        headers={"api_key": key}))

            def open_stream(c: httpx.Client) -> httpx.Response:
                return stack.enter_context(c.stream("GET", url))

            one = client("127.0.0.1")
            first, _ = open_stream(one), open_stream(one)
            assert first.status_code == 200
            refused = one.get(url)
            assert refused.status_code == 429 and refused.headers["retry-after"] == "5"
            assert refused.json()["description"] == "Too many requests"
            other = client("127.0.0.2")
            assert open_stream(other).status_code == 200  # the account's third
            over = other.get(url)  # the address has room, the account has not
            assert over.status_code == 429 and "account" in over.json()["message"]
            assert one.get(f"/v0/sessions/{token}").status_code == 200  # plain GETs are not streams
        assert "stream refused (429)" in server.log.read_text()


@pytest.mark.parametrize("flag", ["--header-timeout", "--max-connections"])
def test_a_limit_flag_refuses_what_is_not_a_number(tmp_path: Path, flag: str) -> None:
    out = subprocess.run([sys.executable, "-m", "sessionhub", "serve", "--db", f"sqlite:///{tmp_path / 'x.db'}",
                          flag, "-1"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and flag in out.stderr


def test_a_client_leaving_mid_upload_is_a_quiet_debug_line_not_an_error(tmp_path: Path) -> None:
    with served(tmp_path) as server:
        key, token = session(server)
        for _ in range(3):
            s = connect(server)
            s.sendall(b"POST /v0/passings HTTP/1.1\r\nHost: x\r\napi_key: " + key.encode()
                      + b"\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{\"token_session\": ")
            time.sleep(0.2)
            s.close()
        time.sleep(1.0)
        r = httpx.get(f"{server.base_url}/v0/sessions/{token}", headers={"api_key": key}, timeout=20)
        assert r.status_code == 200
        text = server.log.read_text()
        assert "ERROR" not in text and "Traceback" not in text, text


def heads_and_bodies(raw: bytes) -> list[tuple[bytes, dict[bytes, bytes], bytes]]:
    """Split HTTP/1.1 responses with Content-Length bodies: (status line, headers but date, body)."""
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        status, *lines = head.split(b"\r\n")
        headers = dict(line.split(b": ", 1) for line in lines)
        headers.pop(b"date")
        size = int(headers.get(b"content-length", b"0"))
        if len(rest) < size:
            raise ValueError("incomplete")
        out.append((status, headers, rest[:size]))
        raw = rest[size:]
    return out


def test_the_protocol_lane_answers_as_the_asgi_stack_pipelined_and_keep_alive(tmp_path: Path) -> None:
    """The second GET of a session is answered at the protocol level (from the kept render); byte for
    byte (but the date) it is the first one, the ASGI stack's; pipelined requests keep their order;
    HTTP/1.0 gets its connection closed; a 304 carries the ETag and no body."""
    with served(tmp_path) as server:
        key, token = session(server)
        get = f"GET /v0/sessions/{token} HTTP/1.1\r\nHost: x\r\napi_key: {key}\r\n\r\n".encode()
        s = connect(server)
        s.sendall(get)
        first = s.recv(65536)
        while first.count(b"}") < 2:
            first += s.recv(65536)
        s.sendall(get * 3)  # pipelined
        raw = b""
        deadline = time.monotonic() + 20
        while len(heads_and_bodies_safe(raw)) < 3 and time.monotonic() < deadline:
            raw += s.recv(65536)
        answers = heads_and_bodies(first) + heads_and_bodies(raw)
        assert len(answers) == 4 and all(a == answers[0] for a in answers), answers
        status, headers, body = answers[0]
        assert status == b"HTTP/1.1 200 OK" and headers[b"content-type"] == b"application/json"
        assert httpx.Response(200, content=body).json()["result"][0]["token_session"] == token
        tag = headers[b"etag"]
        s.sendall(get.replace(b"\r\n\r\n", b"\r\nif-none-match: " + tag + b"\r\n\r\n"))
        not_modified = s.recv(65536)
        assert not_modified.startswith(b"HTTP/1.1 304 ") and b"etag: " + tag in not_modified
        assert not_modified.endswith(b"\r\n\r\n")
        old = connect(server)
        old.sendall(get.replace(b"HTTP/1.1", b"HTTP/1.0"))
        closed = read_all(old)  # the server closes it
        assert closed.startswith(b"HTTP/1.1 200 ") and b"connection: close" in closed and closed.endswith(body)
        # the metrics count the protocol lane's answers like the ASGI stack's: 5 200s and one 304
        text = httpx.get(f"{server.base_url}/metrics", timeout=20).text
        route = 'dialect="timing",method="GET",route="/v0/sessions/{token}"'
        assert f"sessionhub_http_requests_total{{{route},status=\"200\"}} 5.0" in text, text
        assert f"sessionhub_http_requests_total{{{route},status=\"304\"}} 1.0" in text, text


def heads_and_bodies_safe(raw: bytes) -> list[object]:
    try:
        return list(heads_and_bodies(raw))
    except (ValueError, KeyError):
        return []


def _answer(s: socket.socket, request: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """Send ``request`` and read its one answer."""
    s.sendall(request)
    raw = b""
    deadline = time.monotonic() + 20
    while not heads_and_bodies_safe(raw) and time.monotonic() < deadline:
        raw += s.recv(65536)
    (answer,) = heads_and_bodies(raw)
    return answer


def test_a_poll_repeated_byte_for_byte_is_checked_every_time(tmp_path: Path) -> None:
    """A poller sends the same bytes again and again (answered without parsing them again, see
    tests/http/test_guard_repeat.py): a change is still seen at once, the key's rate limit still bites,
    and a revoked key is refused at its next poll."""
    with served(tmp_path, "--rate-per-key", "0.01", "--rate-key-burst", "10") as server:
        key, token = session(server)  # two of the key's 10 requests
        get = f"GET /v0/sessions/{token} HTTP/1.1\r\nHost: x\r\napi_key: {key}\r\n\r\n".encode()
        s = connect(server)
        first = [_answer(s, get) for _ in range(3)]
        assert all(a == first[0] for a in first) and b'"passings":0' in first[0][2]
        with httpx.Client(base_url=server.base_url, headers={"api_key": key}) as c:
            posted = c.post("/v0/passings", json={"token_session": token, "passings_list": [
                {"bib": "7", "num_passing": 1, "timestamp": "2024-05-01T10:00:00Z"}]})
            assert posted.status_code == 201, posted.text
        changed = [_answer(s, get) for _ in range(3)]
        assert all(a[0] == b"HTTP/1.1 200 OK" and b'"passings":1' in a[2] for a in changed), changed
        assert changed[0][1][b"etag"] != first[0][1][b"etag"]
        server.cli("keys", "revoke", key)
        assert _answer(s, get)[0].startswith(b"HTTP/1.1 401 ")  # the key's 10th request
        other = server.cli("keys", "create", "--account", "acme", "--access", "READ")
        get = get.replace(key.encode(), other.encode())
        assert all(_answer(s, get)[0] == b"HTTP/1.1 200 OK" for _ in range(10))
        status, headers, body = _answer(s, get)  # past the new key's burst: refused at the protocol level
        assert status == b"HTTP/1.1 429 Too Many Requests" and int(headers[b"retry-after"]) >= 1
        assert httpx.Response(429, content=body).json()["description"] == "Too many requests"


def _listening_sockets(port: int) -> int:
    """Listening TCP sockets on ``port`` (every process's, from /proc/net/tcp)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for row in rows if row.split()[1].endswith(f":{port:04X}") and row.split()[3] == "0A")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreads connections on Linux")
def test_the_port_has_four_accept_queues_and_a_second_server_is_refused_it(tmp_path: Path) -> None:
    """A connect storm fills four accept queues later than one (docs/http.md); sharing the port must
    not let a second server join them unnoticed."""
    with served(tmp_path) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        deadline = time.monotonic() + 10  # uvicorn listens on them one after the other
        while _listening_sockets(port) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _listening_sockets(port) == 4
        assert f"Uvicorn running on http://127.0.0.1:{port}" in server.log.read_text()  # as with one socket
        second = subprocess.run([sys.executable, "-m", "sessionhub", "serve", "--db", server.db, "--http",
                                 f"127.0.0.1:{port}", "--coap", "off"], capture_output=True, text=True, timeout=60)
        assert second.returncode == 1 and "error while attempting to bind" in second.stderr, second.stderr
        assert httpx.get(f"{server.base_url}/healthz", timeout=20).status_code == 200
    with served(tmp_path, "--listen-queues", "1") as server:
        assert _listening_sockets(int(server.base_url.rsplit(":", 1)[1])) == 1
