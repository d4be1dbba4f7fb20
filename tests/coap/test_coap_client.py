"""libcoap's ``coap-client`` (C, Debian libcoap3-bin) against the paging dialect: every endpoint,
Block2 on a long list, bad input, and Observe."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.coap.conftest import Coap, coap_client_binary

BINARY = coap_client_binary()
pytestmark = [pytest.mark.system,
              pytest.mark.skipif(BINARY is None, reason="libcoap's coap-client is not installed")]


async def client(coap: Coap, *args: str, timeout: float = 15.0) -> tuple[str, str]:
    """Run coap-client; return (stdout, stderr). Error codes ("4.04") are printed on stderr."""
    assert BINARY is not None
    proc = await asyncio.create_subprocess_exec(
        BINARY, "-B", "5", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return out.decode(), err.decode()


def documents(text: str) -> list[Any]:
    """The JSON documents coap-client printed back to back (it adds no separator)."""
    decoder, out, pos = json.JSONDecoder(), [], 0
    while (start := text.find("{", pos)) != -1:
        doc, pos = decoder.raw_decode(text, start)
        out.append(doc)
    return out


def uri(coap: Coap, path: str) -> str:
    return f"coap://127.0.0.1:{coap.server.port}{path}"


async def req(coap: Coap, method: str, path: str, body: str | None = None) -> tuple[str, str]:
    args = ["-m", method, uri(coap, path)]
    if body is not None:
        args = ["-t", "json", "-e", body, *args]
    return await client(coap, *args)


async def test_every_endpoint_through_coap_client(coap: Coap) -> None:
    out, _ = await req(coap, "post", "/v1/sessions", '{"number":23,"goal":60,"label":"Sarah","partySize":4}')
    assert json.loads(out)["sessions"][0]["label"] == "Sarah"
    out, _ = await req(coap, "get", "/v1/sessions?number=23")
    assert json.loads(out)["sessions"][0]["number"] == 23
    out, _ = await req(coap, "put", "/v1/sessions?number=23", '{"action":"page","pageMode":"Vibe1"}')
    assert json.loads(out)["sessions"][0]["state"] == "paged"
    out, _ = await req(coap, "get", "/v1/sessions")
    assert json.loads(out)["statistics"]["guestsServed"] == 1
    out, err = await req(coap, "delete", "/v1/sessions?number=23")
    assert json.loads(out)["sessions"][0]["state"] == "cleared" and "4." not in err
    out, err = await req(coap, "delete", "/v1/sessions")
    assert "4." not in err
    out, _ = await req(coap, "get", "/v1/sessions/history")
    assert json.loads(out)["session_history"][0]["clearType"] == "REMOVED"
    await req(coap, "delete", "/v1/sessions/history")
    out, _ = await req(coap, "get", "/v1/sessions/history")
    assert json.loads(out)["session_history"] == []
    out, _ = await req(coap, "get", "/v1/sessions/statistics")
    assert json.loads(out)["statistics"]["numSessions"] == 1
    await req(coap, "delete", "/v1/sessions/statistics")
    out, _ = await req(coap, "get", "/v1/sessions/statistics")
    assert json.loads(out)["statistics"]["numSessions"] == 0
    out, err = await req(coap, "post", "/v1/page", '{"number":66,"systemId":3}')
    assert "4." not in err
    out, _ = await req(coap, "post", "/v1/settings", '{"systemId":7}')
    assert json.loads(out)["settings"]["systemId"] == 7
    out, _ = await req(coap, "get", "/v1/settings")
    assert json.loads(out)["settings"]["systemId"] == 7


async def test_pretty_printed_bodies_through_coap_client(coap: Coap) -> None:
    out, err = await req(coap, "post", "/v1/sessions", '{\n  "number": 31,\n  "label": "Ann",\n  "x": 1\n}')
    assert json.loads(out)["sessions"][0]["label"] == "Ann", err


async def test_errors_through_coap_client(coap: Coap) -> None:
    out, err = await req(coap, "get", "/v1/sessions?number=24")
    assert "4.04" in err and "session_not_found" in err + out
    out, err = await req(coap, "get", "/v1/unknown")
    assert "4.04" in err
    out, err = await req(coap, "put", "/v1/settings", "{}")
    assert "4.05" in err
    out, err = await req(coap, "post", "/v1/sessions", '{"number":23,"action":"dance"}')
    assert "4.00" in err and "action must be" in err + out


async def test_block2_through_coap_client(coap: Coap) -> None:
    for n in range(1, 41):
        await req(coap, "post", "/v1/sessions", f'{{"number":{n},"label":"table {n}"}}')
    out, _ = await req(coap, "get", "/v1/sessions")
    assert [s["number"] for s in json.loads(out)["sessions"]] == list(range(1, 41))


async def test_observe_through_coap_client(coap: Coap) -> None:
    assert BINARY is not None
    proc = await asyncio.create_subprocess_exec(
        BINARY, "-s", "3", "-m", "get", uri(coap, "/v1/notify"), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    assert coap.server.endpoint is not None
    observations = coap.server.endpoint.observations
    for _ in range(200):  # until it is registered and its endpoint verified
        if observations.active:
            break
        await asyncio.sleep(0.05)
    await req(coap, "post", "/v1/sessions", '{"number":9}')
    out, _ = await asyncio.wait_for(proc.communicate(), 15)
    payloads = documents(out.decode())
    assert payloads[0]["responseTypes"] == ["ping"]
    assert payloads[1]["responseTypes"] == ["sessions", "statistics"] and payloads[1]["sessions"][0]["number"] == 9
