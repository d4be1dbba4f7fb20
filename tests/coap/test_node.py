"""node's ``coap`` package (the client of the vendor's docs) against the paging dialect: the seed's
example code with only the host and port changed, every endpoint once, and Observe."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import aiocoap
import pytest

from tests.coap.conftest import Coap

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
pytestmark = [pytest.mark.system, pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_DIR / "node_modules" / "coap").is_dir(),
    reason="node and tests/node/node_modules (scripts/system-deps.sh runs npm ci) are needed",
)]


async def node(coap: Coap, script: str, *args: str, timeout: float = 20.0) -> str:
    proc = await asyncio.create_subprocess_exec(
        "node", str(NODE_DIR / script), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "HOST": "127.0.0.1", "PORT": str(coap.server.port)},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode == 0, err.decode()
    return out.decode() + err.decode()


async def call(coap: Coap, method: str, path: str, query: str = "", body: str = "") -> tuple[str, Any]:
    line = await node(coap, "lrs_request.js", method, path, query, body)
    got = json.loads(line)
    return got["code"], got["payload"]


async def test_the_seed_example_code_runs_unchanged(coap: Coap) -> None:
    assert "Session does not exist." in await node(coap, "seed_get_session.js")
    await coap.request(aiocoap.POST, "/v1/sessions", b'{"number":23,"label":"Sarah"}')
    out = await node(coap, "seed_get_session.js")
    assert "number: 23" in out and "label: 'Sarah'" in out and "state: 'started'" in out


async def test_every_endpoint_through_node_coap(coap: Coap) -> None:
    code, b = await call(coap, "POST", "/v1/sessions", "", json.dumps({"number": 66, "goal": 60, "label": "Sarah",
                                                                      "partySize": 4}))
    assert code == "2.01" and b["sessions"][0]["partySize"] == 4
    code, b = await call(coap, "PUT", "/v1/sessions", "number=66", '{"action":"page","pageMode":"Flash30Sec"}')
    assert code == "2.04" and b["sessions"][0]["state"] == "paged"
    code, b = await call(coap, "GET", "/v1/sessions", "number=66")
    assert code == "2.05" and b["responseTypes"] == ["sessions"]
    code, b = await call(coap, "GET", "/v1/sessions")
    assert code == "2.05" and b["statistics"]["guestsServed"] == 1
    code, _ = await call(coap, "DELETE", "/v1/sessions", "number=66")
    assert code == "2.02"
    await call(coap, "POST", "/v1/sessions", "", '{"number":67}')
    code, _ = await call(coap, "DELETE", "/v1/sessions")
    assert code == "2.02"
    code, b = await call(coap, "GET", "/v1/sessions/history")
    assert code == "2.05" and [s["number"] for s in b["session_history"]] == [66, 67]
    code, b = await call(coap, "DELETE", "/v1/sessions/history")
    assert code == "2.02" and b["session_history"] == []
    code, b = await call(coap, "GET", "/v1/sessions/statistics")
    assert code == "2.05" and b["statistics"]["numSessions"] == 2
    code, _ = await call(coap, "DELETE", "/v1/sessions/statistics")
    assert code == "2.02"
    code, _ = await call(coap, "POST", "/v1/page", "", json.dumps({"number": 66, "systemId": 3}))
    assert code == "2.04"
    code, b = await call(coap, "POST", "/v1/settings", "", '{"datetime":"2018-03-15T12:35:33","systemId":5}')
    assert code == "2.04" and b["settings"]["systemId"] == 5
    code, b = await call(coap, "GET", "/v1/settings")
    assert code == "2.05" and b["settings"]["datetime"].startswith("2018-03-15T12:3")
    code, b = await call(coap, "POST", "/v1/sessions", "", '{\n  "number": 1,\n  "colour": "red"\n}')
    assert code == "2.01" and b["sessions"][0]["number"] == 1  # lenient: pretty-printed, an unknown field
    code, b = await call(coap, "POST", "/v1/sessions", "", '{"number":"one"}')
    assert code == "4.00" and b["error"]["code"] == "invalid_input"


async def test_observe_through_node_coap(coap: Coap) -> None:
    proc = await asyncio.create_subprocess_exec(
        "node", str(NODE_DIR / "observe.js"), "action=get_sessions", "3", stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "HOST": "127.0.0.1", "PORT": str(coap.server.port)},
    )
    assert proc.stdout is not None
    ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), 10))
    assert ready["code"] == "2.05" and ready["first"]["responseTypes"] == ["sessions", "statistics"]
    await coap.request(aiocoap.POST, "/v1/sessions", b'{"number":83}')
    await coap.request(aiocoap.PUT, "/v1/sessions?number=83", b'{"action":"page"}')
    await coap.request(aiocoap.POST, "/v1/settings", b'{"systemId":2}')
    lines = [json.loads(await asyncio.wait_for(proc.stdout.readline(), 10)) for _ in range(4)]
    assert lines.pop(0) == ready["first"]  # node-coap streams the registration's answer too
    assert [n["responseTypes"] for n in lines] == [["sessions", "statistics"]] * 2 + [["settings"]]
    assert [n["sessions"][0]["state"] for n in lines[:2]] == ["started", "paged"]
    assert [n["globalSessionSequence"] for n in lines] == [1, 2, 2]
    await asyncio.wait_for(proc.wait(), 10)


async def test_the_vendors_parse_first_style_finds_json_in_every_answer(coap: Coap) -> None:
    """The vendor's examples call JSON.parse on the payload before they look at the code: every answer
    to POST /v1/page and the DELETEs carries JSON (``vendor_style.js`` throws on an empty payload)."""
    await coap.request(aiocoap.POST, "/v1/sessions", b'{"number":5}')
    await coap.request(aiocoap.POST, "/v1/sessions", b'{"number":6}')
    for method, path, query, body, types in [
        ("POST", "/v1/page", "", '{"number":66,"systemId":3}', []),
        ("DELETE", "/v1/sessions", "number=5", "", ["sessions", "statistics"]),
        ("DELETE", "/v1/sessions", "", "", ["sessions", "statistics"]),
        ("DELETE", "/v1/sessions/history", "", "", ["session_history"]),
        ("DELETE", "/v1/sessions/statistics", "", "", ["statistics"]),
    ]:
        got = json.loads(await node(coap, "vendor_style.js", method, path, query, body))
        assert got["code"][0] == "2" and got["json"]["responseTypes"] == types, (path, got)
