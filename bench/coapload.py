"""A CoAP load generator of the project's own: closed-loop confirmable requests over many client
endpoints, reporting responses per second, response codes, latency percentiles and lost requests.

    python -m bench.coapload HOST PORT PATH [QUERY] [--ports 16] [--window 8] [--seconds 8]
                             [--method GET|POST|PUT|DELETE] [--payload JSON] [--json]

Each of ``--ports`` UDP sockets (a distinct client endpoint, so message IDs never repeat within an
endpoint's exchange lifetime) keeps ``--window`` CON requests in flight; every answer sends the next
request. A request unanswered after ``--give-up`` seconds counts as lost and is replaced (no CoAP
retransmission: a load generator measures the server, it does not hide its drops). Only the standard
library: it runs pinned to a core of its own as a separate process. It speaks just enough CoAP
(RFC 7252) for this: a 4-byte token, Uri-Path, Uri-Query and Content-Format options, piggybacked and
separate responses (an empty ACK is skipped; a CON response is acknowledged), and a CoAP ping (an
empty CON, which the server sends to verify a new endpoint's address) is answered with RST.
"""

from __future__ import annotations

import argparse
import json
import random
import selectors
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass, field

METHODS = {"GET": 1, "POST": 2, "PUT": 3, "DELETE": 4}
URI_PATH, CONTENT_FORMAT, URI_QUERY = 11, 12, 15
CON, ACK = 0, 2


def _ext(value: int) -> tuple[int, bytes]:
    """An option delta or length as its 4-bit nibble and extended bytes (RFC 7252 §3.1)."""
    if value < 13:
        return value, b""
    if value < 269:
        return 13, bytes((value - 13,))
    return 14, struct.pack("!H", value - 269)


def options(opts: list[tuple[int, bytes]]) -> bytes:
    """Encode options (any order given; sorted by number, as the wire needs)."""
    out, last = bytearray(), 0
    for number, value in sorted(opts, key=lambda o: o[0]):
        dn, dx = _ext(number - last)
        ln, lx = _ext(len(value))
        out += bytes((dn << 4 | ln,)) + dx + lx + value
        last = number
    return bytes(out)


def request_tail(path: str, query: str = "", payload: bytes = b"") -> bytes:
    """Everything of a request after its token: options, then the payload marker and payload."""
    opts = [(URI_PATH, seg.encode()) for seg in path.strip("/").split("/") if seg]
    opts += [(URI_QUERY, q.encode()) for q in query.split("&") if q]
    if payload:
        opts.append((CONTENT_FORMAT, bytes((50,))))  # application/json
    return options(opts) + (b"\xff" + payload if payload else b"")


def code_name(code: int) -> str:
    return f"{code >> 5}.{code & 31:02d}"


@dataclass
class Result:
    seconds: float
    responses: int = 0
    lost: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.responses / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float:
        lat = sorted(self.latencies)
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

    def summary(self) -> dict[str, object]:
        return {"responses_per_s": round(self.per_second), "responses": self.responses, "lost": self.lost,
                "codes": dict(self.codes), "p50_ms": round(self.percentile_ms(0.5), 3),
                "p99_ms": round(self.percentile_ms(0.99), 3), "seconds": round(self.seconds, 3)}


@dataclass
class _Endpoint:
    sock: socket.socket
    mid: int
    inflight: dict[int, float] = field(default_factory=dict)  # token -> send time


def run(host: str, port: int, path: str, query: str = "", *, ports: int = 16, window: int = 8,
        seconds: float = 8.0, method: str = "GET", payload: bytes = b"", give_up: float = 1.0) -> Result:
    """Load ``host:port`` for ``seconds``; every loop is bounded by that deadline."""
    tail, code = request_tail(path, query, payload), METHODS[method]
    sel = selectors.DefaultSelector()
    endpoints = []
    for _ in range(ports):
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((host, port))
        s.setblocking(False)
        ep = _Endpoint(s, random.randrange(1 << 16))
        sel.register(s, selectors.EVENT_READ, ep)
        endpoints.append(ep)

    def send(ep: _Endpoint) -> None:
        ep.mid = (ep.mid + 1) & 0xFFFF
        token = ep.mid | random.randrange(1 << 16) << 16
        ep.inflight[token] = time.perf_counter()
        ep.sock.send(bytes((0x40 | 4, code)) + struct.pack("!HI", ep.mid, token) + tail)

    result = Result(seconds)
    try:
        for ep in endpoints:
            for _ in range(window):
                send(ep)
        start = time.perf_counter()
        end, next_sweep = start + seconds, start + give_up
        while (now := time.perf_counter()) < end:
            if now >= next_sweep:  # replace what the server dropped
                for ep in endpoints:
                    for token in [t for t, sent in ep.inflight.items() if now - sent > give_up]:
                        del ep.inflight[token]
                        result.lost += 1
                        send(ep)
                next_sweep = now + give_up / 4
            for key, _ in sel.select(timeout=min(0.05, max(0.0, end - now))):
                ep = key.data
                for _ in range(4 * window):  # bounded drain per wake-up
                    try:
                        data = ep.sock.recv(65536)
                    except BlockingIOError:
                        break
                    except ConnectionRefusedError:
                        raise SystemExit(f"nothing listens on udp {host}:{port}") from None
                    if len(data) == 4 and data[0] >> 4 & 3 == CON and data[1] == 0:
                        ep.sock.send(bytes((0x70, 0)) + data[2:4])  # a CoAP ping: RST, as every endpoint must
                        continue
                    if len(data) < 8 or data[0] & 0x0F != 4:
                        continue
                    kind = data[0] >> 4 & 3
                    if kind == ACK and data[1] == 0:
                        continue  # an empty ACK: the separate response follows
                    if kind == CON:
                        ep.sock.send(bytes((0x60, 0)) + data[2:4])
                    (token,) = struct.unpack("!I", data[4:8])
                    sent = ep.inflight.pop(token, None)
                    if sent is None:
                        continue
                    result.latencies.append(time.perf_counter() - sent)
                    result.codes[code_name(data[1])] += 1
                    result.responses += 1
                    send(ep)
        result.seconds = time.perf_counter() - start
    finally:
        sel.close()
        for ep in endpoints:
            ep.sock.close()
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.coapload", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("path")
    ap.add_argument("query", nargs="?", default="")
    ap.add_argument("--ports", type=int, default=16, help="client sockets (endpoints)")
    ap.add_argument("--window", type=int, default=8, help="requests in flight per socket")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--give-up", type=float, default=1.0, help="seconds before an unanswered request is lost")
    ap.add_argument("--method", default="GET", choices=sorted(METHODS))
    ap.add_argument("--payload", default="", help="request body (sent as application/json)")
    ap.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    a = ap.parse_args(argv)
    if not (1 <= a.ports <= 1024 and 1 <= a.window <= 256 and 0 < a.seconds <= 3600):
        ap.error("--ports 1..1024, --window 1..256, --seconds up to 3600")
    res = run(a.host, a.port, a.path, a.query, ports=a.ports, window=a.window, seconds=a.seconds,
              method=a.method, payload=a.payload.encode(), give_up=a.give_up).summary()
    if a.json:
        print(json.dumps(res))
    else:
        print(" ".join(f"{k}={v}" for k, v in res.items()))


if __name__ == "__main__":
    main()
