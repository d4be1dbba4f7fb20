"""Store micro-benchmark: what one repository call costs, beside the bare driver call it wraps.

    python -m bench --only store            (or: python -m bench.store_bench [--quick])

- SQLite point reads (``store.reads.<domain>.<method>``, awaited on the event loop as the services
  do) beside the same SELECT through a bare ``sqlite3`` connection in the same run: the cost of the
  repository layer (the seam) is the difference. DESIGN.md's budget for a point read is 4-6 µs.
  CPU time of this process, best of 7 rounds: wall time on a shared machine mostly measures the
  neighbours.
- A device's passings, first page (5,000 rows) vs a page past the end (``page=1000000``, an empty
  answer) vs the last page inside the data, reached in order, polled again, and jumped to cold (no
  page boundary kept, information only), same store, same run: a deep page must not cost more than
  the first one (issue 9, #3; ``_pages`` says what each read follows).
- The same point reads on PostgreSQL when a server answers (``SESSIONHUB_TEST_PG``), beside a bare
  asyncpg ``fetchrow``.

Only the public store API is used (``open_store``, ``unit_of_work``, ``reads``), so the script runs
unchanged against any version of the store.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import os
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from bench.harness import Figure, print_figures
from sessionhub.core.access import Access
from sessionhub.core.paging import Counters, Station, StationSettings
from sessionhub.core.parking import Location, ParkingSession
from sessionhub.core.timing import Device, Passing, TimingSession
from sessionhub.store import open_store

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
PAGE = 5000
FIRST_MS = 1_700_000_000_000
"""The time of the seeded device's first passing (``_seed``)."""


async def _per_call_us(call: Callable[[], Awaitable[object]], n: int, rounds: int = 7,
                       clock: Callable[[], float] = time.process_time) -> float:
    """The best of ``rounds`` of the mean µs per awaited call (``n`` calls a round), in this process's
    CPU time by default: on a shared machine, wall time mostly measures the neighbours."""
    out = []
    for _ in range(rounds):
        t0 = clock()
        for _ in range(n):
            await call()
        out.append((clock() - t0) / n * 1e6)
    return min(out)


def _fetch_one(conn: sqlite3.Connection, sql: str, params: Sequence[object]) -> object:
    return conn.execute(sql, params).fetchone()


def _sync_per_call_us(call: Callable[[], object], n: int, rounds: int = 7) -> float:
    out = []
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(n):
            call()
        out.append((time.process_time() - t0) / n * 1e6)
    return min(out)


async def _seed(store: Any, passings: int) -> dict[str, Any]:
    """One account with a key, a device with one session of ``passings``, a parking location with a
    session, and a paging station."""
    async with store.unit_of_work() as uow:
        acc = await uow.accounts.ensure_account("bench", False, 1)
        await uow.accounts.add_key(acc, "bench-hash", Access.READ_WRITE, False, "", 1)
        dev = await uow.timing.insert_device(Device(0, acc, "D" * 64, "CUSTOM", "X", "S-1", "a", None, 1, None, 1))
        ses = await uow.timing.insert_session(
            TimingSession(0, acc, dev.id, dev.deviceid, "T" * 64, "a", 1, None, 0, None, None, 1))
        loc = await uow.parking.insert_location(Location(0, acc, "lot", 300, "EUR", 15, None, 1, 1))
        park = await uow.parking.insert_session(
            ParkingSession(0, acc, loc.id, "00000000-0000-4000-8000-000000000000", None, 1, None, None, None, 1, 1))
        await uow.paging.save_station(Station(acc, 0, 1, 0, StationSettings(), Counters(0, 0, 0, 0, 0)), 1)
    for first in range(0, passings, 10_000):
        async with store.unit_of_work() as uow:
            batch = [Passing(n, FIRST_MS + n * 10, str(n % 997)) for n in range(first, min(first + 10_000,
                                                                                                      passings))]
            await uow.timing.add_passings(ses, batch, 2)
    return {"acc": acc, "dev": dev, "ses": ses, "loc": loc, "park": park}


