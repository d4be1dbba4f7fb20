"""Live-update figures: SSE subscribers per process and their memory, fan-out latency of one change,
the cost of a 304 against a 200, and the bandwidth streamrank measures (docs/live.md).

    python -m bench.live_bench [--quick]

The server runs pinned to core 0; the subscribers run in a child process of this module pinned to
core 1 (raw asyncio protocols, so the client is not what is measured).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import PY, Figure, cli, free_port, pin, print_figures, process, rss_mb, sessionhub, wrk
from sessionhub import streamrank

USER = "00000000-0000-0000-0000-00000000000{}"


# the subscriber side (a child process) ---------------------------------------------------------

class Subscriber(asyncio.Protocol):
    """One SSE connection; counts ``data:`` lines as they arrive and when."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.events = 0
        self.arrivals: list[float] = []
        self.first = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        n = data.count(b"data: ")
        if n:
            self.events += n
            self.arrivals.extend([now] * n)
            if not self.first.done():
                self.first.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.first.done():
            self.first.set_exception(ConnectionError("stream closed before its first event"))


async def _subscribe(host: str, port: int, path: str, n: int, headers: str) -> list[Subscriber]:
    loop = asyncio.get_running_loop()
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode()
    subs: list[Subscriber] = []
    for start in range(0, n, 250):  # in waves, within the server's listen backlog
        wave = [Subscriber(request) for _ in range(min(250, n - start))]
        await asyncio.gather(*(loop.create_connection(lambda s=s: s, host, port) for s in wave))  # type: ignore[misc]
        await asyncio.wait_for(asyncio.gather(*(s.first for s in wave)), 60)
        subs += wave
    return subs


