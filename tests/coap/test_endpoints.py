"""Every operation of the LRS T7470 API over a real UDP socket, through aiocoap's client."""

from __future__ import annotations

import json
from typing import Any

import aiocoap
import pytest
from aiocoap.numbers.codes import Code

from tests.coap.conftest import Coap

ENVELOPE = ["responseTypes", "globalSessionSequence", "timestamp", "deviceName", "firmwareVersion"]


def body(r: aiocoap.Message) -> Any:
    return json.loads(r.payload)


async def create(coap: Coap, payload: str) -> dict[str, Any]:
    r = await coap.request(aiocoap.POST, "/v1/sessions", payload.encode())
    assert r.code == aiocoap.CREATED, r.payload
    return body(r)  # type: ignore[no-any-return]


async def test_create_returns_the_session_and_statistics(coap: Coap) -> None:
    b = await create(coap, '{ "number": 66, "goal": 60, "label": "Sarah", "partySize": 4 }')
    assert list(b)[:5] == ENVELOPE and b["responseTypes"] == ["sessions", "statistics"]
    assert b["deviceName"] == "T7470" and b["globalSessionSequence"] == 1
    (s,) = b["sessions"]
    assert {k: s[k] for k in ("id", "sessionSequence", "number", "partySize", "goalInSeconds", "label", "state")} == {
        "id": 1, "sessionSequence": 1, "number": 66, "partySize": 4, "goalInSeconds": 60, "label": "Sarah",
        "state": "started"}
    assert s["created"] == s["started"] and len(s["created"]) == 19 and "notified" not in s
    assert b["statistics"] == {"guestsServed": 0, "percentLate": 0, "percentOnTime": 0, "averageTimeServed": 0,
                               "numSessions": 1}


async def test_post_on_an_active_number_updates_it(coap: Coap) -> None:
    await create(coap, '{"number":66,"label":"Sarah"}')
    r = await coap.request(aiocoap.POST, "/v1/sessions", b'{"number":66,"label":"Tom","partySize":2}')
    assert r.code == aiocoap.CHANGED
    (s,) = body(r)["sessions"]
    assert (s["id"], s["label"], s["partySize"]) == (1, "Tom", 2)


async def test_get_one_page_clear_and_history(coap: Coap) -> None:
    await create(coap, '{"number":11}')
    r = await coap.request(aiocoap.GET, "/v1/sessions?number=11")
    b = body(r)
    assert r.code == aiocoap.CONTENT and b["responseTypes"] == ["sessions"] and "statistics" not in b
    assert b["sessions"][0]["number"] == 11
    r = await coap.request(aiocoap.PUT, "/v1/sessions?number=11", b'{"action":"page","pageMode":"Flash30Sec"}')
    assert r.code == aiocoap.CHANGED
    s = body(r)["sessions"][0]
    assert s["state"] == "paged" and "notified" in s
    r = await coap.request(aiocoap.GET, "/v1/sessions?number=11")  # the cached body was dropped
    assert body(r)["sessions"][0]["state"] == "paged"
    r = await coap.request(aiocoap.PUT, "/v1/sessions?number=11", b'{"action":"clear"}')
    assert body(r)["sessions"][0]["state"] == "cleared" and "cleared" in body(r)["sessions"][0]
    r = await coap.request(aiocoap.GET, "/v1/sessions?number=11")
    assert r.code == aiocoap.NOT_FOUND and body(r)["error"]["code"] == "session_not_found"
    r = await coap.request(aiocoap.GET, "/v1/sessions/history")
    h = body(r)
    assert h["responseTypes"] == ["session_history"]
    assert h["session_history"][0]["clearType"] == "STOP" and h["session_history"][0]["number"] == 11
    r = await coap.request(aiocoap.DELETE, "/v1/sessions/history")
    assert r.code == aiocoap.DELETED and body(r)["responseTypes"] == ["session_history"]
    assert body(r)["session_history"] == []
    assert body(await coap.request(aiocoap.GET, "/v1/sessions/history"))["session_history"] == []


async def test_delete_one_and_all(coap: Coap) -> None:
    for n in (1, 2, 3):
        await create(coap, f'{{"number":{n}}}')
    r = await coap.request(aiocoap.DELETE, "/v1/sessions?number=2")
    assert r.code == aiocoap.DELETED and body(r)["responseTypes"] == ["sessions", "statistics"]
    assert [(s["number"], s["state"]) for s in body(r)["sessions"]] == [(2, "cleared")]
    r = await coap.request(aiocoap.DELETE, "/v1/sessions?number=2")
    assert r.code == aiocoap.NOT_FOUND
    r = await coap.request(aiocoap.GET, "/v1/sessions")
    assert [s["number"] for s in body(r)["sessions"]] == [1, 3]
    r = await coap.request(aiocoap.DELETE, "/v1/sessions")
    assert r.code == aiocoap.DELETED and [s["number"] for s in body(r)["sessions"]] == [1, 3]
    b = body(await coap.request(aiocoap.GET, "/v1/sessions"))
    assert b["sessions"] == [] and b["globalSessionSequence"] == 6
    history = body(await coap.request(aiocoap.GET, "/v1/sessions/history"))["session_history"]
    assert [(s["number"], s["clearType"]) for s in history] == [(1, "REMOVED"), (2, "REMOVED"), (3, "REMOVED")]


