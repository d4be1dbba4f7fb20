"""The front door under attack and under a herd (issue 9 #1 and #3), beside same-run references.

1. **Attack**: 25,000 attacker connections from eight loopback addresses (127.0.0.2-9), half of them
   slowloris (headers never finished, a byte every 5 s), half idle SSE streams with a READ key,
   against a server with the default limits and a 20,000-descriptor limit; meanwhile a legitimate
   client on 127.0.0.1 opens a new connection for each GET of a session, 20 a second. Printed: its
   success rate and p50/p99, beside the same client's figures on the same server before the attack,
   and what the attackers got (held, refused with 429/503, timed out with 408, reset).
2. **Herd**: 200 long-polls (``?wait=40``) on a 5,000-passing page, then one 1-passing POST; other
   clients' GET p99 during it, beside their p99 without the herd, and how long the 200 took to get
   the new page.

    python -m bench.front_bench [--quick]
"""

from __future__ import annotations

import argparse
import errno
import http.client
import multiprocessing
import selectors
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from contextlib import AbstractContextManager
from pathlib import Path

import httpx

from bench.cpu_per_request import cpu_s
from bench.harness import PY, cli, free_port, pin, process

ATTACKERS = [f"127.0.0.{n}" for n in range(2, 10)]


def serve(db: str, port: int, log: Path) -> AbstractContextManager[int]:
    """sessionhub with its default limits (the ones under test), pinned to core 0."""
    argv = pin(0, [PY, "-m", "sessionhub", "serve", "--db", db, "--http", f"127.0.0.1:{port}", "--coap", "off"])
    return process(argv, port, log)


def seed(base: str, key: str, passings: int) -> str:
    with httpx.Client(base_url=base, headers={"api_key": key}, timeout=60) as c:
        deviceid = c.post("/v0/devices", json={"model": "B", "serial_number": f"S-{time.time_ns()}"}).json()["deviceid"]
        token = str(c.post("/v0/sessions", json={"deviceid": deviceid}).json()["token_session"])
        for first in range(1, passings + 1, 1000):
            c.post("/v0/passings", json={"token_session": token, "passings_list": [
                {"bib": str(n), "num_passing": n, "timestamp": "2023-02-03T16:08:18.263Z"}
                for n in range(first, min(first + 1000, passings + 1))]}).raise_for_status()
    return token


def probe(port: int, path: str, key: str, seconds: float, rate: float, fresh: bool,
          marks: list[float] | None = None) -> tuple[int, int, list[float]]:
    """GETs of ``path`` at ``rate``/s for ``seconds`` (a new connection each when ``fresh``):
    (sent, succeeded, latencies in ms)."""
    sent = ok = 0
    latencies: list[float] = []
    conn = None
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        began = time.monotonic()
        sent += 1
        try:
            if conn is None or fresh:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path, headers={"api_key": key})
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                ok += 1
            if fresh:
                conn.close()
        except OSError:
            conn = None
        latencies.append((time.monotonic() - began) * 1000)
        if marks is not None:
            marks.append(began)
        time.sleep(max(0.0, 1 / rate - (time.monotonic() - began)))
    return sent, ok, latencies


