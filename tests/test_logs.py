"""Logs: the access log (off, plain, json) never writes a key or a token; JSON logs are one object a line."""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sessionhub import logs
from sessionhub.config import Settings
from sessionhub.http import create_app
from sessionhub.runtime import build
from tests.conftest import Server, start_server, stop_server

KEY = re.compile(r"shk_[0-9a-f]{32}")


@pytest.mark.parametrize(("raw", "want"), [
    (b"", ""),
    (b"wait=5", "wait=5"),
    (b"api_key=shk_1&wait=5", "api_key=***&wait=5"),
    (b"access_key=a&Key=b&token=c&x-api-key=d&patch=1", "access_key=***&Key=***&token=***&x-api-key=***&patch=1"),
    (b"AccessKey=secret&jwt=x&password=p", "AccessKey=***&jwt=***&password=***"),
    (b"api%5Fkey=shk_1", "api_key=***"),  # an escaped name is still the name
    (b"\xff\xfeapi_key=shk_1", "***"),  # what cannot be parsed is not written
    (b"shk_0123", "shk_0123="),  # a bare word is a name with no value, never the value of a secret name
])
def test_query_masking(raw: bytes, want: str) -> None:
    assert logs.masked_query(raw) == want


async def test_access_log_lines_carry_no_key_or_token(tmp_path: Path) -> None:
    rt = build(Settings(db=f"sqlite:///{tmp_path / 'a.db'}"))
    await rt.start()
    try:
        key = await rt.access.create_key("acme", "READ_WRITE")
        for mode in ("plain", "json"):
            out = io.StringIO()
            app = logs.AccessLog(create_app(rt, lifespan=False), mode, out)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                assert (await c.get("/v0/devices", headers={"api_key": key, "Authorization": f"Bearer {key}"})
                        ).status_code == 200
                await c.get(f"/v0/devices?api_key={key}&token={key}&wait=0")  # (a 400: logged all the same)
                await c.get(f"/v1/access/parking/1/session/{key}?access_key={key}")
                await c.post("/v0/passings", content=key.encode(), headers={"api_key": key})
            assert out.getvalue() == ""  # buffered: one write per batch
            app.flush()
            text = out.getvalue()
            lines = text.splitlines()
            assert len(lines) == 4 and text.endswith("\n")
            assert not KEY.search(text), text
            assert "api_key=***&token=***&wait=0" in text
            if mode == "json":
                first = json.loads(lines[0])
                assert (first["method"], first["path"], first["status"], first["query"], first["logger"]) == (
                    "GET", "/v0/devices", 200, "", "sessionhub.access")
                assert first["bytes"] > 0 and first["ms"] >= 0 and first["ts"].endswith("Z")
                assert json.loads(lines[2])["path"] == "/v1/access/parking/1/session/***"
            else:
                assert re.fullmatch(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO sessionhub.access: 127\.0\.0\.1 '
                                    r'"GET /v0/devices HTTP/1\.1" 200 \d+ [\d.]+ms', lines[0]), lines[0]
    finally:
        await rt.stop()


async def test_access_lines_are_flushed_by_a_timer_and_at_a_batch() -> None:
    async def app(scope: logs.Scope, receive: logs.Receive, send: logs.Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    out = io.StringIO()
    log = logs.AccessLog(app, "plain", out)

    async def nothing() -> logs.Message:
        return {"type": "http.request"}

    async def sink(message: logs.Message) -> None: ...

    scope = {"type": "http", "method": "GET", "path": "/x", "query_string": b"", "http_version": "1.1",
             "client": ("10.0.0.1", 1)}
    await log(scope, nothing, sink)
    assert out.getvalue() == ""
    await asyncio.sleep(logs.AccessLog.FLUSH_SECONDS * 3)
    assert out.getvalue().count("\n") == 1 and '10.0.0.1 "GET /x HTTP/1.1" 204 0' in out.getvalue()
    for _ in range(logs.AccessLog.FLUSH_LINES):
        await log(scope, nothing, sink)
    assert out.getvalue().count("\n") == 1 + logs.AccessLog.FLUSH_LINES


def test_access_log_refuses_an_unknown_mode() -> None:
    async def app(scope: object, receive: object, send: object) -> None: ...

    with pytest.raises(ValueError, match="--access-log"):
        logs.AccessLog(app, "xml")


@pytest.mark.slow
def test_served_json_logs_and_access_log(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    subprocess.run([sys.executable, "-m", "sessionhub", "migrate", "--db", db], check=True, capture_output=True)
    server: Server = start_server(db, tmp_path / "server.log", "--log-format", "json", "--access-log", "json")
    try:
        key = server.cli("keys", "create", "--account", "acme", "--access", "READ")
        with httpx.Client(base_url=server.base_url, timeout=30) as c:
            refused = c.get(f"/v0/devices?api_key={key}").status_code  # RUFUS takes the key in a header only
            assert 400 <= refused < 500
            assert c.get("/v0/devices", headers={"api_key": key}).status_code == 200
            for _ in range(3):  # kept renders: answered by the protocol-level lane (http/guard.py), logged too
                assert c.get("/v0/devices", headers={"api_key": key}).status_code == 200
    finally:
        assert stop_server(server) == 0
    text = (tmp_path / "server.log").read_text()
    assert key not in text
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is one JSON object
    access = [x for x in lines if x["logger"] == "sessionhub.access"]
    assert [(a["path"], a["query"], a["status"]) for a in access] == [
        ("/v0/devices", "api_key=***", refused), *[("/v0/devices", "", 200)] * 4]
    assert len({a["bytes"] for a in access[1:]}) == 1  # the lane's lines count the same body
    assert any(x["logger"].startswith("uvicorn") for x in lines)  # the server's own lines too


@pytest.mark.slow
def test_access_log_is_off_by_default(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    subprocess.run([sys.executable, "-m", "sessionhub", "migrate", "--db", db], check=True, capture_output=True)
    server = start_server(db, tmp_path / "server.log")
    try:
        httpx.get(f"{server.base_url}/v0/devices", timeout=30)
    finally:
        stop_server(server)
    assert "/v0/devices" not in (tmp_path / "server.log").read_text()