async def test_get_all_etag_answers_valid_when_unchanged(coap: Coap) -> None:
    await create(coap, '{"number":5}')
    r = await coap.request(aiocoap.GET, "/v1/sessions")
    assert r.code == aiocoap.CONTENT and body(r)["responseTypes"] == ["sessions", "statistics"]
    etag = r.opt.etag
    assert etag
    r = await coap.request(aiocoap.GET, "/v1/sessions", etags=[etag])
    assert r.code == aiocoap.VALID and r.payload == b"" and r.opt.etag == etag
    await create(coap, '{"number":6}')
    r = await coap.request(aiocoap.GET, "/v1/sessions", etags=[etag])
    assert r.code == aiocoap.CONTENT and r.opt.etag != etag


async def test_statistics_get_and_delete(coap: Coap) -> None:
    await create(coap, '{"number":5}')
    await coap.request(aiocoap.PUT, "/v1/sessions?number=5", b'{"action":"page"}')
    b = body(await coap.request(aiocoap.GET, "/v1/sessions/statistics"))
    assert b["responseTypes"] == ["statistics"]
    assert b["statistics"] == {"guestsServed": 1, "percentLate": 0, "percentOnTime": 100, "averageTimeServed": 0,
                               "numSessions": 1}
    r = await coap.request(aiocoap.DELETE, "/v1/sessions/statistics")
    assert r.code == aiocoap.DELETED and body(r)["statistics"]["numSessions"] == 0
    b = body(await coap.request(aiocoap.GET, "/v1/sessions/statistics"))
    assert b["statistics"]["numSessions"] == 0 and b["statistics"]["guestsServed"] == 0


async def test_standalone_page_is_recorded(coap: Coap) -> None:
    r = await coap.request(aiocoap.POST, "/v1/page", b'{"number":66,"systemId":3}',
                           content_format=50)
    assert r.code == aiocoap.CHANGED
    pages = await coap.runtime.paging.pages(coap.server.account_id)
    assert [(p.number, p.system_id, p.page_mode) for p in pages] == [(66, 3, "Flash30Sec")]


async def test_settings_get_and_post(coap: Coap) -> None:
    b = body(await coap.request(aiocoap.GET, "/v1/settings"))
    assert b["responseTypes"] == ["settings"]
    assert {k: b["settings"][k] for k in ("systemId", "defaultTargetGoal", "statisticsClearMark")} == {
        "systemId": 0, "defaultTargetGoal": 300, "statisticsClearMark": 24}
    r = await coap.request(aiocoap.POST, "/v1/settings", b'{"datetime":"2018-03-15T12:35:33","systemId":5}')
    assert r.code == aiocoap.CHANGED
    s = body(r)["settings"]
    assert s["systemId"] == 5 and s["datetime"].startswith("2018-03-15T12:3")
    b = await create(coap, '{"number":8}')
    assert b["timestamp"].startswith("2018-03-15T12:3") and b["sessions"][0]["goalInSeconds"] == 300
    await coap.request(aiocoap.POST, "/v1/settings", b'{"defaultTargetGoal":120}')
    assert (await create(coap, '{"number":9}'))["sessions"][0]["goalInSeconds"] == 120


BAD = [
    (aiocoap.POST, "/v1/sessions", b'{"number":66', "malformed JSON"),
    (aiocoap.POST, "/v1/sessions", b'{"goal":60}', "number is required"),
    (aiocoap.POST, "/v1/sessions", b'{"number":0}', "between 1 and 9999"),
    (aiocoap.POST, "/v1/sessions", b'{"number":10000}', "between 1 and 9999"),
    (aiocoap.POST, "/v1/sessions", b'{"number":"12"}', "Expected `int`"),
    (aiocoap.POST, "/v1/sessions", b'{"number":12,"action":"notify"}', "action must be"),
    (aiocoap.POST, "/v1/sessions", b'{"number":12,"pageMode":"Loud"}', "pageMode must be"),
    (aiocoap.POST, "/v1/sessions", b'{"number":12,"goal":-5}', "goal must be"),
    (aiocoap.POST, "/v1/sessions", b"\xff\xfe", "malformed JSON"),
    (aiocoap.POST, "/v1/sessions", b"[1,2]", "Expected `object`"),
    (aiocoap.PUT, "/v1/sessions", b'{"action":"page"}', "number query parameter is required"),
    (aiocoap.PUT, "/v1/sessions?number=abc", b'{"action":"page"}', "number must be an integer"),
    (aiocoap.PUT, "/v1/sessions?number=-1", b'{"action":"page"}', "number must be an integer"),
    (aiocoap.GET, "/v1/sessions?number=99999", b"", "between 1 and 9999"),
    (aiocoap.POST, "/v1/page", b'{"number":66,"systemId":999}', "systemId must be"),
    (aiocoap.POST, "/v1/page", b"{}", "missing required field `number`"),
    (aiocoap.POST, "/v1/settings", b'{"datetime":"2018-03-15T12:35:33Z"}', "no zone"),
    (aiocoap.POST, "/v1/settings", b'{"statisticsClearMark":25}', "statisticsClearMark must be"),
    (aiocoap.GET, "/v1/notify?action=get_everything", b"", "action must be get_sessions"),
]


