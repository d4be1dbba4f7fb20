"""The simulators' clients: plain sockets speaking each dialect's wire format, nothing of the server's.

``Http`` is one keep-alive HTTP/1.1 connection (stdlib ``http.client``) sending JSON with a key
header. ``Coap`` is a minimal confirmable CoAP client over UDP (RFC 7252): a request is retried with
the same message id until its response arrives (piggybacked, or an empty ACK then a separate
response, which it acknowledges); a CoAP ping (the empty CON with which the server verifies a new
endpoint's address before acting on its requests) is answered with RST. Both raise ``Refused``
for an error answer and ``OSError`` for a transport failure; both count what they sent and what was acknowledged.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit


class Refused(Exception):
    """The server answered with an error (the status and body are in the message)."""

    def __init__(self, status: str, body: str) -> None:
        super().__init__(f"{status}: {body[:200]}")
        self.status, self.body = status, body


@dataclass
class Tally:
    sent: int = 0
    acked: int = 0
    refused: int = 0
    failed: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, n: int = 1) -> None:
        self.extra[name] = self.extra.get(name, 0) + n


class Http:
    def __init__(self, base_url: str, headers: dict[str, str], tally: Tally, timeout: float = 10.0,
                 query: dict[str, str] | None = None) -> None:
        u = urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"--url must be http://HOST:PORT, got {base_url!r}")
        self._host, self._port = u.hostname, u.port or (443 if u.scheme == "https" else 80)
        self._https, self._timeout = u.scheme == "https", timeout
        self._headers = {"content-type": "application/json", "accept": "application/json", **headers}
        self._conn: http.client.HTTPConnection | None = None
        self._query = urlencode(query or {})
        self.tally = tally

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout)
        return self._conn

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request; return the decoded JSON answer of a 2xx. Raises Refused, OSError."""
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        if self._query:
            path += ("&" if "?" in path else "?") + self._query
        self.tally.sent += 1
        for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile: reconnect once
            conn = self._connection()
            try:
                conn.request(method, path, body=data, headers=self._headers)
                r = conn.getresponse()
                raw = r.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                self._conn = None
                if attempt == 2:
                    self.tally.failed += 1
                    raise
            except OSError:
                conn.close()
                self._conn = None
                self.tally.failed += 1
                raise
        if not 200 <= r.status < 300:
            self.tally.refused += 1
            raise Refused(str(r.status), raw.decode("utf-8", "replace"))
        self.tally.acked += 1
        return json.loads(raw) if raw else None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


# CoAP ------------------------------------------------------------------------------------------

CON, NON, ACK, RST = 0, 1, 2, 3
METHODS = {"GET": 1, "POST": 2, "PUT": 3, "DELETE": 4}
URI_PATH, CONTENT_FORMAT, URI_QUERY = 11, 12, 15
JSON_FORMAT = 50


def _option_part(value: int) -> tuple[int, bytes]:
    if value < 13:
        return value, b""
    if value < 269:
        return 13, bytes([value - 13])
    return 14, struct.pack("!H", value - 269)


def encode_request(method: str, path: str, query: list[str], payload: bytes, mid: int, token: bytes) -> bytes:
    options: list[tuple[int, bytes]] = [(URI_PATH, seg.encode()) for seg in path.strip("/").split("/") if seg]
    if payload:
        options.append((CONTENT_FORMAT, bytes([JSON_FORMAT])))
    options += [(URI_QUERY, q.encode()) for q in query]
    out = bytearray([0x40 | (CON << 4) | len(token), METHODS[method]]) + struct.pack("!H", mid) + token
    last = 0
    for number, value in sorted(options, key=lambda o: o[0]):
        dn, dx = _option_part(number - last)
        ln, lx = _option_part(len(value))
        out += bytes([(dn << 4) | ln]) + dx + lx + value
        last = number
    if payload:
        out += b"\xff" + payload
    return bytes(out)


@dataclass(frozen=True, slots=True)
class CoapReply:
    type: int
    code: int
    mid: int
    token: bytes
    payload: bytes

    @property
    def code_text(self) -> str:
        return f"{self.code >> 5}.{self.code & 31:02d}"


def decode_reply(data: bytes) -> CoapReply | None:
    if len(data) < 4 or data[0] >> 6 != 1:
        return None
    tkl = data[0] & 15
    at = 4 + tkl
    token = data[4:at]
    while at < len(data):  # skip the options to the payload marker
        if data[at] == 0xFF:
            return CoapReply((data[0] >> 4) & 3, data[1], struct.unpack("!H", data[2:4])[0], token, data[at + 1:])
        delta, length = data[at] >> 4, data[at] & 15
        at += 1
        at += {13: 1, 14: 2}.get(delta, 0)
        if length == 13:
            length, at = data[at] + 13, at + 1
        elif length == 14:
            length, at = struct.unpack("!H", data[at:at + 2])[0] + 269, at + 2
        at += length
    return CoapReply((data[0] >> 4) & 3, data[1], struct.unpack("!H", data[2:4])[0], token, b"")


class Coap:
    def __init__(self, host: str, port: int, tally: Tally, seed: int, timeout: float = 2.0, tries: int = 4) -> None:
        self._addr = (host, port)
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.connect(self._addr)
        self._timeout, self._tries = timeout, tries
        self._mid = seed & 0xFFFF
        self.tally = tally

    def call(self, method: str, path: str, query: list[str] | None = None, body: Any = None) -> Any:
        """One confirmable request; the decoded JSON payload of a 2.xx answer. Raises Refused, OSError."""
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        self._mid = (self._mid + 1) & 0xFFFF
        token = os.urandom(4)
        packet = encode_request(method, path, query or [], payload, self._mid, token)
        self.tally.sent += 1
        reply = self._exchange(packet, self._mid, token)
        if reply is None:
            self.tally.failed += 1
            raise TimeoutError(f"no CoAP answer from {self._addr[0]}:{self._addr[1]} after {self._tries} tries")
        if reply.code >> 5 != 2:
            self.tally.refused += 1
            raise Refused(reply.code_text, reply.payload.decode("utf-8", "replace"))
        self.tally.acked += 1
        return json.loads(reply.payload) if reply.payload else None

    def _exchange(self, packet: bytes, mid: int, token: bytes) -> CoapReply | None:
        wait = self._timeout
        acked = False
        for _ in range(self._tries):
            if not acked:
                self._sock.send(packet)
            deadline = time.monotonic() + wait
            while (left := deadline - time.monotonic()) > 0:
                self._sock.settimeout(left)
                try:
                    reply = decode_reply(self._sock.recv(65536))
                except TimeoutError:
                    break
                if reply is None:
                    continue
                if reply.type == CON and reply.code == 0:  # a ping: the server verifying this endpoint
                    self._sock.send(bytes([0x70, 0]) + struct.pack("!H", reply.mid))  # RST, as every endpoint must
                    continue
                if reply.type == ACK and reply.mid == mid:
                    if reply.code == 0:  # empty ACK: the response follows separately
                        acked = True
                        continue
                    if reply.token == token:
                        return reply
                if reply.token == token and reply.type in (CON, NON):
                    if reply.type == CON:  # acknowledge a separate response
                        self._sock.send(bytes([0x60, 0]) + struct.pack("!H", reply.mid))
                    return reply
            wait *= 2
        return None

    def close(self) -> None:
        self._sock.close()
