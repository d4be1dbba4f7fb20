"""Issue 9 #4: revoking a key ends its open streams and long-polls (the key was checked only when
they started), over real sockets against a ``sessionhub serve`` process, revoked by the CLI from
another process; other keys' streams stay open."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import Server
from tests.http.test_parking_socket import USER, Coord, curl
from tests.live.test_clients import CurlStream

pytestmark = pytest.mark.slow


def test_revoking_a_key_ends_its_streams_and_long_polls(server: Server) -> None:
    rw = server.cli("keys", "create", "--account", "acme", "--access", "READ_WRITE")
    doomed = server.cli("keys", "create", "--account", "acme", "--access", "READ")
    kept = server.cli("keys", "create", "--account", "acme", "--access", "READ")
    loc = int(server.cli("locations", "create", "--account", "acme", "--name", "Lot", "--rate", "400",
                         "--currency", "USD"))
    c = Coord(server, rw)
    s = c.ok("POST", f"/{loc}/session", {"user_id": USER})
    path = f"/{loc}/session/{s['id']}"
    revoked_stream = CurlStream(c.url(f"{path}/stream", doomed))
    other_stream = CurlStream(c.url(f"{path}/stream", kept))
    location_stream = CurlStream(c.url(f"/{loc}/stream", doomed))
    try:
        tag = f'"{revoked_stream.wait_events(1)[0]["id"]}"'
        other_stream.wait_events(1)
        location_stream.wait_events(1)
        polled: list[tuple[int, object]] = []
        poller = threading.Thread(target=lambda: polled.append(
            curl("GET", c.url(path, doomed, wait="50"), headers={"If-None-Match": tag})))
        poller.start()
        time.sleep(0.5)  # the long-poll is held
        assert not polled
        server.cli("keys", "revoke", doomed)
        revoked_at = time.monotonic()
        for proc in (revoked_stream.proc, location_stream.proc):
            proc.wait(timeout=20)  # the stream ended (curl exits at the end of the response)
        poller.join(20)
        assert not poller.is_alive()
        ended_after = time.monotonic() - revoked_at
        status, body = polled[0]
        assert status == 401, body  # the held long-poll answers as the revoked key now does
        assert other_stream.proc.poll() is None  # another key's stream is untouched
        c.ok("PUT", f"{path}/end")
        assert len(other_stream.wait_events(2)) == 2
        assert len(revoked_stream.events()) == 1  # nothing reached the revoked key after it ended
        assert curl("GET", c.url(f"{path}/stream", doomed))[0] == 401
        print(f"streams and long-poll ended {ended_after * 1000:.0f} ms after `keys revoke` returned")
    finally:
        for follow in (revoked_stream, other_stream, location_stream):
            follow.close()


def test_revoking_one_of_many_keys_costs_one_check(server: Server) -> None:
    """A burst of revocations is checked against the open streams without losing one."""
    rw = server.cli("keys", "create", "--account", "acme", "--access", "READ_WRITE")
    loc = int(server.cli("locations", "create", "--account", "acme", "--name", "Lot", "--rate", "400",
                         "--currency", "USD"))
    c = Coord(server, rw)
    s = c.ok("POST", f"/{loc}/session", {"user_id": USER})
    readers = [server.cli("keys", "create", "--account", "acme", "--access", "READ") for _ in range(3)]
    follows = [CurlStream(c.url(f"/{loc}/session/{s['id']}/stream", k)) for k in readers]
    try:
        for f in follows:
            f.wait_events(1)
        procs = [subprocess.Popen([sys.executable, "-m", "sessionhub", "keys", "revoke", k, "--db", server.db],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for k in readers[:2]]
        for p in procs:
            assert p.wait(60) == 0
        for f in follows[:2]:
            f.proc.wait(timeout=20)
        time.sleep(0.5)
        assert follows[2].proc.poll() is None
    finally:
        for f in follows:
            f.close()
