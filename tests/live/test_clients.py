"""Real clients against a real ``sessionhub serve`` process: curl -N, a browser's EventSource in
headless Chromium, the ``streamrank`` command, and conditional GETs and long-polls with curl."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml

from tests.conftest import Server, start_server, stop_server
from tests.http.test_parking_socket import USER, Coord, curl

pytestmark = [pytest.mark.slow, pytest.mark.system]  # curl, chromium


@pytest.fixture
def coord(server: Server) -> tuple[Coord, int]:
    key = server.cli("keys", "create", "--account", "acme", "--access", "READ_WRITE")
    loc = int(server.cli("locations", "create", "--account", "acme", "--name", "Lot", "--rate", "400",
                         "--currency", "USD"))
    return Coord(server, key), loc


class CurlStream:
    """``curl -N`` on a stream, its output read line by line on a thread."""

    def __init__(self, url: str, *headers: str) -> None:
        args = ["curl", "-sS", "-N", "--max-time", "60"]
        for h in headers:
            args += ["-H", h]
        self.proc = subprocess.Popen([*args, url], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(raw.decode().rstrip("\n"))

    def events(self) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        cur: dict[str, str] = {}
        for line in list(self.lines):
            if line == "":
                if "data" in cur:
                    out.append(cur)
                cur = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                cur[name] = value
        return out

    def wait_events(self, n: int, timeout: float = 15) -> list[dict[str, str]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.events()
            if len(got) >= n:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{len(self.events())} events, wanted {n}: {self.lines}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(10)
        self.thread.join(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def test_curl_follows_a_parking_session_and_resumes(coord: tuple[Coord, int]) -> None:
    c, loc = coord
    s = c.ok("POST", f"/{loc}/session", {"user_id": USER})
    follow = CurlStream(c.url(f"/{loc}/session/{s['id']}/stream"))
    try:
        first = follow.wait_events(1)[0]
        assert json.loads(first["data"]) == s
        ended = c.ok("PUT", f"/{loc}/session/{s['id']}/end")
        second = follow.wait_events(2)[1]
        assert json.loads(second["data"]) == ended and int(second["id"]) > int(first["id"])
    finally:
        follow.close()
    again = CurlStream(c.url(f"/{loc}/session/{s['id']}/stream"), f"Last-Event-ID: {first['id']}")
    try:
        assert json.loads(again.wait_events(1)[0]["data"]) == ended
        time.sleep(0.5)
        assert len(again.events()) == 1  # nothing repeated
    finally:
        again.close()


def test_conditional_get_and_long_poll_with_curl(coord: tuple[Coord, int]) -> None:
    c, loc = coord
    s = c.ok("POST", f"/{loc}/session", {"user_id": USER})
    url = c.url(f"/{loc}/session/{s['id']}")
    head = subprocess.run(["curl", "-sS", "-D", "-", "-o", "/dev/null", url], capture_output=True, text=True,
                          check=True).stdout
    tag = next(line.split(":", 1)[1].strip() for line in head.splitlines() if line.lower().startswith("etag:"))
    status, body = curl("GET", url, headers={"If-None-Match": tag})
    assert status == 304 and body == ""  # the fast lane's 304
    threading.Timer(0.5, lambda: c.ok("PUT", f"/{loc}/session/{s['id']}/end")).start()
    began = time.monotonic()
    status, body = curl("GET", url + "&wait=30", headers={"If-None-Match": tag})
    assert status == 200 and "end_time" in body and 0.4 < time.monotonic() - began < 20
    status, body = curl("GET", url + "&wait=61", headers={"If-None-Match": tag})
    assert status == 400 and set(body) == {"code", "message"}


def test_sigterm_ends_open_streams_and_the_server_promptly(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'sig.db'}"
    subprocess.run([sys.executable, "-m", "sessionhub", "migrate", "--db", db], check=True, capture_output=True)
    srv = start_server(db, tmp_path / "sig.log", "--coap", "off")
    try:
        key = srv.cli("keys", "create", "--account", "acme", "--access", "READ_WRITE")
        loc = int(srv.cli("locations", "create", "--account", "acme", "--name", "L", "--rate", "1",
                          "--currency", "USD"))
        c = Coord(srv, key)
        s = c.ok("POST", f"/{loc}/session", {"user_id": USER})
        follow = CurlStream(c.url(f"/{loc}/session/{s['id']}/stream"))
        follow.wait_events(1)
        began = time.monotonic()
        assert stop_server(srv, signal.SIGTERM) == 0
        assert time.monotonic() - began < 5
        follow.proc.wait(5)  # curl saw the stream end
        follow.close()
        assert "Traceback" not in srv.log.read_text()
    finally:
        stop_server(srv)


def test_streamrank_prints_the_block_against_a_running_server(coord: tuple[Coord, int]) -> None:
    c, loc = coord
    s = c.ok("POST", f"/{loc}/session", {"user_id": USER})
    proc = subprocess.Popen(
        [sys.executable, "-m", "sessionhub", "streamrank", c.url(f"/{loc}/session/{s['id']}"), "--seconds", "3",
         "--interval", "0.25"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    first = proc.stderr.read(1)  # the progress bar's first output: the run has begun (however slow the start)
    threading.Timer(1.2, lambda: c.ok("PUT", f"/{loc}/session/{s['id']}/end")).start()
    stdout, stderr = proc.communicate(timeout=60)
    out = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, first + stderr)
    assert out.returncode == 0, out.stderr
    block = yaml.safe_load(out.stdout)["x-streamrank"]
    assert list(block) == [
        "polling_total_time_average", "polling_size_download_average", "streaming_total_time_average",
        "streaming_size_download_average", "change_yes", "change_no", "time_percentage", "size_percentage",
        "change_percentage", "last_run", "days_run", "minute_run"]
    assert block["change_yes"] == 1 and block["change_yes"] + block["change_no"] == 12
    assert block["change_percentage"] == round(100 / 12)
    assert block["polling_size_download_average"] > 50
    assert 0 < block["streaming_size_download_average"] < block["polling_size_download_average"]
    # the averages are printed to 0.1, the percentage is computed from the exact ones: within 1
    assert abs(block["size_percentage"] - 100 * (1 - block["streaming_size_download_average"]
                                                 / block["polling_size_download_average"])) <= 1
    assert block["size_percentage"] > 50 and block["time_percentage"] > 0
    assert block["days_run"] in (1, 2) and block["minute_run"] == 1 and len(block["last_run"]) == 10
    assert "streamrank" in out.stderr  # the progress bar
    bad = subprocess.run([sys.executable, "-m", "sessionhub", "streamrank", c.url(f"/{loc}/session/999"),
                          "--seconds", "1"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "404" in bad.stderr and "Traceback" not in bad.stderr


# a browser --------------------------------------------------------------------------------------

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("chromium and chromium-driver are not installed (scripts/system-deps.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_text(driver: Any, element: str, predicate: Any, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = driver.find_element("id", element).text
        if predicate(text):
            return str(text)
        time.sleep(0.1)
    raise AssertionError(f"#{element} stayed {text!r}")


def test_a_browser_eventsource_follows_a_session_and_reconnects_with_last_event_id(
    browser: Any, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'browser.db'}"
    subprocess.run([sys.executable, "-m", "sessionhub", "migrate", "--db", db], check=True, capture_output=True)
    srv = start_server(db, tmp_path / "a.log", "--coap", "off")
    try:
        key = srv.cli("keys", "create", "--account", "acme", "--access", "READ_WRITE")
        loc = int(srv.cli("locations", "create", "--account", "acme", "--name", "L", "--rate", "400",
                          "--currency", "USD"))
        c = Coord(srv, key)
        s = c.ok("POST", f"/{loc}/session", {"user_id": USER, "redemption": "barcode"})
        code = s["redemption_info"]["barcode"]
        path = f"/v1/access/parking/{loc}/session/{s['id']}/stream?access_key={key}"
        browser.get(f"{srv.base_url}/live?stream={quote(path, safe='')}")
        wait_text(browser, "state", lambda t: t == "live")
        assert json.loads(wait_text(browser, "doc", lambda t: t.startswith("{"))) == s
        entered = c.ok("POST", f"/{loc}/gate/scan", {"barcode": code, "direction": "entry"})
        assert json.loads(wait_text(browser, "doc", lambda t: "start_time" in t)) == entered
        seen = int(browser.find_element("id", "last").text)

        # the server goes away; another process on the same database records the exit meanwhile
        stop_server(srv)
        wait_text(browser, "state", lambda t: t == "reconnecting")
        other = start_server(db, tmp_path / "b.log", "--coap", "off")
        try:
            left = Coord(other, key).ok("POST", f"/{loc}/gate/scan", {"barcode": code, "direction": "exit"})
        finally:
            stop_server(other)
        port = srv.base_url.rsplit(":", 1)[1]
        with (tmp_path / "c.log").open("ab") as log:
            back = subprocess.Popen([sys.executable, "-m", "sessionhub", "serve", "--db", db, "--http",
                                     f"127.0.0.1:{port}", "--coap", "off"], stdout=log, stderr=subprocess.STDOUT)
        srv = Server(back, srv.base_url, db, tmp_path / "c.log")
        # the browser reconnects by itself, sends Last-Event-ID, and gets the missed exit exactly once
        assert json.loads(wait_text(browser, "doc", lambda t: "end_time" in t, timeout=30)) == left
        assert int(browser.find_element("id", "last").text) > seen
        count = int(browser.find_element("id", "count").text)
        time.sleep(1)
        assert int(browser.find_element("id", "count").text) == count == 3
        assert browser.find_element("id", "state").text == "live"
    finally:
        stop_server(srv)