def attacker(port: int, count: int, offset: int, stream: bytes, seconds: float,
             out: multiprocessing.Queue[dict[str, int]]) -> None:
    """``count`` connections (every other one slowloris, the others an idle stream), held ``seconds``."""
    sel = selectors.DefaultSelector()
    outcome: Counter[str] = Counter()
    slow: list[socket.socket] = []
    for n in range(count):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.bind((ATTACKERS[(offset + n) % len(ATTACKERS)], 0))
            err = s.connect_ex(("127.0.0.1", port))
        except OSError:
            outcome["could not connect"] += 1
            s.close()
            continue
        if err not in (0, errno.EINPROGRESS):
            outcome["could not connect"] += 1
            s.close()
            continue
        payload = stream if n % 2 else b"GET /v0/devices HTTP/1.1\r\nHost: x\r\n"
        sel.register(s, selectors.EVENT_WRITE, payload)
        if not n % 2:
            slow.append(s)
    end, drip = time.monotonic() + seconds, time.monotonic() + 5
    while time.monotonic() < end:
        for key, events in sel.select(timeout=0.5):
            s = key.fileobj  # type: ignore[assignment]
            if events & selectors.EVENT_WRITE and key.data:
                try:
                    s.send(key.data)
                except OSError:
                    pass
                sel.modify(s, selectors.EVENT_READ, b"")
                continue
            try:
                data = s.recv(4096)
            except OSError:
                data = None
            if not key.data:  # first bytes back: what the server said
                word = "reset" if data is None else "closed" if not data else data[9:12].decode("latin-1", "replace")
                outcome[word] += 1
                sel.modify(s, selectors.EVENT_READ, b"seen")
            if not data:
                sel.unregister(s)
                s.close()
        if time.monotonic() > drip:
            drip += 5
            for s in slow:
                if s.fileno() >= 0:
                    try:
                        s.send(b"X")
                    except OSError:
                        pass
    outcome["still open at the end"] = len(sel.get_map())
    out.put(dict(outcome))


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) >= 2 else (values[0] if values else 0.0)


def attack(seconds: float, total: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="sessionhub-front-"))
    db = f"sqlite:///{tmp / 'front.db'}"
    cli(db, "migrate")
    key = cli(db, "keys", "create", "--account", "legit", "--access", "READ_WRITE")
    bad = cli(db, "keys", "create", "--account", "mallory", "--access", "READ_WRITE")
    port = free_port()
    with serve(db, port, tmp / "server.log") as pid:
        token = seed(f"http://127.0.0.1:{port}", key, 31)
        their = seed(f"http://127.0.0.1:{port}", bad, 1)
        path = f"/v0/sessions/{token}"
        before = probe(port, path, key, min(10.0, seconds), 20, fresh=True)
        stream = f"GET /v0/sessions/{their}/stream HTTP/1.1\r\nHost: x\r\napi_key: {bad}\r\n\r\n".encode()
        queue: multiprocessing.Queue[dict[str, int]] = multiprocessing.Queue()
        half = total // 2  # two processes: one holds at most ~12,500 of its 20,000 descriptors
        procs = [multiprocessing.Process(target=attacker, args=(port, half, i, stream, seconds + 5, queue))
                 for i in range(2)]
        cpu_before = cpu_s(pid)
        for p in procs:
            p.start()
        time.sleep(2)
        marks: list[float] = []
        began = time.monotonic()
        during = probe(port, path, key, seconds, 20, fresh=True, marks=marks)
        settled = [ms for ms, at in zip(during[2], marks, strict=True) if at - began > 8]
        outcomes: Counter[str] = Counter()
        for _ in procs:
            outcomes.update(queue.get(timeout=seconds + 60))
        for p in procs:
            p.join(30)
        cpu = cpu_s(pid) - cpu_before
        log = (tmp / "server.log").read_text()
    print(f"\n## Front door: {total:,} attacker connections from {len(ATTACKERS)} addresses, default limits\n")
    print("| legit client (new connection per GET, 20/s) | GETs | success | p50 ms | p99 ms |\n|---|---|---|---|---|")
    for name, (sent, ok, lat) in (("before the attack (reference)", before), ("during the attack", during)):
        print(f"| {name} | {sent} | {100 * ok / max(1, sent):.1f}% | {pct(lat, 50):.1f} | {pct(lat, 99):.1f} |")
    print(f"| during the attack, after its first 10 s (all {total:,} connects tried) | {len(settled)} | - | "
          f"{pct(settled, 50):.1f} | {pct(settled, 99):.1f} |")
    print(f"\nserver CPU during the attack: {cpu:.1f} s ({cpu / total * 1e6:.0f} µs per attacker connection, "
          "its probes included)")
    print("attackers' first answers:", ", ".join(f"{k}: {v:,}" for k, v in sorted(outcomes.items())))
    print("server log lines about limits:", sum("refused" in line or "did not arrive" in line
                                               for line in log.splitlines()))


