"""Console figures, each beside a reference measured in the same run on the same server:

- a location's board with 1,000 active sessions: server render time (the whole GET, loopback) beside
  the Coord API's GET of the same 1,000 sessions as JSON, and the page's weight (HTML + CSS + JS as
  sent, gzip) against the 150 KB target;
- from a write's 2xx (a Coord POST of a new session) to the change painted in headless Chromium on
  that board, beside the SSE delivery of the same change to a plain subscriber of the dialect's
  stream (``/v1/access/parking/{loc}/stream``), p50 and p99;
- 100 open console pages (each the board's change stream, fetching the changed row on each change,
  as the page's script does) while a writer changes the garage twice a second: the server's memory
  and CPU beside the same run without pages, and the Coord hot GET (one session, wrk) beside the
  same GET without pages (issue 12: within 5%).

    python -m bench --only console [--quick]
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.harness import Figure, cli, free_port, print_figures, rss_mb, sessionhub, wrk

SESSIONS = 1_000


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class StreamWatch:
    """A plain SSE subscriber (raw socket) that stamps the arrival of each session id it sees."""

    def __init__(self, port: int, path: str) -> None:
        self.seen: dict[int, float] = {}
        self._sock = socket.create_connection(("127.0.0.1", port))
        self._sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        import re

        buf = b""
        while True:
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            now = time.time() * 1000
            buf = (buf + chunk)[-200_000:]
            for m in re.finditer(rb'"id":(\d+),"start_time"', chunk):
                self.seen.setdefault(int(m.group(1)), now)

    def close(self) -> None:
        self._sock.close()


def board(base: str, key: str, loc: int, rounds: int) -> list[Figure]:
    with httpx.Client(base_url=base, timeout=30, headers={"accept-encoding": "gzip"}) as c:
        assert c.post("/console/signin", data={"key": key}).status_code == 303
        page_ms, api_ms = [], []
        for _ in range(rounds):
            t = time.perf_counter()
            r = c.get(f"/console/parking/{loc}")
            page_ms.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200 and r.text.count("Let out") + r.text.count(">End<") >= SESSIONS
            t = time.perf_counter()
            a = c.get(f"/v1/access/parking/{loc}/session", params={"access_key": key})
            api_ms.append((time.perf_counter() - t) * 1000)
            assert a.status_code == 200 and len(a.json()) >= SESSIONS
        weight = int(r.headers.get("content-length") or len(r.content))
        raw_html = len(r.content)
        for asset in ("console.css", "console.js"):
            s = c.get(f"/console/static/{asset}")
            weight += int(s.headers.get("content-length") or len(s.content))
        api_bytes = int(a.headers.get("content-length") or len(a.content))
    med, ref = statistics.median(page_ms), statistics.median(api_ms)
    print(f"board HTML {raw_html / 1024:,.0f} KB uncompressed; API list {api_bytes / 1024:,.0f} KB")
    return [
        Figure(f"board of {SESSIONS:,} active sessions, GET median", med, "ms", "Coord GET of the same list (JSON)",
               ref, "<= 50 ms", med <= 50),
        Figure(f"board of {SESSIONS:,} active sessions, GET p90", _pct(page_ms, 90), "ms", "Coord GET p90",
               _pct(api_ms, 90), "<= 50 ms", _pct(page_ms, 90) <= 50),
        Figure("board page weight (HTML + CSS + JS, as sent)", weight / 1024, "KB", "Coord list (JSON, as sent)",
               api_bytes / 1024, "<= 150 KB", weight <= 150 * 1024),
    ]


def painted(base: str, port: int, key: str, loc: int, rounds: int, tmp: Path) -> list[Figure]:
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        print("painted latency: skipped (chromium and chromedriver are not installed)")
        return []
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp / 'chromium'}"):
        options.add_argument(flag)
    driver: Any = webdriver.Chrome(service=Service(driver_path), options=options)
    watch = StreamWatch(port, f"/v1/access/parking/{loc}/stream?access_key={key}")
    paint_ms, sse_ms = [], []
    try:
        driver.get(f"{base}/console/signin?next=/console/parking/{loc}")
        driver.find_element("id", "key").send_keys(key)
        driver.find_element("css selector", "form button.primary").click()
        deadline = time.monotonic() + 30
        while driver.execute_script("return document.getElementById('live-state')?.textContent") != "live":
            if time.monotonic() > deadline:
                raise RuntimeError("the console's change stream did not open")
            time.sleep(0.05)
        # stamp, in the page, the moment a session id first shows in the painted board
        driver.execute_script("""
            window.__seen = {};
            const region = document.querySelector('[data-live]');
            new MutationObserver(() => {
              for (const th of region.querySelectorAll('tbody th')) {
                const id = parseInt(th.textContent, 10);
                if (!(id in window.__seen)) window.__seen[id] = performance.timeOrigin + performance.now();
              }
            }).observe(region, {childList: true, subtree: true});
            for (const th of region.querySelectorAll('tbody th')) window.__seen[parseInt(th.textContent, 10)] = 0;
        """)
        with httpx.Client(base_url=base, timeout=30) as c:
            for _ in range(rounds):
                r = c.post(f"/v1/access/parking/{loc}/session", params={"access_key": key},
                           json={"user_id": str(uuid.uuid4())})
                done = time.time() * 1000
                sid = int(r.json()["id"])
                deadline = time.monotonic() + 20
                while True:
                    at = driver.execute_script(f"return window.__seen[{sid}]")
                    if at or time.monotonic() > deadline:
                        break
                    time.sleep(0.01)
                if not at:
                    raise RuntimeError(f"session {sid} was never painted")
                while sid not in watch.seen and time.monotonic() < deadline:
                    time.sleep(0.005)
                paint_ms.append(float(at) - done)
                sse_ms.append(watch.seen.get(sid, float("nan")) - done)
                time.sleep(0.2)
    finally:
        watch.close()
        driver.quit()
    return [
        Figure("write 2xx -> painted in Chromium, p50", statistics.median(paint_ms), "ms",
               "SSE delivery of the same change, p50", statistics.median(sse_ms), "-", True),
        Figure("write 2xx -> painted in Chromium, p99", _pct(paint_ms, 99), "ms",
               "SSE delivery of the same change, p99", _pct(sse_ms, 99), "<= 100 ms", _pct(paint_ms, 99) <= 100),
    ]


class OpenPages:
    """``n`` console pages as the server sees them: each its own change stream (one socket, the
    signed-in cookie), and on each change the row fetch the page's script makes (a few threads)."""

    def __init__(self, port: int, cookie: str, loc: int, n: int) -> None:
        import queue
        import re
        import selectors

        self.events = 0
        self.fetched = 0
        self._stop = threading.Event()
        self._fetches: queue.Queue[int] = queue.Queue()
        self._sel = selectors.DefaultSelector()
        request = (f"GET /console/events?t=parking/location/{loc} HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n"
                   "Accept: text/event-stream\r\n\r\n").encode()
        self._socks = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(request)
            s.setblocking(False)
            self._sel.register(s, selectors.EVENT_READ)
            self._socks.append(s)
        self._session = re.compile(rb'"session":(\d+)')
        self._threads = [threading.Thread(target=self._read, daemon=True)] + [
            threading.Thread(target=self._fetch, args=(port, cookie, loc), daemon=True) for _ in range(4)]
        for t in self._threads:
            t.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._sel.select(0.2):
                try:
                    chunk = key.fileobj.recv(65536)  # type: ignore[union-attr]
                except (BlockingIOError, OSError):
                    continue
                for m in self._session.finditer(chunk):
                    self.events += 1
                    self._fetches.put(int(m.group(1)))

    def _fetch(self, port: int, cookie: str, loc: int) -> None:
        import queue

        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                          headers={"cookie": cookie, "x-console-fetch": "1"}) as c:
            while not self._stop.is_set():
                try:
                    sid = self._fetches.get(timeout=0.2)
                except queue.Empty:
                    continue
                c.get(f"/console/parking/{loc}", params={"part": "row", "session": str(sid)})
                self.fetched += 1

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)
        for s in self._socks:
            s.close()


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Writer:
    """Changes the garage ``rate`` times a second (a new session, then it ends), until closed."""

    def __init__(self, base: str, key: str, loc: int, rate: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(base, key, loc, rate), daemon=True)
        self._thread.start()

    def _run(self, base: str, key: str, loc: int, rate: float) -> None:
        with httpx.Client(base_url=base, timeout=30, params={"access_key": key}) as c:
            while not self._stop.wait(1 / rate):
                c.post(f"/v1/access/parking/{loc}/session", json={"user_id": str(uuid.uuid4())})

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