PointRead = tuple[str, Callable[[], Awaitable[object]], str, tuple[Any, ...]]


def _point_reads(reads: Any, s: dict[str, Any]) -> list[PointRead]:
    """(name, repository call, the bare SELECT it runs (SQLite placeholders), its parameters)."""
    acc, dev, ses, park = s["acc"], s["dev"], s["ses"], s["park"]
    return [
        ("accounts.key", lambda: reads.accounts.key("bench-hash"),
         "SELECT k.id, k.account_id, k.access, k.unbind, k.alias, a.is_test FROM api_keys k"
         " JOIN accounts a ON a.id = k.account_id WHERE k.key_hash = ? AND k.revoked_ms IS NULL", ("bench-hash",)),
        ("timing.device", lambda: reads.timing.device(acc, dev.deviceid),
         "SELECT id, account_id, deviceid, type, model, serial_number, alias, firmware, created_ms, last_seen_ms, seq"
         " FROM devices WHERE deviceid = ? AND account_id = ?", (dev.deviceid, acc)),
        ("timing.session", lambda: reads.timing.session(acc, ses.token),
         "SELECT s.id, s.account_id, s.device_id, d.deviceid, s.token, s.alias, s.created_ms, s.closed_ms,"
         " s.passings, s.first_ms, s.last_ms, s.seq FROM timing_sessions s JOIN devices d ON d.id = s.device_id"
         " WHERE s.token = ? AND s.account_id = ?", (ses.token, acc)),
        ("parking.session", lambda: reads.parking.session(acc, park.id),
         "SELECT id, account_id, location_id, user_id, barcode, start_ms, end_ms, cost, currency, created_ms, seq"
         " FROM parking_sessions WHERE id = ? AND account_id = ?", (park.id, acc)),
        ("paging.station", lambda: reads.paging.station(acc, station="default"),
         "SELECT account_id, station, global_seq, next_id, clock_offset_ms, system_id, default_goal_s,"
         " stats_clear_mark, stats_since_ms, stats_sessions, stats_served, stats_late, stats_served_s"
         " FROM paging_stations WHERE account_id = ? AND station = ?", (acc, "default")),
    ]


async def _per_step_us(setup: Callable[[], Awaitable[object]], call: Callable[[], Awaitable[object]], n: int,
                       rounds: int, clock: Callable[[], float]) -> float:
    """``_per_call_us`` with an untimed ``setup`` before each timed ``call``."""
    out = []
    for _ in range(rounds):
        spent = 0.0
        for _ in range(n):
            await setup()
            t0 = clock()
            await call()
            spent += clock() - t0
        out.append(spent / n * 1e6)
    return min(out)


