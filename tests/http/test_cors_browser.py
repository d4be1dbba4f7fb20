"""CORS in a real browser: headless Chromium runs the RUFUS seed's own ``fetch`` example in a page served
from a second loopback origin, against a ``sessionhub serve --cors-origin`` of the first."""

from __future__ import annotations

import functools
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port, start_server, stop_server
from tests.http.test_timing_socket import SEED
from tests.live.test_clients import browser  # noqa: F401  (the headless Chromium fixture)

pytestmark = [pytest.mark.slow, pytest.mark.system]  # chromium

PAGE = """<!doctype html><html><head><meta charset="utf-8"></head><body><pre id="out">pending</pre>
<script>
const out = document.getElementById("out");
// the seed logs the Response and any error: show what the page could read of them
console.log = (response) => response.json().then((body) => { out.textContent = JSON.stringify(
  {status: response.status, etag: response.headers.get("ETag"), body: body}); });
console.error = (error) => { out.textContent = "error: " + error; };
SEED
</script></body></html>"""


def seed_fetch(base: str, key: str, token: str) -> str:
    """The seed's ``Javascript`` tab, with the host, the key and the session changed."""
    text = SEED.read_text().split('{% tab title="Javascript" %}', 1)[1]
    code = text.split("```javascript", 1)[1].split("```", 1)[0]
    assert code.strip().startswith("fetch(")
    return (code.replace("https://api.runonrufus.com", base).replace("ror-ae4fc6c19681a20fad30", key)
            .replace("2A19294BB886C3D5C7783309BBC6E385515C843893A6BC126FECE3904C6E2B25", token))


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """Two static file servers on loopback (two origins); (their folder, [origin, origin])."""
    folder = tmp_path / "pages"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler) for _ in range(2)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    try:
        yield folder, [f"http://127.0.0.1:{s.server_address[1]}" for s in servers]
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


def read_out(driver: Any, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    text = "pending"
    while time.monotonic() < deadline:
        text = str(driver.find_element("id", "out").text)
        if text != "pending":
            return text
        time.sleep(0.1)
    raise AssertionError("the page's fetch never finished")


def test_a_page_on_an_allowed_origin_reads_a_session_with_the_seed_fetch(
    browser: Any, pages: tuple[Path, list[str]], tmp_path: Path  # noqa: F811
) -> None:
    folder, (allowed, other) = pages
    db = f"sqlite:///{tmp_path / 'cors.db'}"
    srv = start_server(db, tmp_path / "server.log", "--cors-origin", allowed)
    try:
        key = srv.cli("keys", "create", "--account", "acme", "--access", "READ_WRITE")
        with httpx.Client(base_url=srv.base_url, headers={"api_key": key}) as c:
            device = c.post("/v0/devices", json={"model": "X1", "serial_number": "S-1"}).json()["deviceid"]
            token = c.post("/v0/sessions", json={"deviceid": device, "alias": "START-5K"}).json()["token_session"]
        (folder / "seed.html").write_text(PAGE.replace("SEED", seed_fetch(srv.base_url, key, token)))

        browser.get(f"{allowed}/seed.html")
        got = json.loads(read_out(browser))
        assert got["status"] == 200 and got["etag"]  # ETag is exposed to the page
        session = got["body"]["result"][0]
        assert (session["token_session"], session["alias"]) == (token, "START-5K")

        # the same page from an origin the server was not told about: the browser refuses it
        browser.get(f"{other}/seed.html")
        assert read_out(browser).startswith("error: TypeError")
    finally:
        stop_server(srv)
