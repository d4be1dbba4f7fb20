"""Console figures, each beside a reference measured in the same run on the same server:

- a location's board with 1,000 active sessions: server render time (the whole GET, loopback) beside
  the Coord API's GET of the same 1,000 sessions as JSON, and the page's weight (HTML + CSS + JS as
  sent, gzip) against the 150 KB target;
- from a write's 2xx (a Coord POST of a new session) to the change painted in headless Chromium on
  that board, beside the SSE delivery of the same change to a plain subscriber of the dialect's
  stream (``/v1/access/parking/{loc}/stream``), p50 and p99.

    python -m bench --only console [--quick]
"""

from __future__ import annotations

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

from bench.harness import Figure, cli, free_port, print_figures, sessionhub

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
        with sessionhub(db, port, tmp / "server.log", "--coap", "off"):
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=30) as c:
                for _ in range(SESSIONS):
                    r = c.post(f"/v1/access/parking/{loc}/session", params={"access_key": key},
                               json={"user_id": str(uuid.uuid4())})
                    assert r.status_code in (200, 201), r.text
            figures = board(base, key, loc, rounds)
            figures += painted(base, port, key, loc, paints, tmp)
    print_figures("console (server-rendered pages, live)", figures)
    return figures


if __name__ == "__main__":
    main()