def open_pages(base: str, port: int, pid: int, key: str, loc: int, quick: bool, pages: int = 100) -> list[Figure]:
    window = 4 if quick else 8
    with httpx.Client(base_url=base, timeout=30) as c:
        assert c.post("/console/signin", data={"key": key}).status_code == 303
        cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
        one = c.get(f"/v1/access/parking/{loc}/session", params={"access_key": key}).json()[0]["id"]
    hot = f"{base}/v1/access/parking/{loc}/session/{one}?access_key={key}"

    def measure() -> tuple[float, float]:
        """(server CPU % of a core over ``window`` s of writes, hot GET req/s under the same writes)"""
        writer = Writer(base, key, loc, 2.0)
        try:
            cpu0, t0 = _cpu_s(pid), time.monotonic()
            time.sleep(window)
            cpu = (_cpu_s(pid) - cpu0) / (time.monotonic() - t0) * 100
            rps = wrk(hot, seconds=window, connections=16)
        finally:
            writer.close()
        return cpu, rps

    rss0 = rss_mb(pid)
    cpu0, rps0 = measure()
    watchers = OpenPages(port, cookie, loc, pages)
    try:
        time.sleep(1.0)
        rss1 = rss_mb(pid)
        cpu1, rps1 = measure()
        events, fetched = watchers.events, watchers.fetched
    finally:
        watchers.close()
    print(f"{pages} open pages: {events:,} change events delivered, {fetched:,} row fetches; "
          f"{(rss1 - rss0) * 1024 / pages:,.0f} KB of server memory per page")
    return [
        Figure(f"server RSS with {pages} open console pages", rss1, "MB", "no pages", rss0, "-", True),
        Figure(f"server CPU with {pages} open pages, 2 changes/s", cpu1, "% core", "same writes, no pages", cpu0,
               "-", True),
        Figure(f"Coord hot GET with {pages} open pages", rps1, "req/s", "same GET, no pages", rps0,
               ">= 95% of reference", rps1 >= 0.95 * rps0),
    ]


def main(quick: bool = False) -> list[Figure]:
    rounds, paints = (10, 10) if quick else (40, 50)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        db = f"sqlite:///{tmp / 'console.db'}"
        cli(db, "migrate")
        key = cli(db, "keys", "create", "--account", "bench", "--access", "READ_WRITE")
        loc = int(cli(db, "locations", "create", "--account", "bench", "--name", "Bench garage", "--rate", "300",
                      "--currency", "USD"))
        port = free_port()
        with sessionhub(db, port, tmp / "server.log", "--coap", "off") as pid:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=30) as c:
                for _ in range(SESSIONS):
                    r = c.post(f"/v1/access/parking/{loc}/session", params={"access_key": key},
                               json={"user_id": str(uuid.uuid4())})
                    assert r.status_code in (200, 201), r.text
            figures = board(base, key, loc, rounds)
            figures += painted(base, port, key, loc, paints, tmp)
            figures += open_pages(base, port, pid, key, loc, quick)
    print_figures("console (server-rendered pages, live)", figures)
    return figures


if __name__ == "__main__":
    main()
