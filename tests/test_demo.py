"""What ``make run`` prints works as pasted: every curl and coap-client line of ``sessionhub demo``,
against a real ``sessionhub serve`` on the same database."""

from __future__ import annotations

import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import free_port, start_server, stop_server


def demo(db: str, http: str, coap: str) -> str:
    out = subprocess.run([sys.executable, "-m", "sessionhub", "demo", "--db", db, "--http", http, "--coap", coap],
                         check=True, capture_output=True, text=True, timeout=60)
    return out.stdout


def commands(printed: str, tool: str) -> list[list[str]]:
    """The printed command lines of ``tool`` (joining backslash continuations), as argv lists."""
    joined = printed.replace("\\\n", " ")
    return [shlex.split(line.split("#")[0]) for line in joined.splitlines() if line.strip().startswith(tool)]


def test_every_printed_line_works_against_the_server(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    port, coap = free_port(), f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}"
    first = demo(db, f"127.0.0.1:{port}", coap)
    printed = demo(db, f"127.0.0.1:{port}", coap)  # a second run reuses the objects with a fresh key
    old_key, key = (re.search(r"shk_[0-9a-f]{32}", text)[0] for text in (first, printed))  # type: ignore[index]
    assert old_key != key
    server = start_server(db, tmp_path / "server.log", "--coap", coap)
    try:
        base = server.base_url  # start_server picks a port of its own: the printed one is swapped for it
        curls = commands(printed.replace(f"http://127.0.0.1:{port}", base), "curl")
        assert len(curls) == 3
        for argv in curls:
            if "-N" in argv:  # the stream: its first event is the session
                out = subprocess.run([*argv, "-s", "--max-time", "2"], capture_output=True, text=True)
                assert "id: " in out.stdout and '"passings":31' in out.stdout
            else:
                out = subprocess.run([*argv, "-s", "-w", "\n%{http_code}"], capture_output=True, text=True, check=True)
                assert out.stdout.endswith("\n200"), out.stdout
        with httpx.Client() as c:  # the previous demo key was revoked
            r = c.get(f"{base}/v0/devices", headers={"api_key": old_key})
            assert r.status_code == 401
            page = re.search(r"a screen: (\S+)", printed)[1].replace(f"http://127.0.0.1:{port}", base)  # type: ignore[index]
            assert c.get(page).status_code == 200
        client = shutil.which("coap-client") or shutil.which("coap-client-notls")
        assert client, "libcoap's coap-client is not installed (scripts/system-deps.sh installs it)"
        (argv,) = commands(printed, "coap-client")
        out = subprocess.run([client, *argv[1:]], capture_output=True, text=True, timeout=30, check=True)
        assert '"number":23' in out.stdout and '"label":"Sarah"' in out.stdout
    finally:
        stop_server(server)