def waiters(base: str, page: str, key: str, tag: str, count: int, out: multiprocessing.Queue[list[float]]) -> None:
    """``count`` long-polls of ``page`` (each a thread of this process): the times they got a 200."""
    done: list[float] = []

    def wait() -> None:
        with httpx.Client(base_url=base, timeout=90) as c:
            r = c.get(page, params={"wait": "40"}, headers={"api_key": key, "if-none-match": tag})
            if r.status_code == 200:
                done.append(time.monotonic())

    threads = [threading.Thread(target=wait) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    out.put(done)


def herd(count: int) -> None:
    """The herd runs in a process of its own: 200 threads reading ~1 MB each would hold the GIL of the
    process that times the other clients and add their wait to every figure (the server's part is
    what is measured; time.monotonic is one clock for every process)."""
    tmp = Path(tempfile.mkdtemp(prefix="sessionhub-herd-"))
    db = f"sqlite:///{tmp / 'herd.db'}"
    cli(db, "migrate")
    key = cli(db, "keys", "create", "--account", "legit", "--access", "READ_WRITE")
    other = cli(db, "keys", "create", "--account", "others", "--access", "READ_WRITE")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = pin(0, [PY, "-m", "sessionhub", "serve", "--db", db, "--http", f"127.0.0.1:{port}", "--coap", "off",
                   "--rate-per-address", "0", "--rate-per-key", "0"])  # one address plays 200 clients
    with process(argv, port, tmp / "server.log"):
        token = seed(base, key, 5000)
        theirs = seed(base, other, 31)
        page = f"/v0/passings/session/{token}"
        reference = probe(port, f"/v0/sessions/{theirs}", other, 5, 50, fresh=False)
        tag = httpx.get(base + page, headers={"api_key": key}, timeout=60).headers["etag"]
        queue: multiprocessing.Queue[list[float]] = multiprocessing.Queue()
        herd_process = multiprocessing.Process(target=waiters, args=(base, page, key, tag, count, queue))
        herd_process.start()
        time.sleep(3)  # every waiter is held
        result: list[tuple[int, int, list[float]]] = []
        prober = threading.Thread(target=lambda: result.append(
            probe(port, f"/v0/sessions/{theirs}", other, 8, 50, fresh=False)))
        prober.start()
        time.sleep(1)
        wrote = time.monotonic()
        httpx.post(base + "/v0/passings", headers={"api_key": key}, timeout=60, json={
            "token_session": token, "passings_list": [
                {"bib": "x", "num_passing": 5001, "timestamp": "2023-02-03T16:10:18.263Z"}]}).raise_for_status()
        done = queue.get(timeout=150)
        herd_process.join(30)
        prober.join(60)
    print(f"\n## Herd: {count} long-polls on a 5,000-passing page, then one POST\n")
    print("| other clients' GET (50/s, keep-alive) | GETs | p50 ms | p99 ms |\n|---|---|---|---|")
    for name, (sent, _, lat) in (("without the herd (reference)", reference), ("during the herd", result[0])):
        print(f"| {name} | {sent} | {pct(lat, 50):.1f} | {pct(lat, 99):.1f} |")
    spread = (max(done) - wrote) * 1000 if done else float("nan")
    print(f"\n{len(done)}/{count} waiters got the new page, the last {spread:,.0f} ms after the POST was sent "
          "(the page is rendered once for all of them: tests/http/test_lanes.py counts the renders)")


def main(quick: bool = False, only: str = "") -> None:
    if only in ("", "herd"):
        herd(200)
    if only in ("", "attack"):
        attack(10 if quick else 30, 25_000)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=("herd", "attack"), default="")
    args = ap.parse_args()
    main(args.quick, args.only)
