"""A loopback webhook receiver (a small HTTP/1.1 server on asyncio streams, real sockets) that can be
told to fail (500), stall (answer after the sender's deadline), go down and come back on the same
port; and a runtime that delivers to it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from sessionhub.config import Settings
from sessionhub.core.timing import Passing
from sessionhub.runtime import Runtime, build
from tests.conftest import free_port


@dataclass
class Received:
    seq: int
    headers: dict[str, str]
    body: bytes
    answered: int | None
    """The status the receiver answered (None: it stalled past the sender's deadline)."""
    path: str = ""
    at: float = field(default_factory=time.monotonic)

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Answers each POST with the next planned behaviour, then "ok": "fail" (500), "stall" (nothing),
    "trickle" (a byte every 50 ms), "flood" (200 and an endless body), "redirect" (307 elsewhere)."""

    def __init__(self, stall_s: float = 2.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.plan: list[str] = []
        self.got: list[Received] = []
        self.stall_s = stall_s
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self.arrived = asyncio.Event()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)

    async def stop(self) -> None:
        """Down: the listening socket and every open connection closed (connections are refused)."""
        assert self._server is not None
        self._server.close()
        for w in list(self._conns):
            w.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                todo = self.plan.pop(0) if self.plan else "ok"
                got = Received(int(headers["webhook-id"]), headers, body, None, lines[0].split(" ")[1])
                self.got.append(got)
                self.arrived.set()
                if todo == "stall":
                    with contextlib.suppress(asyncio.CancelledError):  # the receiver stopping ends it
                        await asyncio.sleep(self.stall_s)
                    return
                if todo == "trickle":  # a status line one byte at a time: never a whole answer in time
                    with contextlib.suppress(asyncio.CancelledError):
                        for byte in b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n":
                            writer.write(bytes([byte]))
                            await writer.drain()
                            await asyncio.sleep(0.05)
                    return
                if todo == "flood":  # 200, then a body that never ends
                    got.answered = 200
                    writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                    chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
                    with contextlib.suppress(asyncio.CancelledError):
                        for _ in range(10_000):  # 640 MB if anyone read it all
                            writer.write(chunk)
                            await writer.drain()
                    return
                if todo == "redirect":
                    got.answered = 307
                    writer.write(b"HTTP/1.1 307 Temporary Redirect\r\nlocation: /elsewhere\r\n"
                                 b"content-length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                status = 500 if todo == "fail" else 204
                got.answered = status
                reason = b"Internal Server Error" if status == 500 else b"No Content"
                writer.write(b"HTTP/1.1 %d %s\r\ncontent-length: 0\r\n\r\n" % (status, reason))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._conns.discard(writer)
            writer.close()

    def delivered(self) -> list[Received]:
        """The requests answered 2xx, in arrival order."""
        return [r for r in self.got if r.answered is not None and 200 <= r.answered < 300]

    async def wait_for(self, done: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver still waiting; got {[(r.seq, r.answered) for r in self.got]}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), 0.1)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    try:
        yield r
    finally:
        if r._server is not None:
            await r.stop()


FAST = dict(webhook_allow_networks=("127.0.0.0/8",), webhook_timeout=0.4, webhook_retry_base=0.02,
            webhook_retry_cap=0.1, webhook_max_failures=1000)
"""Settings for tests: loopback allowed, short deadline and back-off."""


@contextlib.asynccontextmanager
async def delivering(db_url: str, **settings: Any) -> AsyncIterator[Runtime]:
    rt = build(Settings(db=db_url, **{**FAST, **settings}))
    await rt.store.apply_migrations()
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


def verify(secret: str, r: Received) -> bool:
    """The Standard Webhooks check, written from the spec (not with sessionhub's code)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{r.headers['webhook-id']}.{r.headers['webhook-timestamp']}.".encode() + r.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(sig.partition(",")[2], expected) for sig in r.headers["webhook-signature"].split())


class Timing:
    """Writes timing changes through the service: sessions on devices, batches of passings."""

    def __init__(self, rt: Runtime, account: str = "acme") -> None:
        self.rt, self.account, self.devices, self._n = rt, account, 0, 0

    async def session(self) -> str:
        self.devices += 1
        deviceid = f"{self.devices:064X}"
        await self.rt.timing.import_device(self.account, deviceid, model="X1", serial_number=f"S-{self.devices}")
        raw = await self.rt.access.create_key(self.account, "READ_WRITE")
        self.key = await self.rt.access.authenticate(raw)
        return await self.rt.timing.open_session(self.key, deviceid, "race")

    async def batch(self, token: str, n: int = 1) -> None:
        passings = []
        for _ in range(n):
            self._n += 1
            passings.append(Passing(self._n, 1_700_000_000_000 + self._n, str(self._n)))
        await self.rt.timing.record_passings(self.key, token, passings)
