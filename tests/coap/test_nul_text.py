"""A U+0000 in a CoAP request's text is a 4.00 with the JSON error, on every engine (the store's
seam refuses it for both; see tests/http/test_nul_text.py)."""

from __future__ import annotations

import json

import aiocoap

from tests.coap.conftest import Coap


async def test_a_nul_in_a_label_is_400_and_nothing_is_stored(coap: Coap) -> None:
    r = await coap.request(aiocoap.POST, "/v1/sessions", b'{"number": 12, "label": "table\\u00001"}')
    assert r.code == aiocoap.BAD_REQUEST, r.payload
    assert json.loads(r.payload)["error"]["code"] == "invalid_input"
    r = await coap.request(aiocoap.GET, "/v1/sessions?number=12")
    assert r.code == aiocoap.NOT_FOUND, r.payload
