"""Amplification (RFC 7252 §11.3) over real UDP: what an attacker spoofing a victim's address gets
the endpoint to send there, the per-host observer cap, and observers that never acknowledge.

The "victim" is a raw socket that never answers anything, as a spoofed address would not (the
real victim never sent the request, so it answers neither probes nor notifications)."""

from __future__ import annotations

import asyncio
import socket

import aiocoap

from sessionhub.coap import numbers as N
from sessionhub.coap.wire import Message, decode, encode
from tests.coap.conftest import Coap, verify_endpoint


def _request(code: int, mid: int, path: list[str], query: list[str] | None = None, observe: bool = False,
             token: bytes = b"t") -> bytes:
    options = [(N.URI_PATH, p.encode()) for p in path] + [(N.URI_QUERY, q.encode()) for q in query or []]
    if observe:
        options.append((N.OBSERVE, b""))
    return encode(Message(N.CON, code, mid, token, options))


def _drain(sock: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(sock.recv(65536))
        except BlockingIOError:
            return out


async def _seed(coap: Coap, count: int) -> None:
    for n in range(1, count + 1):
        r = await coap.request(aiocoap.POST, "/v1/sessions", f'{{"number":{n},"label":"table {n}"}}'.encode())
        assert r.code in (aiocoap.CREATED, aiocoap.CHANGED)


async def test_an_unverified_source_gets_at_most_three_times_what_it_sent(coap: Coap) -> None:
    await _seed(coap, 5)
    victim = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    victim.setblocking(False)
    sent = received = 0
    try:
        target = ("127.0.0.1", coap.server.port)
        requests = [_request(N.GET, 1, ["v1", "sessions"]), _request(N.GET, 2, ["v1", "sessions"], ["number=3"]),
                    _request(N.GET, 3, ["v1", "sessions", "history"]), _request(N.GET, 4, ["v1", "settings"]),
                    _request(N.GET, 5, ["v1", "sessions"], ["number=99"]), _request(N.GET, 6, ["v1", "nope"])]
        for data in requests:
            victim.sendto(data, target)
            sent += len(data)
        await asyncio.sleep(1.5)  # past the hold: every held answer has become a 4.01 with Echo
        got = _drain(victim)
        received = sum(len(d) for d in got)
        codes = sorted(decode(d).code for d in got)
    finally:
        victim.close()
    assert received <= 3 * sent, (received, sent)
    # one probe, then each request answered with a 4.01 carrying an Echo option: nothing larger
    assert codes == [N.EMPTY] + [N.UNAUTHORIZED] * 6, codes


async def test_a_spoofed_registration_sends_the_victim_nothing_after_the_first_answer(coap: Coap) -> None:
    victim = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    victim.setblocking(False)
    try:
        data = _request(N.GET, 9, ["v1", "notify"], observe=True)
        victim.sendto(data, ("127.0.0.1", coap.server.port))
        await asyncio.sleep(0.2)
        for n in range(1, 6):  # changes the real observers would be told about
            await coap.request(aiocoap.POST, "/v1/sessions", f'{{"number":{n}}}'.encode())
        await asyncio.sleep(1.5)
        received = sum(len(d) for d in _drain(victim))
        observations = coap.server.endpoint.observations  # type: ignore[union-attr]
        assert observations.active == 0
    finally:
        victim.close()
    assert received <= 3 * len(data), received


async def test_an_aiocoap_client_gets_its_full_answer_after_one_round_trip(coap: Coap) -> None:
    await _seed(coap, 40)  # 9 KB: Block2 blocks of 1024
    r = await coap.request(aiocoap.GET, "/v1/sessions")  # the fixture's client context: verified by now
    assert r.code == aiocoap.CONTENT and len(r.payload) > 8000
    fresh = await aiocoap.Context.create_client_context()  # a new endpoint: not verified yet
    try:
        r = await fresh.request(aiocoap.Message(code=aiocoap.GET, uri=coap.uri + "/v1/sessions")).response
    finally:
        await fresh.shutdown()
    assert r.code == aiocoap.CONTENT and [s["number"] for s in __import__("json").loads(r.payload)["sessions"]] == [
        *range(1, 41)]


async def test_one_host_gets_at_most_its_share_of_observer_slots(coap: Coap) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        await asyncio.to_thread(verify_endpoint, sock, coap.server.port)
        sock.setblocking(False)
        for t in range(100):
            sock.sendto(_request(N.GET, 100 + t, ["v1", "notify"], observe=True, token=t.to_bytes(2, "big")),
                        ("127.0.0.1", coap.server.port))
        await asyncio.sleep(0.5)
        answers = [decode(d) for d in _drain(sock)]
    finally:
        sock.close()
    with_observe = [m for m in answers if m.code == N.CONTENT and m.option(N.OBSERVE) is not None]
    assert len(with_observe) == 16 and len(answers) == 100  # the rest are answered as plain GETs
    assert len(coap.server.endpoint.observations) == 16  # type: ignore[union-attr]


async def test_silent_observers_cost_one_datagram_each_then_are_dropped(coap: Coap) -> None:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
    endpoint = coap.server.endpoint
    assert endpoint is not None
    endpoint.observations.first_timeout = 0.3  # the default (3 s) made short for the test
    try:
        for n, s in enumerate(socks):
            await asyncio.to_thread(verify_endpoint, s, coap.server.port)
            s.setblocking(False)
            s.sendto(_request(N.GET, 200 + n, ["v1", "notify"], observe=True), ("127.0.0.1", coap.server.port))
        await asyncio.sleep(0.3)
        for s in socks:
            _drain(s)  # the registrations' answers
        assert endpoint.observations.active == 8
        await coap.request(aiocoap.POST, "/v1/sessions", b'{"number":1}')
        await coap.request(aiocoap.POST, "/v1/sessions", b'{"number":2}')  # queued behind the first
        await asyncio.sleep(1.0)
        first = [len(_drain(s)) for s in socks]
        await coap.request(aiocoap.POST, "/v1/sessions", b'{"number":3}')
        await asyncio.sleep(0.5)
        second = [len(_drain(s)) for s in socks]
    finally:
        for s in socks:
            s.close()
    assert first == [1] * 8 and second == [0] * 8  # one datagram each, no retransmissions, then dropped
    assert len(endpoint.observations) == 0 and endpoint.observations.dropped == 8


async def test_a_write_from_an_unverified_source_is_not_done(coap: Coap) -> None:
    victim = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    victim.setblocking(False)
    try:
        data = encode(Message(N.CON, N.POST, 5, b"w", [(N.URI_PATH, b"v1"), (N.URI_PATH, b"sessions")],
                              b'{"number":77,"label":"spoofed"}'))
        victim.sendto(data, ("127.0.0.1", coap.server.port))
        await asyncio.sleep(1.5)
        got = [decode(d) for d in _drain(victim)]
    finally:
        victim.close()
    assert [m.code for m in got] == [N.EMPTY, N.UNAUTHORIZED] and got[1].option(N.ECHO) is not None
    r = await coap.request(aiocoap.GET, "/v1/sessions?number=77")
    assert r.code == aiocoap.NOT_FOUND  # nothing was written for the spoofed source
