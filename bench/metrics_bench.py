"""What counting requests for /metrics costs the hot GET, measured in process (no sockets, no server).

    python -m bench.metrics_bench [--calls N]

The same runtime serves two apps, one with metrics and one built with ``metrics=False``; the hot
``GET /v0/sessions/{token}`` is called straight through each ASGI app (a scope, a no-op send), in
interleaved rounds, best round of each kept, timed in process CPU time (what other processes on a
shared machine do then does not count). The difference is the middleware's own cost per request;
it is printed beside the app's whole cost, which a server adds uvicorn's parsing and the socket to
(bench/http_bench.py measures that over wrk, same run).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import Figure, print_figures
from sessionhub.config import Settings
from sessionhub.http import create_app
from sessionhub.runtime import build


async def _calls(app: Any, token: str, key: str, n: int) -> float:
    """CPU seconds per call of the hot GET through ``app``."""
    scope_base = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                  "scheme": "http", "path": f"/v0/sessions/{token}", "raw_path": f"/v0/sessions/{token}".encode(),
                  "query_string": b"", "root_path": "", "headers": [(b"host", b"bench"), (b"api_key", key.encode())],
                  "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    start = time.process_time()  # this process's CPU only: peers on a shared machine do not count
    for _ in range(n):
        await app(dict(scope_base), receive, send)
    elapsed = time.process_time() - start
    assert set(statuses) == {200}, set(statuses)
    return elapsed / n


def _lane_calls(app: Any, token: str, key: str, n: int) -> float:
    """CPU seconds per hot GET answered by the app's protocol-level lane (what a served GET takes)."""
    scope_base = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                  "scheme": "http", "path": f"/v0/sessions/{token}", "raw_path": f"/v0/sessions/{token}".encode(),
                  "query_string": b"", "root_path": "", "headers": [(b"host", b"bench"), (b"api_key", key.encode())],
                  "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    answer_now = app.answer_now
    start = time.process_time()
    for _ in range(n):
        answer = answer_now(dict(scope_base))
    elapsed = time.process_time() - start
    assert answer is not None and answer[0] == 200, answer
    return elapsed / n


async def run(calls: int, rounds: int = 7) -> list[Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="sessionhub-metrics-bench-"))
    # one client calling as fast as it can: the rate limits (checked on every call) set where they never bite
    runtime = build(Settings(db=f"sqlite:///{tmp / 'bench.db'}", rate_per_key=0, rate_per_address=0))
    await runtime.store.apply_migrations()
    await runtime.start()
    try:
        key = await runtime.access.create_key("bench", "READ_WRITE")
        k = await runtime.access.authenticate(key)
        deviceid = await runtime.timing.bind_device(k, model="M", serial_number="S", type=None, alias=None,
                                                    firmware=None)
        token = await runtime.timing.open_session(k, deviceid, "START-5K")
        metered = create_app(runtime, lifespan=False)
        runtime.settings = dataclasses.replace(runtime.settings, metrics=False)
        bare = create_app(runtime, lifespan=False)
        on, off, lane_on, lane_off = [], [], [], []
        await _calls(metered, token, key, calls // 10)  # warm both (caches, the route index)
        await _calls(bare, token, key, calls // 10)
        for _ in range(rounds):
            on.append(await _calls(metered, token, key, calls))
            off.append(await _calls(bare, token, key, calls))
            lane_on.append(_lane_calls(metered, token, key, calls))
            lane_off.append(_lane_calls(bare, token, key, calls))
    finally:
        await runtime.stop()
    best_on, best_off = min(on) * 1e9, min(off) * 1e9
    lane, lane_bare = min(lane_on) * 1e9, min(lane_off) * 1e9
    served = 1e9 / 30_000  # ns of a served hot GET at 30k req/s on one core
    return [Figure("hot GET in process (CPU), ASGI way, metrics on (the default)", best_on, "ns/request",
                   "the same app without metrics", best_off, "-", True),
            Figure("the middleware's own cost, ASGI way", best_on - best_off, "ns/request",
                   "a served hot GET at 30k req/s on one core", served, "<= 5%", best_on - best_off <= 0.05 * served),
            Figure("hot GET in process (CPU), protocol lane, metrics on", lane, "ns/request",
                   "the same lane without metrics", lane_bare, "-", True),
            Figure("the middleware's own cost, protocol lane", lane - lane_bare, "ns/request",
                   "a served hot GET at 30k req/s on one core", served, "<= 5%", lane - lane_bare <= 0.05 * served)]


def main(calls: int = 20_000) -> list[Figure]:
    figures = asyncio.run(run(calls))
    print_figures("Metrics cost on the hot GET (in process)", figures)
    return figures


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20_000)
    main(ap.parse_args().calls)
