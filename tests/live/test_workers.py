"""``serve --workers N`` on PostgreSQL: N processes on one address (SO_REUSEPORT), each following the
shared change feed, so a write through one process reaches the streams held by the others."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import pg
from tests.conftest import start_server, stop_server

pytestmark = pytest.mark.slow
TS = "2023-02-03T16:08:18.263Z"


@pytest.fixture
def db() -> Iterator[str]:
    with pg.fresh_schema_sync("wk") as url:
        yield url


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _established(pid: int, port: int) -> int:
    """TCP connections process ``pid`` holds on local ``port`` (from /proc: no extra tool)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "01" and cols[9] in inodes:
                count += 1
    return count


def test_two_workers_share_one_port_and_a_write_on_one_reaches_streams_on_the_other(db: str, tmp_path: Path) -> None:
    run = [sys.executable, "-m", "sessionhub"]
    subprocess.run([*run, "migrate", "--db", db], check=True, capture_output=True, timeout=60)
    key = subprocess.run([*run, "keys", "create", "--account", "acme", "--access", "READ_WRITE", "--db", db],
                         check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    server = start_server(db, tmp_path / "server.log", "--workers", "2")
    try:
        port = int(server.base_url.rsplit(":", 1)[1])
        deadline = time.monotonic() + 30
        while len(_children(server.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = _children(server.proc.pid)
        assert len(workers) == 2, (tmp_path / "server.log").read_text()
        asyncio.run(_across(server.base_url, key, port, workers))
    finally:
        assert stop_server(server) == 0
    assert not any(Path(f"/proc/{w}").exists() and "zombie" not in Path(f"/proc/{w}/status").read_text()
                   for w in workers)


async def _across(base: str, key: str, port: int, workers: list[int]) -> None:
    h = {"api_key": key}
    async with httpx.AsyncClient(base_url=base, headers=h, timeout=20) as c:
        deviceid = (await c.post("/v0/devices", json={"model": "X", "serial_number": "S"})).json()["deviceid"]
        token = (await c.post("/v0/sessions", json={"deviceid": deviceid})).json()["token_session"]
    streams = [httpx.AsyncClient(base_url=base, headers=h, timeout=20) for _ in range(16)]  # one connection each
    try:
        opened = [await s.send(s.build_request("GET", f"/v0/sessions/{token}/stream"), stream=True) for s in streams]
        lines = [r.aiter_lines() for r in opened]

        async def next_event(it: object) -> dict[str, object]:
            async for line in it:  # type: ignore[attr-defined]
                if line.startswith("data: "):
                    return json.loads(line[6:])  # type: ignore[no-any-return]
            raise EOFError

        await asyncio.wait_for(asyncio.gather(*(next_event(it) for it in lines)), 20)
        held = [_established(w, port) for w in workers]
        assert all(n >= 1 for n in held) and sum(held) >= 16, held  # the streams are spread over both
        for n in range(1, 5):  # each write, through whichever worker, reaches every stream
            async with httpx.AsyncClient(base_url=base, headers=h, timeout=20) as c:
                r = await c.post("/v0/passings", json={"token_session": token, "passings_list": [
                    {"bib": "1", "num_passing": n, "timestamp": TS}]})
                assert r.status_code == 201, r.text
            got = await asyncio.wait_for(asyncio.gather(*(next_event(it) for it in lines)), 20)
            assert all([p["num_passing"] for p in e["passings"]] == [n] for e in got)  # type: ignore[attr-defined]
    finally:
        for s in streams:
            await s.aclose()


def test_workers_need_postgresql(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "sessionhub", "serve", "--db", f"sqlite:///{tmp_path / 'x.db'}",
                          "--workers", "2", "--coap", "off", "--http", "127.0.0.1:0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "PostgreSQL" in out.stderr, out.stderr
