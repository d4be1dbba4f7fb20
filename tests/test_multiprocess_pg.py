"""Two real ``sessionhub serve`` processes over one PostgreSQL database (a fresh schema per test):
visibility, cache invalidation across processes, concurrent writers, and a lost connection.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from sessionhub.store.migrations import migrations
from tests import pg
from tests.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.slow


def _cli(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sessionhub", *args, "--db", db],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def db() -> Iterator[str]:
    with pg.fresh_schema_sync("mp") as url:
        yield url


@pytest.fixture
def pair(db: str, tmp_path: Path) -> Iterator[tuple[Server, Server, str]]:
    """Servers A and B (application names mp-a / mp-b, to find their backends) and a READ_WRITE key."""
    migrated = _cli(db, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    tag = db.rsplit("_", 1)[1]
    a = start_server(f"{db}&application_name=mp-a-{tag}", tmp_path / "a.log")
    try:
        b = start_server(f"{db}&application_name=mp-b-{tag}", tmp_path / "b.log")
    except BaseException:
        stop_server(a)
        raise
    try:
        key = _cli(db, "keys", "create", "--account", "acme", "--access", "READ_WRITE", "--unbind")
        assert key.returncode == 0, key.stderr
        yield a, b, key.stdout.strip()
    finally:
        stop_server(a)
        stop_server(b)


def test_serve_refuses_an_unmigrated_database_and_says_what_to_run(db: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "sessionhub", "serve", "--db", db, "--http", "127.0.0.1:0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"run `sessionhub migrate --db {db}`" in done.stderr
    assert "Traceback" not in done.stderr
    migrated = _cli(db, "migrate")
    versions = [m.version for m in migrations("postgres")]
    assert migrated.stdout.strip() == f"applied migrations {versions}", migrated.stderr
    assert _cli(db, "migrate").stdout.strip() == "schema is up to date"


async def _bind_and_open(client: httpx.AsyncClient, base: str, h: dict[str, str], serial: str) -> tuple[str, str]:
    r = await client.post(f"{base}/v0/devices", json={"model": "X1", "serial_number": serial}, headers=h)
    assert r.status_code == 201, r.text
    deviceid = r.json()["deviceid"]
    r = await client.post(f"{base}/v0/sessions", json={"deviceid": deviceid, "alias": "START"}, headers=h)
    assert r.status_code == 201, r.text
    return deviceid, r.json()["token_session"]


def _batch(token: str, numbers: range) -> dict[str, object]:
    return {"token_session": token, "passings_list": [
        {"bib": str(n), "num_passing": n, "timestamp": f"2024-05-01T10:{n // 60 % 60:02d}:{n % 60:02d}.000Z"}
        for n in numbers]}


async def test_a_write_on_a_is_read_on_b_and_b_drops_its_cached_body(
    pair: tuple[Server, Server, str],
) -> None:
    a, b, key = pair
    h = {"api_key": key}
    async with httpx.AsyncClient(timeout=10) as c:
        deviceid, token = await _bind_and_open(c, a.base_url, h, "S-1")
        r = await c.get(f"{b.base_url}/v0/devices/{deviceid}", headers=h)
        assert r.status_code == 200 and r.json()["result"]["deviceid"] == deviceid
        for _ in range(3):  # B now serves the session body from its cache
            r = await c.get(f"{b.base_url}/v0/sessions/{token}", headers=h)
            assert r.status_code == 200 and r.json()["result"][0]["passings"] == 0

        for round_ in range(1, 4):
            r = await c.post(f"{a.base_url}/v0/passings", json=_batch(token, range(round_ * 10, round_ * 10 + 10)),
                             headers=h)
            assert r.status_code == 201 and r.json()["inserted_count"] == 10
            deadline = time.monotonic() + 2.0  # A's NOTIFY reaches B's hub, which drops the cached body
            while True:
                r = await c.get(f"{b.base_url}/v0/sessions/{token}", headers=h)
                if r.json()["result"][0]["passings"] == round_ * 10:
                    break
                assert time.monotonic() < deadline, f"B still serves {r.json()} after A's commit"
                await asyncio.sleep(0.01)

        r = await c.patch(f"{b.base_url}/v0/sessions/close/{token}", headers=h)  # and the other way round
        assert r.status_code == 200
        deadline = time.monotonic() + 2.0
        while (await c.get(f"{a.base_url}/v0/sessions/{token}", headers=h)).json()["result"][0]["active"]:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)

        new_key = _cli(a.db, "keys", "create", "--account", "acme", "--access", "READ").stdout.strip()
        r = await c.get(f"{b.base_url}/v0/sessions/{token}", headers={"api_key": new_key})
        assert r.status_code == 200  # a key issued elsewhere is known at once (B caches misses too)


async def test_concurrent_writers_on_both_processes_lose_and_double_nothing(
    pair: tuple[Server, Server, str],
) -> None:
    a, b, key = pair
    h = {"api_key": key}
    async with httpx.AsyncClient(timeout=30) as c:
        devices = [await _bind_and_open(c, a.base_url, h, f"S-{n}") for n in range(3)]

        async def push(base: str, token: str, offset: int) -> tuple[int, int]:
            inserted = duplicates = 0
            for start in range(offset, 600, 50):  # A and B send overlapping batches into every session
                r = await c.post(f"{base}/v0/passings", json=_batch(token, range(start, start + 100)), headers=h)
                assert r.status_code == 201, r.text
                inserted += r.json()["inserted_count"]
                duplicates += r.json()["duplicate_count"]
            return inserted, duplicates

        async def reopen(base: str, deviceid: str) -> str:
            r = await c.post(f"{base}/v0/sessions", json={"deviceid": deviceid, "alias": "NEXT"}, headers=h)
            assert r.status_code == 201, r.text
            return str(r.json()["token_session"])

        results = await asyncio.gather(*(push(s.base_url, token, off) for _, token in devices
                                         for s, off in ((a, 0), (b, 25))))
        binds = await asyncio.gather(*(c.post(f"{s.base_url}/v0/devices", json={"model": "X", "serial_number": "DUP"},
                                              headers=h) for s in (a, b, a, b)))
        reopened = await asyncio.gather(*(reopen(s.base_url, d) for d, _ in devices for s in (a, b)))

    assert sorted(r.status_code for r in binds) == [201, 409, 409, 409]  # one serial, one device
    assert len({r.json()["deviceid"] for r in binds}) == 1
    for i, (deviceid, token) in enumerate(devices):
        ins = results[2 * i][0] + results[2 * i + 1][0]
        assert ins == 675  # numbers 0..674, each stored by exactly one of the two processes
        async with httpx.AsyncClient(timeout=30) as c:
            r = await c.get(f"{b.base_url}/v0/passings/session/{token}", headers=h)
            assert [p["num_passing"] for p in r.json()["result"]] == list(range(675))
            r = await c.get(f"{a.base_url}/v0/sessions/{token}", headers=h)
            assert r.json()["result"][0]["passings"] == 675
            r = await c.get(f"{a.base_url}/v0/sessions/device/{deviceid}", headers=h)
            sessions = r.json()["result"]
            assert len(sessions) == 3 and sum(s["active"] for s in sessions) == 1
    assert len(set(reopened)) == 6

    conn = await asyncpg.connect(a.db)
    try:
        seqs = [r[0] for r in await conn.fetch("SELECT seq FROM changes ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1))  # gap-free, each once
        versions = await conn.fetch("SELECT seq FROM timing_sessions UNION ALL SELECT seq FROM devices")
        assert len({v[0] for v in versions}) == len(versions)  # no two objects share a version
    finally:
        await conn.close()


async def test_a_lost_connection_is_a_503_then_the_server_recovers_and_nothing_is_lost(
    pair: tuple[Server, Server, str],
) -> None:
    a, b, key = pair
    h = {"api_key": key}
    app_a = a.db.rsplit("application_name=", 1)[1]
    admin = await asyncpg.connect(a.db.split("&application_name")[0])
    try:
        async with httpx.AsyncClient(timeout=30) as c:
            deviceid, token = await _bind_and_open(c, a.base_url, h, "S-1")
            r = await c.post(f"{a.base_url}/v0/passings", json=_batch(token, range(100)), headers=h)
            assert r.status_code == 201
            r = await c.get(f"{b.base_url}/v0/sessions/{token}", headers=h)  # B caches the body
            assert r.json()["result"][0]["passings"] == 100

            async with admin.transaction():  # hold the device row: A's next write waits on it
                await admin.execute("SELECT 1 FROM devices WHERE deviceid = $1 FOR UPDATE", deviceid)
                in_flight = asyncio.create_task(
                    c.post(f"{a.base_url}/v0/passings", json=_batch(token, range(100, 200)), headers=h))
                await asyncio.sleep(0.5)
                assert not in_flight.done()
                killed = await admin.fetch(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", app_a)
                assert len(killed) >= 2  # the waiting writer and the listener at least
                r = await in_flight
            assert r.status_code == 503
            assert r.headers["content-type"] == "application/json"
            assert "unavailable" in r.json()["description"].lower() or r.json()

            # A recovers by itself: the same batch goes in now (it was not committed before)
            deadline = time.monotonic() + 10
            while True:
                r = await c.post(f"{a.base_url}/v0/passings", json=_batch(token, range(100, 200)), headers=h)
                if r.status_code == 201:
                    break
                assert r.status_code == 503 and time.monotonic() < deadline
                await asyncio.sleep(0.1)
            assert (r.json()["inserted_count"], r.json()["duplicate_count"]) == (100, 0)

            # A's listener re-subscribed: a commit through B reaches A's cache again
            r = await c.get(f"{a.base_url}/v0/sessions/{token}", headers=h)
            assert r.json()["result"][0]["passings"] == 200
            r = await c.post(f"{b.base_url}/v0/passings", json=_batch(token, range(200, 250)), headers=h)
            assert r.status_code == 201
            deadline = time.monotonic() + 7
            while (await c.get(f"{a.base_url}/v0/sessions/{token}", headers=h)).json()["result"][0]["passings"] != 250:
                assert time.monotonic() < deadline, "A never heard of B's commit after its reconnect"
                await asyncio.sleep(0.02)

            r = await c.get(f"{b.base_url}/v0/passings/session/{token}", headers=h)
            assert [p["num_passing"] for p in r.json()["result"]] == list(range(250))
    finally:
        await admin.close()
    assert a.proc.poll() is None and b.proc.poll() is None
    assert "ERROR sessionhub" not in a.log.read_text()  # a dropped connection is a warning, not a crash
