"""The codec against golden bytes (RFC 7252 §3 and aiocoap's encoder as a second opinion)."""

from __future__ import annotations

import pytest

from sessionhub.coap import numbers as N
from sessionhub.coap.wire import MalformedMessage, Message, decode, encode, uint

# CON GET, MID 0x04d2, token 01020304, Uri-Path v1, Uri-Path sessions, Uri-Query number=23
GET_ONE = bytes.fromhex("440104d201020304b276310873657373696f6e73496e756d6265723d3233")


def test_decode_a_request() -> None:
    m = decode(GET_ONE)
    assert (m.mtype, m.code, m.mid, m.token) == (N.CON, N.GET, 1234, b"\x01\x02\x03\x04")
    assert m.options == [(11, b"v1"), (11, b"sessions"), (15, b"number=23")] and m.payload == b""


def test_encode_is_the_inverse() -> None:
    assert encode(decode(GET_ONE)) == GET_ONE


def test_encode_a_response_with_extended_option_numbers_and_lengths() -> None:
    m = Message(N.ACK, N.CONTENT, 0xBEEF, b"\xaa", [(N.CONTENT_FORMAT, uint(50)), (N.SIZE2, uint(300)),
                                                     (N.OBSERVE, uint(70000))], b"x" * 20)
    data = encode(m)
    # header, token; Observe (delta 6, len 3) 70000; Content-Format (delta 6, len 1) 50;
    # Size2 (delta 16 = 13 + 3, len 2) 300; payload marker and payload
    assert data == bytes.fromhex("6145beefaa" "63011170" "6132" "d203012c" "ff") + b"x" * 20
    back = decode(data)
    assert back.options == sorted(m.options) and back.payload == m.payload


def test_long_option_values_and_deltas_round_trip() -> None:
    m = Message(N.NON, N.POST, 1, b"", [(11, b"a" * 12), (11, b"b" * 13), (11, b"c" * 300), (2000, b"z")], b"p")
    assert decode(encode(m)).options == m.options


def test_agrees_with_aiocoap() -> None:
    import aiocoap

    theirs = aiocoap.Message.decode(GET_ONE)
    assert theirs.opt.uri_path == ("v1", "sessions") and theirs.opt.uri_query == ("number=23",)
    m = Message(N.ACK, N.CONTENT, 7, b"\x09", [(N.CONTENT_FORMAT, uint(50)), (N.ETAG, b"\x00\x01")], b"{}")
    parsed = aiocoap.Message.decode(encode(m))
    assert parsed.opt.content_format == 50 and parsed.opt.etag == b"\x00\x01" and parsed.payload == b"{}"


@pytest.mark.parametrize("data", [
    b"", b"\x40\x01\x00", b"\x80\x01\x00\x01", b"\x49\x01\x00\x01" + b"\x00" * 9, b"\x44\x01\x00\x01\x01",
    b"\x40\x01\x00\x01\xff", b"\x40\x01\x00\x01\xf1a", b"\x40\x01\x00\x01\x1f", b"\x40\x01\x00\x01\xd1",
    b"\x40\x01\x00\x01\xe1\x00", b"\x40\x01\x00\x01\x13ab", b"\x40\x00\x00\x01\xff\x00",
])
def test_malformed_messages_are_refused(data: bytes) -> None:
    with pytest.raises(MalformedMessage):
        decode(data)
