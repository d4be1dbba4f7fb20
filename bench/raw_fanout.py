"""The fan-out floor: a raw asyncio (uvloop) server that writes one pre-encoded SSE frame to every
open stream in one loop, for the same client as sessionhub's fan-out figure (bench/live_bench.py).

    python -m bench.raw_fanout PORT

Any GET is a stream (a chunked ``text/event-stream`` head and a first event); any POST writes one
event, as one chunk, to every open stream, then answers ``201``. No store, no routing, no checks:
what is left is the loop's callbacks, the kernel's writes over loopback, and the client's reads.
"""

from __future__ import annotations

import asyncio
import sys

HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
FIRST = b"id: 1\ndata: {}\n\n"
EVENT = b'id: 2\ndata: {"description":"Success","result":[],"passings":[' + b"{\"n\":1}" * 110 + b"]}\n\n"
CHUNK = b"%x\r\n%b\r\n" % (len(EVENT), EVENT)
streams: set[asyncio.Transport] = set()


class Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, _, rest = self.buf.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(rest) < length:
                return
            self.buf = rest[length:]
            if head.startswith(b"GET"):
                streams.add(self.transport)
                self.transport.write(HEAD + b"%x\r\n%b\r\n" % (len(FIRST), FIRST))
            else:
                for t in streams:  # the whole fan-out: one write per stream
                    t.write(CHUNK)
                self.transport.write(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}")

    def connection_lost(self, exc: Exception | None) -> None:
        streams.discard(self.transport)


async def main(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Conn, "127.0.0.1", port, backlog=4096)
    await server.serve_forever()


if __name__ == "__main__":
    import uvloop

    uvloop.install()
    asyncio.run(main(int(sys.argv[1])))
