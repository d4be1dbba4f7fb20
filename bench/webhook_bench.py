"""Webhooks: deliveries per second, and the time from a write's 2xx to its webhook at the receiver.

    python -m bench.webhook_bench [--quick]

A ``sessionhub serve`` (SQLite, core 0) delivers to a receiver in this process (a minimal HTTP/1.1
server on asyncio streams answering 204 at once; core 1 with the writer). One clock: both sides of
every latency are this process's ``time.monotonic``.

- **Commit to receiver**: one passing at a time through ``POST /v0/passings``; for each, the time
  from its 201 arriving here to its webhook arriving at the receiver; p50 and p99. Reference: the
  write's own round trip (median), same run.
- **Drain rate**: N changes written while the subscription is disabled, then ``webhooks enable``:
  deliveries per second from the first arrival to the last, with 1 subscription and with 4 (each
  change to each). Reference: a raw ``httpx`` POST loop of the same body to the same receiver (one
  keep-alive connection per loop, one loop per subscription): the client and receiver's own ceiling.
  Each sessionhub delivery also commits its log row and cursor (SQLite: an fsync), one at a time
  per subscription (its order guarantee), which is what the ratio shows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.harness import PY, Figure, free_port, print_figures, sessionhub


def cli(db: str, *args: str) -> str:
    out = subprocess.run([PY, "-m", "sessionhub", *args, "--db", db], check=True, capture_output=True, text=True)
    return out.stdout.strip()


class Receiver:
    """Records the arrival time of each webhook by the bib of its first passing, and counts per path."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrivals: dict[str, float] = {}
        self.times: list[float] = []
        self.count = 0
        self.body = b""
        self.event = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length)
                now = time.monotonic()
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                self.count += 1
                self.times.append(now)
                if b"webhook-id" in head:
                    self.body = body
                    data = json.loads(body)["data"]
                    if data and data.get("passings"):
                        self.arrivals.setdefault(data["passings"][0]["bib"], now)
                self.event.set()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the sender closed, or the bench is ending (asyncio.run cancels the open connections)
        finally:
            writer.close()

    async def until(self, done: object, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise RuntimeError("the receiver waited too long")
            self.event.clear()
            try:
                await asyncio.wait_for(self.event.wait(), 0.05)
            except TimeoutError:
                pass


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _run(db: str, base: str, key: str, receiver: Receiver, latency_n: int, drain_n: int) -> list[Figure]:
    figures = []
    async with httpx.AsyncClient(base_url=base, headers={"api_key": key}, timeout=30) as c:
        deviceid = (await c.post("/v0/devices", json={"model": "Bench", "serial_number": "W-1"})).json()["deviceid"]
        token = (await c.post("/v0/sessions", json={"deviceid": deviceid})).json()["token_session"]
        n = 0

        async def write(bib: str) -> float:
            nonlocal n
            n += 1
            r = await c.post("/v0/passings", json={"token_session": token, "passings_list": [
                {"bib": bib, "num_passing": n, "timestamp": "2023-02-03T16:08:18.263Z"}]})
            r.raise_for_status()
            return time.monotonic()

        def subscribe(path: str) -> str:
            return cli(db, "webhooks", "create", "--account", "bench", "--url",
                       f"http://127.0.0.1:{receiver.port}/{path}", "--kinds", "timing.session",
                       "--webhook-allow-networks", "127.0.0.0/8").split("\t")[0]

        hooks = [subscribe("a")]
        await asyncio.sleep(0.5)  # the server reloads its subscriptions through the change feed

        # commit to receiver, one subscription
        lat, rtt = [], []
        for i in range(latency_n):
            t0 = time.monotonic()
            ok = await write(f"L{i}")
            rtt.append(ok - t0)
            await receiver.until(lambda i=i: f"L{i}" in receiver.arrivals)
            lat.append(receiver.arrivals[f"L{i}"] - ok)
        ms = 1000.0
        ref_rtt = statistics.median(rtt) * ms
        figures.append(Figure(f"webhook p50 after the write's 2xx ({latency_n} writes, one at a time)",
                              statistics.median(lat) * ms * 1000, "µs", "the write's round trip, median (µs)",
                              ref_rtt * 1000, "none (information)", True))
        figures.append(Figure("webhook p99 after the write's 2xx", _p(lat, 0.99) * ms * 1000, "µs",
                              "the write's round trip, median (µs)", ref_rtt * 1000, "none (information)", True))

        # drain rate: changes written while disabled, then enabled
        for subs in (1, 4):
            hooks += [subscribe(p) for p in "bcd"[: subs - len(hooks)]]  # from the log's head on
            for sid in hooks:
                cli(db, "webhooks", "disable", sid)
            await asyncio.sleep(0.3)
            for i in range(drain_n):
                await write(f"D{subs}-{i}")
            before = receiver.count
            start = len(receiver.times)
            for sid in hooks:
                cli(db, "webhooks", "enable", sid)
            await receiver.until(lambda b=before, s=subs: receiver.count >= b + drain_n * s, timeout=300)
            span = receiver.times[-1] - receiver.times[start]
            rate = (drain_n * subs - 1) / span if span > 0 else 0.0
            ref = await _reference(receiver, receiver.body, drain_n, subs)
            figures.append(Figure(f"webhook deliveries/s draining {drain_n:,} changes to {subs} subscription(s)",
                                  rate, "/s", f"raw httpx POST loop x{subs}, same body and receiver (/s)", ref,
                                  "none (information)", True))
    return figures


async def _reference(receiver: Receiver, body: bytes, n: int, loops: int) -> float:
    """Requests/s of ``loops`` plain POST loops (one keep-alive connection each) to the receiver."""
    url = f"http://127.0.0.1:{receiver.port}/ref"

    async def loop() -> None:
        async with httpx.AsyncClient(timeout=30) as c:
            for _ in range(n):
                (await c.post(url, content=body, headers={"content-type": "application/json"})).raise_for_status()

    t0 = time.monotonic()
    await asyncio.gather(*(loop() for _ in range(loops)))
    return n * loops / (time.monotonic() - t0)


async def _main(quick: bool) -> list[Figure]:
    latency_n, drain_n = (50, 300) if quick else (200, 1000)
    tmp = Path(tempfile.mkdtemp(prefix="sessionhub-webhook-bench-"))
    db = f"sqlite:///{tmp / 'bench.db'}"
    cli(db, "migrate")
    key = cli(db, "keys", "create", "--account", "bench", "--access", "READ_WRITE")
    receiver = Receiver()
    await receiver.start()
    port = free_port()
    with sessionhub(db, port, tmp / "server.log", "--coap", "off", "--webhook-allow-networks", "127.0.0.0/8"):
        return await _run(db, f"http://127.0.0.1:{port}", key, receiver, latency_n, drain_n)


def main(quick: bool = False) -> list[Figure]:
    figures = asyncio.run(_main(quick))
    print_figures("Webhooks (SQLite, server on core 0, writer and receiver in one process)", figures)
    return figures


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    main(ap.parse_args().quick)