async def _idle(host: str, port: int, path: str, n: int) -> None:
    subs = await _subscribe(host, port, path, n, "")
    print(json.dumps({"connected": len(subs)}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for s in subs:
        s.transport.close()


async def _fanout(host: str, port: int, path: str, n: int, rounds: int, post: str, body: str, key: str) -> None:
    subs = await _subscribe(host, port, path, n, f"api_key: {key}\r\n")
    await asyncio.sleep(0.5)
    latencies: list[float] = []
    writes: list[float] = []
    from_send: list[float] = []
    print(json.dumps({"subscribed": len(subs)}), flush=True)  # a profiler may start now
    cpu = time.process_time()  # the client's own CPU over the rounds: is the reader what is measured?
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", headers={"api_key": key}) as c:
        for r in range(rounds):
            before = [s.events for s in subs]
            payload = json.loads(body.replace("NUM", str(100_000 * n + r)))  # a new number: a real change
            sent = time.perf_counter()
            response = await c.post(post, json=payload)
            done = time.perf_counter()
            writes.append(done - sent)
            response.raise_for_status()
            deadline = time.monotonic() + 10
            while any(s.events == b for s, b in zip(subs, before, strict=True)) and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            missing = sum(s.events == b for s, b in zip(subs, before, strict=True))
            if missing:
                print(f"round {r}: {missing} of {n} subscribers got nothing within 10 s", file=sys.stderr, flush=True)
            latencies += [max(0.0, s.arrivals[b] - done) for s, b in zip(subs, before, strict=True)
                          if s.events > b]
            from_send += [s.arrivals[b] - sent for s, b in zip(subs, before, strict=True) if s.events > b]
            await asyncio.sleep(0.2)
    cpu = time.process_time() - cpu
    for s in subs:
        s.transport.close()
    print(json.dumps({"latencies": latencies, "writes": writes, "expected": n * rounds, "client_cpu": cpu,
                      "from_send": from_send}),
          flush=True)


async def _burst(host: str, port: int, path: str, n: int, rate: int, seconds: float, post: str, body: str,
                 key: str) -> None:
    """``rate`` changes per second on one topic for ``seconds``, ``n`` subscribers: every event's
    arrival after its own write's 2xx (the k-th event a subscriber gets is the k-th change)."""
    subs = await _subscribe(host, port, path, n, f"api_key: {key}\r\n")
    await asyncio.sleep(0.5)
    before = [s.events for s in subs]
    done: list[float] = []
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", headers={"api_key": key}) as c:
        start = loop.time()
        for r in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + r / rate - loop.time()))
            payload = json.loads(body.replace("NUM", str(200_000 * n + r)))
            response = await c.post(post, json=payload)
            done.append(time.perf_counter())
            response.raise_for_status()
    deadline = time.monotonic() + 20
    while any(s.events - b < len(done) for s, b in zip(subs, before, strict=True)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    latencies = [max(0.0, s.arrivals[b + k] - at) for s, b in zip(subs, before, strict=True)
                 for k, at in enumerate(done) if b + k < s.events]
    for s in subs:
        s.transport.close()
    print(json.dumps({"latencies": latencies, "expected": n * len(done)}), flush=True)


async def _stall(host: str, port: int, path: str, n: int) -> None:
    """``n`` subscribers that read their first event and then stop reading (tiny receive buffers)."""
    loop = asyncio.get_running_loop()
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    subs: list[Subscriber] = []
    for start in range(0, n, 250):
        wave = []
        for _ in range(min(250, n - start)):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await loop.sock_connect(sock, (host, port))
            sub = Subscriber(request)
            await loop.create_connection(lambda sub=sub: sub, sock=sock)  # type: ignore[misc]
            wave.append(sub)
        await asyncio.wait_for(asyncio.gather(*(s.first for s in wave)), 60)
        for s in wave:
            s.transport.pause_reading()  # from here on the kernel's small buffer fills and stays full
        subs += wave
    print(json.dumps({"connected": len(subs)}), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    for s in subs:
        s.transport.close()


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def child(argv: list[str]) -> None:
    _raise_fd_limit()
    try:
        import uvloop  # the client should cost the server's core nothing
        uvloop.install()
    except ImportError:
        pass
    if argv[0] == "idle":
        asyncio.run(_idle(argv[1], int(argv[2]), argv[3], int(argv[4])))
    elif argv[0] == "stall":
        asyncio.run(_stall(argv[1], int(argv[2]), argv[3], int(argv[4])))
    elif argv[0] == "burst":
        asyncio.run(_burst(argv[1], int(argv[2]), argv[3], int(argv[4]), int(argv[5]), float(argv[6]), argv[7],
                           argv[8], argv[9]))
    else:
        asyncio.run(_fanout(argv[1], int(argv[2]), argv[3], int(argv[4]), int(argv[5]), argv[6], argv[7], argv[8]))


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(pin(1, [PY, "-m", "bench.live_bench", "--child", *args]), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


# the figures -----------------------------------------------------------------------------------

def idle_memory(pid: int, port: int, path: str, n: int) -> list[Figure]:
    warm = _spawn("idle", "127.0.0.1", str(port), path, "50")  # imports and caches warm up first
    assert warm.stdout is not None and warm.stdin is not None
    json.loads(warm.stdout.readline())
    warm.stdin.write("quit\n")
    warm.stdin.flush()
    warm.wait(60)
    time.sleep(1)
    before = rss_mb(pid)
    proc = _spawn("idle", "127.0.0.1", str(port), path, str(n))
    assert proc.stdout is not None and proc.stdin is not None
    connected = json.loads(proc.stdout.readline())["connected"]
    time.sleep(2)
    after = rss_mb(pid)
    proc.stdin.write("quit\n")
    proc.stdin.flush()
    proc.wait(120)
    per_kb = (after - before) * 1024 / connected
    return [
        Figure("concurrent SSE subscribers on one process (all got their first event)", connected, "streams",
               "asked for", n, f">= {n:,}", connected >= n),
        Figure("resident memory per idle subscriber", per_kb, "KB", "server RSS before them (MB)", before,
               "<= 20 KB", per_kb <= 20),
    ]


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (/proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _fanout_run(port: int, pid: int, key: str, token: str, n: int, rounds: int) -> dict[str, Any]:
    """The fan-out child against ``port`` (server ``pid``): its figures plus the server's CPU over the rounds."""
    body = json.dumps({"token_session": token, "passings_list": [
        {"bib": "1", "num_passing": "NUM", "timestamp": "2023-02-03T16:08:18.263Z"}]}).replace('"NUM"', "NUM")
    proc = _spawn("fanout", "127.0.0.1", str(port), f"/v0/sessions/{token}/stream", str(n), str(rounds),
                  "/v0/passings", body, key)
    assert proc.stdout is not None
    proc.stdout.readline()  # subscribed: the rounds start
    cpu = _cpu_s(pid)
    out, _ = proc.communicate(timeout=600)
    got: dict[str, Any] = json.loads(out.splitlines()[-1])
    got["server_cpu"] = _cpu_s(pid) - cpu
    if len(got["latencies"]) < got["expected"]:
        raise RuntimeError(f"only {len(got['latencies'])} of {got['expected']} events arrived")
    return got


def _p99(xs: list[float]) -> float:
    return statistics.quantiles([x * 1e6 for x in xs], n=100)[98]


def fanout(pid: int, port: int, key: str, token: str, n: int, rounds: int, floor: bool = False) -> list[Figure]:
    """``rounds`` changes to ``n`` subscribers: p99 after the write's 2xx (the write's round trip
    beside it), and from the write's send; with ``floor``, the same client against bench/raw_fanout.py
    (one pre-encoded frame written to every stream in one loop) in the same run: what the loop, the
    kernel's loopback writes and this client cost without sessionhub."""
    got = _fanout_run(port, pid, key, token, n, rounds)
    p99 = _p99(got["latencies"])
    figures = [
        Figure(f"one change reaching {n:,} subscribers of it, p99 after the write's 2xx ({rounds} changes)",
               p99, "µs", "the write's own round trip, median (µs)", statistics.median(got["writes"]) * 1e6,
               "<= 50,000 µs", p99 <= 50_000),
        Figure(f"the same, p99 after the write was sent ({n:,} subscribers)", _p99(got["from_send"]), "µs",
               "server CPU per change (µs)", got["server_cpu"] / rounds * 1e6, "-", True),
        Figure(f"the same, the median round's p99 after the 2xx (one slow round on a shared machine sets the p99 of "
               f"all; {n:,} subscribers)", statistics.median(_p99(got["latencies"][r * n:(r + 1) * n])
                                                           for r in range(rounds)), "µs",
               "the worst round's p99 (µs)", max(_p99(got["latencies"][r * n:(r + 1) * n]) for r in range(rounds)),
               "-", True),
        Figure(f"the same: the client's own CPU per change ({n:,} subscribers)", got["client_cpu"] / rounds * 1e6,
               "µs", "server CPU per change (µs)", got["server_cpu"] / rounds * 1e6, "-", True),
    ]
    if floor:
        raw_port = free_port()
        with process(pin(0, [PY, "-m", "bench.raw_fanout", str(raw_port)]), raw_port,
                     Path(tempfile.gettempdir()) / "raw_fanout.log") as raw_pid:
            raw = _fanout_run(raw_port, raw_pid, key, token, n, rounds)
        figures.append(Figure(f"floor: a raw asyncio server writing one frame to {n:,} streams, same client, p99 after "
                              "its 2xx", _p99(raw["latencies"]), "µs", "its CPU per change (µs)",
                              raw["server_cpu"] / rounds * 1e6, "-", True))
        figures.append(Figure(f"floor: the same, p99 after the write was sent ({n:,} streams)", _p99(raw["from_send"]),
                              "µs", "the client's CPU per change (µs)", raw["client_cpu"] / rounds * 1e6, "-", True))
    return figures


def burst(port: int, key: str, token: str, n: int, rate: int, seconds: float) -> list[Figure]:
    body = json.dumps({"token_session": token, "passings_list": [
        {"bib": "1", "num_passing": "NUM", "timestamp": "2023-02-03T16:08:18.263Z"}]}).replace('"NUM"', "NUM")
    proc = _spawn("burst", "127.0.0.1", str(port), f"/v0/sessions/{token}/stream", str(n), str(rate), str(seconds),
                  "/v0/passings", body, key)
    out, _ = proc.communicate(timeout=600)
    got = json.loads(out.splitlines()[-1])
    lat = [x * 1e6 for x in got["latencies"]]
    p99 = statistics.quantiles(lat, n=100)[98]
    return [Figure(f"burst: {rate} changes/s on one topic for {seconds:g} s, {n:,} subscribers, p99 after each "
                   "write's 2xx", p99, "µs", f"events delivered of {got['expected']:,}", len(lat),
                   "<= 100,000 µs", p99 <= 100_000 and len(lat) == got["expected"])]


def stalled_memory(pid: int, port: int, key: str, token: str, path: str, n: int, changes: int,
                   idle_kb: float) -> list[Figure]:
    """``n`` subscribers that stop reading while ``changes`` batches of ~20 KB events are produced:
    (server RSS after - before) / n, beside the idle subscriber's figure."""
    proc = _spawn("stall", "127.0.0.1", str(port), path, str(n))
    assert proc.stdout is not None and proc.stdin is not None
    connected = json.loads(proc.stdout.readline())["connected"]
    time.sleep(1)
    before = rss_mb(pid)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"api_key": key}, timeout=60) as c:
        for r in range(changes):
            c.post("/v0/passings", json={"token_session": token, "passings_list": [
                {"bib": str(k), "num_passing": 10_000_000 + r * 200 + k, "timestamp": "2023-02-03T16:08:18.263Z"}
                for k in range(200)]}).raise_for_status()
    time.sleep(2)
    after = rss_mb(pid)
    proc.stdin.write("quit\n")
    proc.stdin.flush()
    proc.wait(120)
    per_kb = (after - before) * 1024 / connected
    produced_kb = changes * 20
    return [Figure(f"resident memory per stalled subscriber ({connected:,} not reading while {changes} events of "
                   "~20 KB each were produced)", per_kb + idle_kb, "KB",
                   "KB produced per subscriber meanwhile", produced_kb, "bounded (<< produced)",
                   per_kb + idle_kb < produced_kb / 4)]


def not_modified(base: str, key: str, token: str, seconds: int) -> list[Figure]:
    """A 304 against a 200 of the same GET: the issue's "a 304 costs at most 0.5x a 200" reads as
    304 req/s >= 2x the 200's req/s. Two GETs: the hot cached session (the fast lane, whose 200 is
    already a dict lookup), and a page of 1,000 passings (whose 304 skips the read and the render)."""
    figures = []
    for name, path in (("GET /v0/sessions/{token}", f"/v0/sessions/{token}"),
                       ("GET /v0/passings/session/{token}, 1,000 passings", f"/v0/passings/session/{token}")):
        tag = httpx.get(base + path, headers={"api_key": key}).headers["etag"]
        ok, not_mod = [], []
        for _ in range(2):  # interleaved: drift on a shared machine hits both alike
            ok.append(wrk(base + path, seconds, headers=[f"api_key: {key}"]))
            not_mod.append(_wrk_304(base + path, seconds, key, tag))
        full, cheap = statistics.median(ok), statistics.median(not_mod)
        figures.append(Figure(f"{name}: 304 (If-None-Match)", cheap, "req/s", "the 200 of the same GET", full,
                              ">= 2.00x (cost <= 0.5x)", cheap >= 2 * full))
    return figures


def _wrk_304(url: str, seconds: int, key: str, tag: str) -> float:
    """wrk counts 304 as a non-2xx answer: read its total instead of failing on it."""
    argv = ["wrk", "-t1", "-c64", f"-d{seconds}s", "-H", f"api_key: {key}", "-H", f"If-None-Match: {tag}", url]
    out = subprocess.run(pin(1, argv), check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError(out)


def bandwidth(base: str, key: str, loc: int, period: float, interval: float) -> list[Figure]:
    """A parking session that changes once every ``period`` s (entry, then exit), polled every
    ``interval`` s against its stream with ?patch=1, for three periods: the figure streamrank prints."""
    with httpx.Client(base_url=base, params={"access_key": key}) as c:
        s = c.post(f"/v1/access/parking/{loc}/session", json={"user_id": USER.format(9),
                                                              "redemption": "barcode"}).json()
        code = s["redemption_info"]["barcode"]

        def changes() -> None:
            for direction in ("entry", "exit"):
                time.sleep(period)
                c.post(f"/v1/access/parking/{loc}/gate/scan", json={"barcode": code, "direction": direction})

        writer = threading.Thread(target=changes)
        writer.start()
        block = streamrank.run(f"{base}/v1/access/parking/{loc}/session/{s['id']}?access_key={key}", 3 * period,
                               interval)
        writer.join()
    print("\n" + streamrank.to_yaml(block).rstrip())
    return [Figure(f"bandwidth saved by ?patch=1 streaming vs polling every {interval:g} s, change every {period:g} s "
                   "(streamrank size_percentage)", float(block["size_percentage"]), "%",  # type: ignore[arg-type]
                   "polled bytes per poll", float(block["polling_size_download_average"]),  # type: ignore[arg-type]
                   ">= 90 %", int(block["size_percentage"]) >= 90)]  # type: ignore[call-overload]


GROUPS = ("idle", "fanout", "burst", "stalled", "304", "bandwidth")


def main(quick: bool = False, only: tuple[str, ...] = GROUPS, fan_n: int | None = None,
         rounds_n: int | None = None) -> list[Figure]:
    """``fan_n``/``rounds_n``: the fan-out group's subscribers and changes instead of the defaults."""
    _raise_fd_limit()
    subscribers, fan, rounds = (2_000, 1_000, 5) if quick else (10_000, 10_000, 20)
    fan, rounds = fan_n or fan, rounds_n or rounds
    burst_n, burst_s, stalled, stall_changes = (1_000, 2.0, 200, 20) if quick else (1_000, 5.0, 1_000, 60)
    seconds = 4 if quick else 8
    period, interval = (3.0, 0.1) if quick else (30.0, 1.0)
    tmp = Path(tempfile.mkdtemp(prefix="sessionhub-live-bench-"))
    db = f"sqlite:///{tmp / 'bench.db'}"
    cli(db, "migrate")
    key = cli(db, "keys", "create", "--account", "bench", "--access", "READ_WRITE")
    loc = int(cli(db, "locations", "create", "--account", "bench", "--name", "Lot", "--rate", "400",
                  "--currency", "USD"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    figures: list[Figure] = []
    with sessionhub(db, port, tmp / "server.log", "--coap", "off") as pid:
        with httpx.Client(base_url=base, headers={"api_key": key}) as c:
            deviceid = c.post("/v0/devices", json={"model": "Bench", "serial_number": "L-1"}).json()["deviceid"]
            token = c.post("/v0/sessions", json={"deviceid": deviceid}).json()["token_session"]
            c.post("/v0/passings", json={"token_session": token, "passings_list": [
                {"bib": str(n), "num_passing": n, "timestamp": "2023-02-03T16:08:18.263Z"} for n in range(1, 1001)
            ]}).raise_for_status()
            parked = c.post(f"/v1/access/parking/{loc}/session", params={"access_key": key},
                            json={"user_id": USER.format(1)}).json()
        idle_kb = 15.0  # the previous run's figure, when this run does not measure it
        if "idle" in only:
            figures += idle_memory(pid, port, f"/v1/access/parking/{loc}/session/{parked['id']}/stream"
                                   f"?access_key={key}", subscribers)
            idle_kb = next(f.value for f in figures if f.name.startswith("resident memory per idle"))
        if "fanout" in only:
            figures += fanout(pid, port, key, token, fan, rounds, floor=True)
            if fan != 1_000:
                figures += fanout(pid, port, key, token, 1_000, rounds)  # the previous run's figure, same run
        if "burst" in only:
            figures += burst(port, key, token, burst_n, 100, burst_s)
        if "304" in only:
            figures += not_modified(base, key, token, seconds)
        if "bandwidth" in only:
            figures += bandwidth(base, key, loc, period, interval)
        if "stalled" in only:  # last: it opens a new session of the device (closing the others)
            with httpx.Client(base_url=base, headers={"api_key": key}) as c:
                stall_token = c.post("/v0/sessions", json={"deviceid": deviceid}).json()["token_session"]
            figures += stalled_memory(pid, port, key, stall_token,
                                      f"/v0/sessions/{stall_token}/stream?api_key={key}", stalled, stall_changes,
                                      idle_kb)
    print_figures("Live updates (SQLite store, server on one core)", figures)
    return figures


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        raise SystemExit(0)
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer subscribers, shorter runs, a 3 s change period")
    ap.add_argument("--only", action="append", choices=GROUPS, help="measure only these figures (repeatable)")
    ap.add_argument("--fan", type=int, help="fan-out subscribers (default 10,000; --quick 1,000)")
    ap.add_argument("--rounds", type=int, help="fan-out changes (default 20; --quick 5)")
    args = ap.parse_args()
    main(args.quick, tuple(args.only or GROUPS), args.fan, args.rounds)
