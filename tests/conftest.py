"""Shared fixtures: an in-process runtime on a temporary SQLite file, an ASGI client for it, keys,
and a real ``sessionhub serve`` process on a free port for the over-the-socket tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sessionhub.config import Settings
from sessionhub.http import create_app
from sessionhub.runtime import Runtime, build
from tests import pg


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of every store: every in-process test runs on SQLite and on PostgreSQL
    (a fresh schema on the test server; skipped, or failed with SESSIONHUB_REQUIRE_PG=1, without one)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sessionhub.db'}"
        return
    async with pg.fresh_schema("app") as url:
        yield url


@pytest.fixture
async def runtime(db_url: str) -> AsyncIterator[Runtime]:
    rt = build(Settings(db=db_url))
    await rt.store.apply_migrations()
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime, lifespan=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class Keys:
    """Keys of two accounts, ``acme`` and ``rival``, one per access type."""

    rw: str
    read: str
    write: str
    unbind: str
    rival: str


@pytest.fixture
async def keys(runtime: Runtime) -> Keys:
    make = runtime.access.create_key
    return Keys(
        rw=await make("acme", "READ_WRITE"),
        read=await make("acme", "READ"),
        write=await make("acme", "WRITE"),
        unbind=await make("acme", "READ_WRITE", True),
        rival=await make("rival", "READ_WRITE", True),
    )


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A ``sessionhub serve`` child process."""

    proc: subprocess.Popen[bytes]
    base_url: str
    db: str
    log: Path

    def cli(self, *args: str) -> str:
        """Run a ``sessionhub`` command against the server's database; return its stdout."""
        out = subprocess.run([sys.executable, "-m", "sessionhub", *args, "--db", self.db],
                             check=True, capture_output=True, text=True, timeout=60)
        return out.stdout.strip()


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port}:\n{log.read_text()}")


def start_server(db: str, log: Path, *extra: str) -> Server:
    """``sessionhub serve`` on ``db`` and a free HTTP port; CoAP off unless ``extra`` names ``--coap``
    (tests never take the default port 5683 a developer's own server may hold)."""
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sessionhub", "serve", "--db", db, "--http", f"127.0.0.1:{port}", "--coap", "off",
             *extra],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    wait_for_port(port, proc, log)
    return Server(proc, f"http://127.0.0.1:{port}", db, log)


def stop_server(server: Server, sig: int = signal.SIGTERM) -> int:
    if server.proc.poll() is None:
        server.proc.send_signal(sig)
    return server.proc.wait(timeout=20)


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """A migrated, running ``sessionhub serve`` (CoAP off) on each store: the socket tests run on both."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            db = f"sqlite:///{tmp_path / 'served.db'}"
        else:
            db = stack.enter_context(pg.fresh_schema_sync("srv"))
        subprocess.run([sys.executable, "-m", "sessionhub", "migrate", "--db", db], check=True, capture_output=True)
        srv = start_server(db, tmp_path / "server.log")
        try:
            yield srv
        finally:
            stop_server(srv)
