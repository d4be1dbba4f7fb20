"""What ``make run`` prints works as pasted: the real ``make run`` (serve --demo) on free ports, every
curl, coap-client and sessionhub line it prints run exactly as printed; a second ``make run`` that cannot
bind leaves the running server's key alone; ``sessionhub demo`` seeds the same objects for a server
started apart."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.system]  # curl, coap-client, make

ROOT = Path(__file__).resolve().parents[1]
KEY = re.compile(r"shk_[0-9a-f]{32}")


def commands(printed: str, tool: str) -> list[list[str]]:
    """The printed command lines of ``tool`` (joining backslash continuations), as argv lists."""
    joined = printed.replace("\\\n", " ")
    return [shlex.split(line) for line in joined.splitlines() if re.match(rf"\s*\S*{re.escape(tool)}\S* ", line)]


@contextmanager
def make_run(tmp: Path, db: str, http: str, coap: str, name: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """``make run`` with this test's interpreter (BIN) and ports; its venv is not re-installed (-o)."""
    out = tmp / f"{name}.out"
    argv = ["make", "--no-print-directory", "-o", ".venv/.runtime-stamp", "run", f"BIN={Path(sys.executable).parent}",
            f"DB={db}", f"HTTP={http}", f"COAP={coap}"]
    with out.open("wb") as f:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield proc, out
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


def printed_lines(proc: subprocess.Popen[bytes], out: Path, timeout: float = 60.0) -> str:
    """What ``make run`` printed once it has printed the demo block (the sessionhub line ends it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = out.read_text(errors="replace")
        if re.search(r"sessionhub\S* keys list --db \S+\n", text):
            return text
        if proc.poll() is not None:
            raise AssertionError(f"make run exited with {proc.returncode}:\n{text}")
        time.sleep(0.1)
    raise AssertionError(f"make run printed no demo block in {timeout} s:\n{out.read_text(errors='replace')}")


def run_every_printed_line(printed: str) -> None:
    curls = commands(printed, "curl")
    assert len(curls) == 3, printed
    for argv in curls:
        if "-N" in argv:  # the stream: its first event is the session
            out = subprocess.run([*argv, "-s", "--max-time", "2"], capture_output=True, text=True)
            assert "id: " in out.stdout and '"passings":31' in out.stdout
        else:
            out = subprocess.run([*argv, "-s", "-w", "\n%{http_code}"], capture_output=True, text=True, check=True,
                                 timeout=30)
            assert out.stdout.endswith("\n200"), out.stdout
    (coap,) = commands(printed, "coap-client")  # the binary this machine has, as printed
    out = subprocess.run(coap, capture_output=True, text=True, timeout=30, check=True)
    assert '"number":23' in out.stdout and '"label":"Sarah"' in out.stdout
    (cli,) = [argv for argv in commands(printed, "sessionhub") if "keys" in argv]  # (make echoes its serve line)
    out = subprocess.run(cli, capture_output=True, text=True, timeout=60, check=True, cwd="/")
    assert "demo\tREAD_WRITE\tunbind\tlive\tdemo (make run)" in out.stdout
    page = re.search(r"a screen: (\S+)", printed)
    assert page is not None and httpx.get(page[1], timeout=30).status_code == 200


def test_make_run_prints_lines_that_work_and_a_failed_run_revokes_nothing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    http, coap = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}"
    with make_run(tmp_path, db, http, coap, "first") as (proc, out):
        printed = printed_lines(proc, out)
        assert f"coap://{coap}/" in printed  # COAP= reaches serve, not only the printed lines
        run_every_printed_line(printed)
        (key,) = set(KEY.findall(printed))
        # a second make run while the first serves: it cannot bind, and must not revoke the first one's key
        with make_run(tmp_path, db, http, coap, "second") as (second, second_out):
            assert second.wait(timeout=60) != 0
        assert not KEY.search(second_out.read_text())
        r = httpx.get(f"http://{http}/v0/devices", headers={"api_key": key}, timeout=30)
        assert r.status_code == 200, second_out.read_text()
    with make_run(tmp_path, db, http, coap, "third") as (proc, out):
        printed = printed_lines(proc, out)
        (fresh,) = set(KEY.findall(printed))
        assert fresh != key  # a run that did start issues a fresh key and revokes the previous one
        assert httpx.get(f"http://{http}/v0/devices", headers={"api_key": key}, timeout=30).status_code == 401
        run_every_printed_line(printed)


def test_sessionhub_demo_seeds_for_a_server_started_apart(tmp_path: Path) -> None:
    from tests.conftest import start_server, stop_server

    db = f"sqlite:///{tmp_path / 'demo.db'}"
    port, coap = free_port(), f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}"
    printed = subprocess.run([sys.executable, "-m", "sessionhub", "demo", "--db", db, "--http", f"127.0.0.1:{port}",
                              "--coap", coap], check=True, capture_output=True, text=True, timeout=60).stdout
    server = start_server(db, tmp_path / "server.log", "--coap", coap)
    try:
        run_every_printed_line(printed.replace(f"http://127.0.0.1:{port}", server.base_url))
    finally:
        stop_server(server)