async def _pages(reads: Any, s: dict[str, Any], passings: int, n: int) -> list[Figure]:
    """Wall time (PostgreSQL works in its own process), best of 3 rounds of ``n`` reads each.

    SQLite keeps page boundaries between reads (docs/store.md): a read's cost depends on what was read
    before it in its window ``(device, from, to)``. So each figure says what came before: the past-the-end
    page runs before any deep page; "cold" reads each use a window of their own (``from`` a distinct
    instant before every passing: the same rows, no boundary kept); "next in order" reads the page
    before the last one (untimed, in a window of its own: the boundary paging in order leaves) and
    times the last page; "polled again" re-reads the last page of one window, as a live client does."""
    dev = s["dev"]
    wall = time.perf_counter
    windows = itertools.count(1)
    window: list[int] = [0]

    def page(offset: int, low: int | None = None) -> Awaitable[object]:
        return reads.timing.passings_of_device(dev.id, low, None, offset, PAGE)  # type: ignore[no-any-return]

    async def new_window() -> None:
        window[0] = FIRST_MS - next(windows)

    last_page = max(0, (passings - 1) // PAGE) * PAGE
    first = await _per_call_us(lambda: page(0), n, 3, wall)
    past = await _per_call_us(lambda: page((1_000_000 - 1) * PAGE), n, 3, wall)
    cold = await _per_step_us(new_window, lambda: page(last_page, window[0]), n, 3, wall)

    async def page_before_last() -> None:
        await new_window()
        await page(last_page - PAGE, window[0])

    in_order = await _per_step_us(page_before_last, lambda: page(last_page, window[0]), n, 3, wall)
    await page(last_page)
    polled = await _per_call_us(lambda: page(last_page), n, 3, wall)
    ref = "first page (5,000 rows)"
    return [
        Figure("device passings, page=1000000 (empty)", past, "µs", ref, first, "<= 1.2x the first page",
               past <= 1.2 * first),
        Figure(f"device passings, last page (offset {last_page:,}), next in order", in_order, "µs", ref, first,
               "<= 1.2x the first page", in_order <= 1.2 * first),
        Figure(f"device passings, last page (offset {last_page:,}), polled again", polled, "µs", ref, first,
               "<= 1.2x the first page", polled <= 1.2 * first),
        Figure(f"device passings, last page (offset {last_page:,}), cold jump", cold, "µs", ref, first,
               "- (information)", True),
    ]


async def _sqlite(quick: bool) -> list[Figure]:
    n = 2_000 if quick else 20_000
    passings = 20_000 if quick else 200_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        store: Any = open_store(f"sqlite:///{path}")
        await store.start(migrate=True)
        try:
            s = await _seed(store, passings)
            bare = sqlite3.connect(path, isolation_level=None)
            figures = []
            for name, call, sql, params in _point_reads(store.reads, s):
                ours = await _per_call_us(call, n)
                ref = _sync_per_call_us(functools.partial(_fetch_one, bare, sql, params), n)
                figures.append(Figure(f"SQLite point read {name}", ours, "µs", "bare sqlite3 execute+fetchone",
                                      ref, "4-6 µs", ours <= 6.0))
            bare.close()
            figures += await _pages(store.reads, s, passings, 5 if quick else 20)
            return figures
        finally:
            await store.stop()


async def _postgres(quick: bool) -> list[Figure]:
    import asyncpg

    base = os.environ.get("SESSIONHUB_TEST_PG") or DEFAULT_PG
    try:
        admin = await asyncpg.connect(base, timeout=3)
    except Exception as exc:
        print(f"\n(no PostgreSQL at {base}: {exc}; PostgreSQL figures skipped)")
        return []
    schema = f"bench_store_{os.getpid()}"
    await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"')
    url = f"{base}{'&' if '?' in base else '?'}search_path={schema}"
    n = 300 if quick else 3_000
    passings = 20_000 if quick else 200_000
    store: Any = open_store(url)
    try:
        await store.apply_migrations()
        await store.start()
        s = await _seed(store, passings)
        conn = await asyncpg.connect(url)
        figures = []
        for name, call, sql, params in _point_reads(store.reads, s):
            pg_sql = sql
            for i in range(1, sql.count("?") + 1):
                pg_sql = pg_sql.replace("?", f"${i}", 1)
            ours = await _per_call_us(call, n, clock=time.perf_counter)
            ref = await _per_call_us(functools.partial(conn.fetchrow, pg_sql, *params), n, clock=time.perf_counter)
            figures.append(Figure(f"PostgreSQL point read {name}", ours, "µs", "bare asyncpg fetchrow (one conn)",
                                  ref, "-", True))
        await conn.close()
        figures += await _pages(store.reads, s, passings, 3 if quick else 10)
        return figures
    finally:
        await store.stop()
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


def main(quick: bool = False) -> list[Figure]:
    figures = asyncio.run(_sqlite(quick))
    print_figures("Store: SQLite repository calls beside bare sqlite3 (same run)", figures)
    pg = asyncio.run(_postgres(quick))
    if pg:
        print_figures("Store: PostgreSQL repository calls beside bare asyncpg (same run)", pg)
    return figures + pg


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    main(ap.parse_args().quick)