async def test_bodies_are_read_leniently(coap: Coap) -> None:
    """Pretty-printed bodies (tabs, CR/LF) and unknown fields are accepted (issue 13)."""
    pretty = b'{\r\n\t"number": 66,\n  "label": "Sarah",\n  "colour": "red"\n}\n'
    r = await coap.request(aiocoap.POST, "/v1/sessions", pretty)
    assert r.code == aiocoap.CREATED and body(r)["sessions"][0]["label"] == "Sarah"
    r = await coap.request(aiocoap.POST, "/v1/settings", b'{\n "systemId": 4,\n "extra": {"a": [1]}\n}')
    assert r.code == aiocoap.CHANGED and body(r)["settings"]["systemId"] == 4


async def test_a_bad_field_is_named(coap: Coap) -> None:
    r = await coap.request(aiocoap.POST, "/v1/sessions", b'{"number":12,"partySize":"four"}')
    err = body(r)["error"]
    assert r.code == aiocoap.BAD_REQUEST and err["message"].endswith("at partySize"), err
    r = await coap.request(aiocoap.POST, "/v1/page", b'{"pageMode":"Vibe1"}')
    assert body(r)["error"]["message"].endswith("at number")


@pytest.mark.parametrize(("method", "path", "payload", "says"), BAD)
async def test_bad_input_is_400_with_a_json_error(coap: Coap, method: Code, path: str, payload: bytes,
                                                  says: str) -> None:
    r = await coap.request(method, path, payload)
    assert r.code == aiocoap.BAD_REQUEST, r.payload
    err = body(r)["error"]
    assert err["code"] == "invalid_input" and says in err["message"], err
    assert r.opt.content_format == 50


async def test_unknown_path_is_404_and_wrong_method_405(coap: Coap) -> None:
    for path in ("/v1/nope", "/v2/sessions", "/", "/v1/sessions/history/x"):
        r = await coap.request(aiocoap.GET, path)
        assert r.code == aiocoap.NOT_FOUND and body(r)["error"]["code"] == "route_not_found", path
    for method, path in ((aiocoap.PUT, "/v1/settings"), (aiocoap.DELETE, "/v1/page"), (aiocoap.GET, "/v1/page"),
                         (aiocoap.POST, "/v1/notify"), (aiocoap.FETCH, "/v1/sessions")):
        r = await coap.request(method, path)
        assert r.code == aiocoap.METHOD_NOT_ALLOWED and body(r)["error"]["code"] == "method_not_allowed"


async def test_actions_on_a_missing_session_are_404(coap: Coap) -> None:
    r = await coap.request(aiocoap.PUT, "/v1/sessions?number=40", b'{"action":"page"}')
    assert r.code == aiocoap.NOT_FOUND and body(r)["error"]["code"] == "session_not_found"


async def test_oversized_body_is_413(coap: Coap) -> None:
    label = "x" * 1100
    r = await coap.request(aiocoap.POST, "/v1/sessions", f'{{"number":1,"label":"{label}"}}'.encode())
    assert r.code == aiocoap.REQUEST_ENTITY_TOO_LARGE and body(r)["error"]["code"] == "payload_too_large"


async def test_a_large_list_goes_out_in_blocks(coap: Coap) -> None:
    for n in range(1, 31):
        await create(coap, f'{{"number":{n},"label":"guest {n}"}}')
    r = await coap.request(aiocoap.GET, "/v1/sessions")  # aiocoap fetches every Block2 block
    b = body(r)
    assert len(r.payload) > 4096 and [s["number"] for s in b["sessions"]] == list(range(1, 31))


async def test_an_unexpected_failure_is_500_without_internals(
    coap: Coap, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(coap.runtime.paging, "history", broken)
    r = await coap.request(aiocoap.GET, "/v1/sessions/history")
    assert r.code == aiocoap.INTERNAL_SERVER_ERROR
    assert body(r) == {"error": {"code": "error", "message": "internal error"}}
    assert "secret internals" in caplog.text
