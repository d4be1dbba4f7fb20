"""The endpoint on uvloop (the loop ``serve`` runs on). uvloop's ``call_at`` returns a plain
``Handle`` (no ``when()``) for a deadline under half a millisecond away, so the timer must not
depend on the handle to know when it fires."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest
import uvloop

from sessionhub.coap import numbers as N
from sessionhub.coap.transport import CoapServer
from sessionhub.coap.wire import Message, decode, encode
from sessionhub.config import Settings
from sessionhub.runtime import build
from tests.coap.conftest import verify_endpoint


async def _scenario(db_url: str) -> tuple[int, int, int, int]:
    rt = build(Settings(db=db_url))
    await rt.store.apply_migrations()
    await rt.start()
    # pings due every 0.3 ms: the timer is armed again and again for deadlines under 0.5 ms away
    server = CoapServer(rt.paging, "127.0.0.1", 0, "demo", ping_interval=0.0003)
    await server.start()
    assert server.endpoint is not None
    ticks = 0
    original = server.endpoint._tick

    def counting() -> None:
        nonlocal ticks
        ticks += 1
        original()

    server.endpoint._tick = counting  # type: ignore[method-assign]
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await asyncio.to_thread(verify_endpoint, silent, server.port)  # a verified endpoint, then silent
    silent.setblocking(False)
    answered = 0
    try:
        loop = asyncio.get_running_loop()
        register = encode(Message(N.CON, N.GET, 1, b"s", [(N.OBSERVE, b""), (N.URI_PATH, b"v1"),
                                                          (N.URI_PATH, b"notify")]))
        for n in range(5):  # silent observers (never ACK): dropped after three missed pings
            silent.sendto(register[:4] + bytes([n]) + register[5:], ("127.0.0.1", server.port))
        end = loop.time() + 0.5
        mid = 100
        while loop.time() < end:
            mid += 1
            silent.sendto(encode(Message(N.CON, N.GET, mid, b"g", [(N.URI_PATH, b"v1"), (N.URI_PATH, b"settings")])),
                          ("127.0.0.1", server.port))
            await asyncio.sleep(0.002)
            while True:
                try:
                    m = decode(silent.recv(4096))
                except BlockingIOError:
                    break
                answered += m.mtype == N.ACK and m.code == N.CONTENT and m.token == b"g"
        dropped = server.endpoint.observations.dropped
        left = len(server.endpoint.observations)
    finally:
        silent.close()
        await server.stop()
        await rt.stop()
    return answered, dropped, left, ticks


def test_timer_on_uvloop_with_deadlines_under_half_a_millisecond(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        answered, dropped, left, ticks = runner.run(_scenario(f"sqlite:///{tmp_path / 'u.db'}"))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert answered > 20
    assert dropped == 5 and left == 0  # observer accounting ran: every silent observer was dropped
    # pings are due every 0.3 ms for half a second, then nothing: a spinning timer ticks far more
    assert ticks < 5000, ticks
