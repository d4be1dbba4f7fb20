"""``sessionhub demo`` prints a one-time console sign-in link that a served process accepts once."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, start_server, stop_server

pytestmark = pytest.mark.slow


def test_the_demo_prints_a_one_time_console_link_without_the_key(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    port = free_port()
    out = subprocess.run([sys.executable, "-m", "sessionhub", "demo", "--db", db, "--http", f"127.0.0.1:{port}"],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    key = re.search(r"shk_[0-9a-f]{32}", out)[0]  # type: ignore[index]
    link = re.search(r"(http://\S+/console/signin/link\?t=\S+)", out)[1]  # type: ignore[index]
    assert key not in link and key[4:] not in link
    server = start_server(db, tmp_path / "server.log")
    try:
        link = link.replace(f"http://127.0.0.1:{port}", server.base_url)
        with httpx.Client(follow_redirects=True) as browser:
            page = browser.get(link)
            assert page.status_code == 200 and str(page.url).endswith("/console/") and "Demo garage" in page.text
        with httpx.Client(follow_redirects=True) as other:
            again = other.get(link)
            assert again.status_code == 401 and "used already" in again.text
            assert other.get(f"{server.base_url}/console/").url.path == "/console/signin"
    finally:
        stop_server(server)
