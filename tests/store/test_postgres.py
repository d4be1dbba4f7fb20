"""What only the PostgreSQL store has: migrations of a shared database, one notification per
transaction, the listener that follows other processes' commits, surviving a lost connection, and
a change sequence that stays gap-free and in order with concurrent writers on several stores.

Several stores over one database stand in for several processes here (each has its own pool and
its own listener connection); tests/test_multiprocess_pg.py does it with real server processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from sessionhub.config import Settings
from sessionhub.core.errors import StoreUnavailable
from sessionhub.core.timing import Passing
from sessionhub.runtime import Runtime, build
from sessionhub.store import SchemaError, open_store
from sessionhub.store import migrations as mig
from sessionhub.store.postgres import PostgresStore
from tests import pg


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with pg.fresh_schema("pgstore") as fresh:
        yield fresh


async def _admin(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(url)


async def _terminate(admin: asyncpg.Connection, app: str) -> int:
    """Kill every backend of application ``app``, as a database restart or failover would."""
    killed = await admin.fetch(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", app)
    return len(killed)


async def test_open_store_picks_postgres_for_postgresql_urls(url: str) -> None:
    assert isinstance(open_store(url), PostgresStore)
    assert isinstance(open_store(url.replace("postgresql://", "postgres://", 1)), PostgresStore)


async def test_an_unmigrated_schema_is_refused_with_the_command_to_run(url: str) -> None:
    store = PostgresStore(url)
    with pytest.raises(SchemaError, match=r"run `sessionhub migrate --db postgresql://"):
        await store.preflight()
    with pytest.raises(SchemaError, match="version 0"):
        await store.start(migrate=True)  # a shared database is never migrated by a server
    assert await store.apply_migrations() == [m.version for m in mig.migrations("postgres")]
    assert await store.apply_migrations() == []  # idempotent
    await store.preflight()
    await store.start()
    await store.stop()


async def test_a_newer_schema_is_refused(url: str) -> None:
    store = PostgresStore(url)
    await store.apply_migrations()
    admin = await _admin(url)
    try:
        await admin.execute("INSERT INTO schema_version (version, name) VALUES (9999, 'from the future')")
    finally:
        await admin.close()
    with pytest.raises(SchemaError, match="newer than this build"):
        await store.preflight()
    with pytest.raises(SchemaError, match="upgrade sessionhub"):
        await store.start()


async def test_migrations_mirror_sqlite_numbering() -> None:
    assert [m.version for m in mig.migrations("postgres")] == [m.version for m in mig.migrations("sqlite")]


async def test_an_unreachable_server_is_store_unavailable() -> None:
    store = PostgresStore("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(StoreUnavailable):
        await store.start()


async def _started(url: str) -> PostgresStore:
    store = PostgresStore(url)
    await store.apply_migrations()
    await store.start()
    return store


async def test_one_notification_per_committed_transaction(url: str) -> None:
    store = await _started(url)
    listener = await _admin(url)
    got: list[str] = []
    await listener.add_listener(store.channel, lambda *args: got.append(args[3]))
    try:
        async with store.unit_of_work() as uow:
            for n in range(50):
                last = await uow.accounts.append_change(1, f"t/{n}", 1)
        async with store.unit_of_work() as uow:  # no change appended: nothing to announce
            await uow.accounts.ensure_account("quiet", False, 1)
        with pytest.raises(RuntimeError):
            async with store.unit_of_work() as uow:  # rolled back: never announced
                await uow.accounts.append_change(1, "lost", 1)
                raise RuntimeError
        async with store.unit_of_work() as uow:
            final = await uow.accounts.append_change(1, "after", 1)
        await asyncio.sleep(0.3)
        assert got == [str(last), str(final)]
        assert final == last + 1
    finally:
        await listener.close()
        await store.stop()


async def test_follow_catches_up_on_notifications_and_after_a_reconnect(url: str) -> None:
    app = "follow-" + url[-8:]
    follower = await _started(url + f"&application_name={app}")
    writer = await _started(url)
    calls: list[int] = []
    caught = asyncio.Event()

    async def catch_up() -> None:
        calls.append(await follower.last_seq())
        caught.set()

    task = asyncio.create_task(follower.follow(catch_up))
    admin = await _admin(url)
    try:
        await asyncio.wait_for(caught.wait(), 5)  # the first catch-up on connecting
        caught.clear()
        async with writer.unit_of_work() as uow:
            seq = await uow.accounts.append_change(1, "a", 1)
        await asyncio.wait_for(caught.wait(), 5)
        assert calls[-1] == seq

        assert await _terminate(admin, app) >= 1  # the listener's connection (and the pool's) die
        caught.clear()
        async with writer.unit_of_work() as uow:  # committed while the follower is reconnecting
            missed = await uow.accounts.append_change(1, "b", 1)
        await asyncio.wait_for(caught.wait(), 10)
        while calls[-1] < missed:  # the catch-up after the reconnect sees it, notification or not
            caught.clear()
            await asyncio.wait_for(caught.wait(), 10)
        assert calls[-1] == missed
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await admin.close()
        await writer.stop()
        await follower.stop()


async def test_a_lost_connection_fails_the_work_in_flight_and_the_store_recovers(url: str) -> None:
    app = "lost-" + url[-8:]
    store = await _started(url + f"&application_name={app}")
    admin = await _admin(url)
    try:
        async with store.unit_of_work() as uow:
            account = await uow.accounts.ensure_account("acme", False, 1)
        with pytest.raises(StoreUnavailable):
            async with store.unit_of_work() as uow:
                await uow.accounts.append_change(account, "doomed", 1)
                assert await _terminate(admin, app) >= 1
                await uow.accounts.append_change(account, "doomed-too", 1)
        assert [c.topic for c in await store.changes_after(0)] == []  # nothing half-written
        for _ in range(3):
            await _terminate(admin, app)  # idle pooled connections too: reads retry on a fresh one
            assert await store.reads.accounts.account_id("acme") == account
        async with store.unit_of_work() as uow:
            seq = await uow.accounts.append_change(account, "after", 1)
        assert seq == 1
    finally:
        await admin.close()
        await store.stop()


@pytest.fixture
async def two_runtimes(url: str) -> AsyncIterator[tuple[Runtime, Runtime]]:
    await PostgresStore(url).apply_migrations()
    a, b = build(Settings(db=url)), build(Settings(db=url))
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.stop()
        await b.stop()


async def test_concurrent_writers_on_two_stores_give_every_hub_the_gap_free_sequence(
    two_runtimes: tuple[Runtime, Runtime],
) -> None:
    a, b = two_runtimes
    seen: dict[str, list[int]] = {"a": [], "b": []}
    a.hub.watch(lambda c: seen["a"].append(c.seq))
    b.hub.watch(lambda c: seen["b"].append(c.seq))
    raw = await a.access.create_key("acme", "READ_WRITE")
    key = await a.access.authenticate(raw)
    key_b = await b.access.authenticate(raw)
    assert key is not None and key_b == key
    devices = [await a.timing.bind_device(key, model="X", serial_number=f"S-{n}", type=None, alias=None,
                                          firmware=None) for n in range(4)]
    tokens = [await a.timing.open_session(key, d, "race") for d in devices]

    async def writer(rt: Runtime, token: str, start: int) -> None:
        for n in range(start, start + 200, 10):  # overlapping ranges: both runtimes write each session
            await rt.timing.record_passings(key, token, [Passing(m, 1000 + m, "b") for m in range(n, n + 20)])

    await asyncio.gather(*(writer(rt, t, start) for t in tokens for rt, start in ((a, 0), (b, 5))))
    # reopen sessions concurrently from both sides: the device lock keeps one active session each
    await asyncio.gather(*(rt.timing.open_session(key, d, "again") for d in devices for rt in (a, b)))

    last = await a.store.last_seq()
    for rt in (a, b):
        for _ in range(100):
            if rt.hub.last_seq == last:
                break
            await asyncio.sleep(0.05)
    assert seen["a"] == list(range(1, last + 1))  # every seq, once, in order, on both hubs
    assert seen["b"] == list(range(1, last + 1))
    changes = await a.store.changes_after(0, 100_000)
    assert [c.seq for c in changes] == list(range(1, last + 1))

    for d, t in zip(devices, tokens, strict=True):
        old = await a.timing.session(key, t)
        assert old.passings == 215 and not old.active  # 0..214 from both writers, none twice
        rows = await a.timing.passings_of_session(key, t, None, None, None)
        assert [r.passing.num_passing for r in rows] == list(range(215))
        sessions = await b.timing.sessions_of_device(key, d)
        assert len(sessions) == 3 and sum(s.active for s in sessions) == 1
