"""The CoAP message codec (RFC 7252 §3): bytes <-> ``Message``. No I/O, no policy.

``decode`` checks everything §3 says makes a message malformed (version, token length, option
nibbles 15, an empty payload after the marker) and raises ``MalformedMessage`` for it; the
message layer decides what to do with one. Options are kept as a list of ``(number, value)`` in
wire order, values as raw bytes.
"""

from __future__ import annotations

import struct

from sessionhub.coap import numbers as N


class MalformedMessage(ValueError):
    """The datagram is not a well-formed CoAP message."""


class Message:
    """One CoAP message. ``options`` is ``[(number, value bytes)]``, sorted by number when encoded."""

    __slots__ = ("code", "mid", "mtype", "options", "payload", "token")

    def __init__(
        self, mtype: int, code: int, mid: int, token: bytes = b"",
        options: list[tuple[int, bytes]] | None = None, payload: bytes = b"",
    ) -> None:
        self.mtype, self.code, self.mid, self.token = mtype, code, mid, token
        self.options = options if options is not None else []
        self.payload = payload

    def option(self, number: int) -> bytes | None:
        """The first value of option ``number``, or None."""
        for n, v in self.options:
            if n == number:
                return v
        return None

    def values(self, number: int) -> list[bytes]:
        return [v for n, v in self.options if n == number]

    def __repr__(self) -> str:
        return (f"Message(type={self.mtype}, code={N.dotted(self.code)}, mid={self.mid}, token={self.token.hex()},"
                f" options={self.options!r}, payload={self.payload[:40]!r})")


def uint(value: int) -> bytes:
    """An option's uint value in the fewest bytes (0 is empty)."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def to_uint(value: bytes) -> int:
    return int.from_bytes(value, "big")


def _ext(value: int) -> tuple[int, bytes]:
    if value < 13:
        return value, b""
    if value < 269:
        return 13, bytes((value - 13,))
    return 14, struct.pack("!H", value - 269)


def encode_options(options: list[tuple[int, bytes]]) -> bytes:
    """Delta-encode ``options`` (stable-sorted by number, so repeated options keep their order)."""
    out = bytearray()
    last = 0
    for number, value in sorted(options, key=lambda o: o[0]):
        dn, dx = _ext(number - last)
        ln, lx = _ext(len(value))
        out.append(dn << 4 | ln)
        out += dx
        out += lx
        out += value
        last = number
    return bytes(out)


def encode(m: Message) -> bytes:
    return header(m.mtype, m.code, m.mid, m.token) + encode_options(m.options) + (
        b"\xff" + m.payload if m.payload else b"")


def header(mtype: int, code: int, mid: int, token: bytes) -> bytes:
    return bytes((0x40 | mtype << 4 | len(token), code, mid >> 8, mid & 0xFF)) + token


def decode(data: bytes) -> Message:
    """Parse one datagram. Raises MalformedMessage (its ``args[0]`` says why)."""
    n = len(data)
    if n < 4:
        raise MalformedMessage("shorter than the 4-byte header")
    b0 = data[0]
    if b0 >> 6 != 1:
        raise MalformedMessage("unknown version")
    tkl = b0 & 0x0F
    if tkl > 8:
        raise MalformedMessage("token length over 8")
    code = data[1]
    pos = 4 + tkl
    if pos > n:
        raise MalformedMessage("truncated token")
    if code == N.EMPTY and n != 4:
        raise MalformedMessage("an empty message with content")
    m = Message((b0 >> 4) & 3, code, data[2] << 8 | data[3], data[4:pos])
    options = m.options
    number = 0
    while pos < n:
        byte = data[pos]
        pos += 1
        if byte == 0xFF:
            if pos == n:
                raise MalformedMessage("payload marker without payload")
            m.payload = data[pos:]
            return m
        delta, pos = _extended(byte >> 4, data, pos, "delta")
        length, pos = _extended(byte & 0x0F, data, pos, "length")
        number += delta
        end = pos + length
        if end > n:
            raise MalformedMessage("truncated option value")
        options.append((number, data[pos:end]))
        pos = end
    return m


def _extended(nibble: int, data: bytes, pos: int, what: str) -> tuple[int, int]:
    """An option delta or length from its 4-bit nibble and the extended bytes after it (RFC 7252
    §3.1: 13 = one more byte + 13, 14 = two more bytes + 269, 15 = reserved); returns it and the
    position after it."""
    if nibble < 13:
        return nibble, pos
    if nibble == 13:
        if pos >= len(data):
            raise MalformedMessage(f"truncated option {what}")
        return data[pos] + 13, pos + 1
    if nibble == 14:
        if pos + 2 > len(data):
            raise MalformedMessage(f"truncated option {what}")
        return (data[pos] << 8 | data[pos + 1]) + 269, pos + 2
    raise MalformedMessage(f"option {what} nibble 15")
