"""PostgreSQL figures: passings ingest, hot GET beside SQLite, and A -> B change propagation (a write
through process A to the SSE event on a stream of process B).

    python -m bench.pg_bench [--quick]

The server is ``SESSIONHUB_BENCH_PG`` (else ``SESSIONHUB_TEST_PG``, else
``postgresql://postgres@127.0.0.1:5432/test``); the run uses a fresh schema and drops it after.
Each figure has its reference from the same run: ingest and GET beside the same server on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

import httpx

from bench.harness import Figure, cli, free_port, print_figures, sessionhub, wrk
from bench.http_bench import post_load, seed_timing

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def _pg_base() -> str:
    return os.environ.get("SESSIONHUB_BENCH_PG") or os.environ.get("SESSIONHUB_TEST_PG") or DEFAULT_PG


async def _schema(base: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(base)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _with(url: str, **params: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query) + list(params.items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


async def _propagation(a: str, b: str, key: str, token: str, samples: int) -> tuple[list[float], list[float]]:
    """For one-passing batches written through A: milliseconds from sending the write to the SSE
    event of it on B's stream of the session, and A's own round trip for the same writes. (B often
    hears of the commit before A's answer is back, so the first is measured from the send: an upper
    bound that includes A's commit.)"""
    out, trips = [], []
    h = {"api_key": key}
    arrived: dict[int, float] = {}
    seen = asyncio.Event()

    async def follow(stream: httpx.Response) -> None:
        async for line in stream.aiter_lines():
            if line.startswith("data:"):
                count = json.loads(line[5:])["result"][0]["passings"]
                arrived.setdefault(count, time.perf_counter())
                seen.set()

    async with httpx.AsyncClient(headers=h, timeout=10) as c, \
            c.stream("GET", f"{b}/v0/sessions/{token}/stream") as stream:
        reader = asyncio.create_task(follow(stream))
        await seen.wait()  # the stream's first event: the session as it is
        count = max(arrived)
        for n in range(samples):
            body = {"token_session": token, "passings_list": [
                {"bib": "1", "num_passing": 10_000_000 + n, "timestamp": "2023-02-03T16:08:18.263Z"}]}
            sent = time.perf_counter()
            (await c.post(f"{a}/v0/passings", json=body)).raise_for_status()
            trips.append((time.perf_counter() - sent) * 1000)
            count += 1
            while count not in arrived:
                seen.clear()
                await asyncio.wait_for(seen.wait(), 5)
            out.append((arrived[count] - sent) * 1000)
            await asyncio.sleep(0.01)
        reader.cancel()
    return out, trips


WRITERS = 8


async def _commits_per_s(url: str, channel: str, mode: str, seconds: float) -> float:
    """``WRITERS`` connections committing one change each per transaction, as fast as they can, for
    ``seconds``; one more connection LISTENs. ``mode``: ``in-tx`` (NOTIFY inside the writer's
    transaction: today's store), ``after`` (the transaction commits, then a NOTIFY of its own: a
    wake-up only; listeners read the log by seq), ``none`` (no NOTIFY: listeners poll),
    ``sequence`` (what bounds the others: seqs from a SEQUENCE instead of the counter row that every
    writer holds locked until its commit, NOTIFY after; not in commit order, so not a design as is)."""
    import asyncpg

    listener = await asyncpg.connect(url)
    await listener.execute("CREATE SEQUENCE IF NOT EXISTS bench_seq")
    await listener.add_listener(channel, lambda *_: None)
    conns = [await asyncpg.connect(url) for _ in range(WRITERS)]
    stop = time.perf_counter() + seconds
    counts = [0] * WRITERS

    async def write(n: int, conn: Any) -> None:
        while time.perf_counter() < stop:
            async with conn.transaction():
                seq = await conn.fetchval(
                    "INSERT INTO changes (seq, account_id, topic, at_ms) SELECT -nextval('bench_seq'), 1, 'bench/w', 0"
                    " RETURNING seq" if mode == "sequence" else
                    "WITH next AS (UPDATE change_counter SET last_seq = last_seq + 1 RETURNING last_seq)"
                    " INSERT INTO changes (seq, account_id, topic, at_ms) SELECT last_seq, 1, 'bench/w', 0 FROM next"
                    " RETURNING seq")
                if mode == "in-tx":
                    await conn.execute("SELECT pg_notify($1, $2)", channel, str(seq))
            if mode in ("after", "sequence"):
                await conn.execute("SELECT pg_notify($1, $2)", channel, str(seq))
            counts[n] += 1

    began = time.perf_counter()
    await asyncio.gather(*(write(n, c) for n, c in enumerate(conns)))
    elapsed = time.perf_counter() - began
    for c in (*conns, listener):
        await c.close()
    return sum(counts) / elapsed


def writers(pg: str, seconds: float, rounds: int) -> list[Figure]:
    """Commits/s of ``WRITERS`` concurrent writers with the NOTIFY inside each transaction, against a
    wake-up NOTIFY after the commit and against no NOTIFY at all; interleaved rounds, medians."""
    runs: dict[str, list[float]] = {"in-tx": [], "after": [], "none": [], "sequence": []}
    for _ in range(rounds):
        for mode, got in runs.items():
            got.append(asyncio.run(_commits_per_s(pg, "sessionhub_bench", mode, seconds)))
    med = {mode: statistics.median(got) for mode, got in runs.items()}
    return [
        Figure(f"{WRITERS} writers, commits/s, NOTIFY after the commit (wake-up only)", med["after"], "commits/s",
               "NOTIFY inside each transaction (before)", med["in-tx"], ">= 1.00x", med["after"] >= med["in-tx"]),
        Figure(f"{WRITERS} writers, commits/s, no NOTIFY (listeners poll)", med["none"], "commits/s",
               "NOTIFY inside each transaction (before)", med["in-tx"], "reference", True),
        Figure(f"{WRITERS} writers, commits/s, seqs from a SEQUENCE (no counter row lock), NOTIFY after",
               med["sequence"], "commits/s", "NOTIFY inside each transaction (before)", med["in-tx"],
               "what bounds the rows above", True),
    ]


def main(quick: bool = False) -> list[Figure]:
    seconds, rounds = (4, 1) if quick else (8, 3)
    batches = 50 if quick else 300
    base = _pg_base()
    schema = f"bench_{secrets.token_hex(4)}"
    asyncio.run(_schema(base, f'CREATE SCHEMA "{schema}"'))
    tmp = Path(tempfile.mkdtemp(prefix="sessionhub-pgbench-"))
    pg = _with(base, search_path=schema)
    lite = f"sqlite:///{tmp / 'bench.db'}"
    figures: list[Figure] = []
    try:
        keys = {}
        for db in (pg, lite):
            cli(db, "migrate")
            keys[db] = cli(db, "keys", "create", "--account", "bench", "--access", "READ_WRITE")
        pg_port, lite_port, b_port = free_port(), free_port(), free_port()
        pg_url, lite_url, b_url = (f"http://127.0.0.1:{p}" for p in (pg_port, lite_port, b_port))
        with sessionhub(pg, pg_port, tmp / "pg.log"), sessionhub(lite, lite_port, tmp / "lite.log"):
            _, pg_token = seed_timing(pg_url, keys[pg])
            _, lite_token = seed_timing(lite_url, keys[lite])
            ours, ref = [], []
            for _ in range(rounds):  # interleaved, so drift on a shared machine hits both alike
                ours.append(wrk(f"{pg_url}/v0/sessions/{pg_token}", seconds, headers=[f"api_key: {keys[pg]}"]))
                ref.append(wrk(f"{lite_url}/v0/sessions/{lite_token}", seconds, headers=[f"api_key: {keys[lite]}"]))
            get, get_ref = statistics.median(ours), statistics.median(ref)
            figures.append(Figure("GET /v0/sessions/{token} on PostgreSQL", get, "req/s", "same on SQLite", get_ref,
                                  ">= 0.9x", get >= 0.9 * get_ref))

            _, pg_ingest = seed_timing(pg_url, keys[pg], 1)
            _, lite_ingest = seed_timing(lite_url, keys[lite], 1)
            stored = post_load(pg_url, keys[pg], pg_ingest, batches, first=10)
            stored_ref = post_load(lite_url, keys[lite], lite_ingest, batches, first=10)
            figures.append(Figure("POST /v0/passings into PostgreSQL, batches of 1000", stored, "passings/s",
                                  "same on SQLite", stored_ref, ">= 50,000/s", stored >= 50_000))

            with sessionhub(pg, b_port, tmp / "b.log"):
                lat, trips = asyncio.run(_propagation(pg_url, b_url, keys[pg], pg_ingest, 50 if quick else 300))
            lat.sort()
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            figures.append(Figure("A -> B: write sent to A -> SSE event on B's stream, p99", p99, "ms",
                                  "A's own round trip for the write, median", statistics.median(trips), "<= 100 ms",
                                  p99 <= 100))
        figures += writers(pg, 2.0 if quick else 4.0, rounds)
        print_figures("PostgreSQL (one server process on core 0; PostgreSQL itself unpinned)", figures)
    finally:
        asyncio.run(_schema(base, f'DROP SCHEMA "{schema}" CASCADE'))
    return figures


def main_writers(quick: bool = False) -> list[Figure]:
    """Only the writers' figures (a decision number without the HTTP servers)."""
    base = _pg_base()
    schema = f"bench_{secrets.token_hex(4)}"
    asyncio.run(_schema(base, f'CREATE SCHEMA "{schema}"'))
    try:
        pg = _with(base, search_path=schema)
        cli(pg, "migrate")
        figures = writers(pg, 2.0 if quick else 4.0, 1 if quick else 3)
        print_figures("PostgreSQL writers (8 connections; PostgreSQL itself unpinned)", figures)
    finally:
        asyncio.run(_schema(base, f'DROP SCHEMA "{schema}" CASCADE'))
    return figures


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="shorter runs")
    ap.add_argument("--writers", action="store_true", help="only the concurrent writers' commits/s")
    args = ap.parse_args()
    main_writers(args.quick) if args.writers else main(args.quick)
