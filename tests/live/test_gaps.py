"""Explicit gaps (issue 14, issue 9's low items): a Last-Event-ID the log cannot replay after (older
than the retention, ahead of the log, beyond any seq) starts the stream with a ``reset`` event that
carries the full document, never a partial replay nor silence; a reader that stops reading is
coalesced (bounded memory on the server, then a ``reset`` with the latest state)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sessionhub.config import Settings
from sessionhub.service.replay import Gap
from tests.conftest import Keys
from tests.live.conftest import Live, serve_live
from tests.live.test_jsonpatch_ref import apply
from tests.live.test_streams import batch, rufus, stream

RETENTION = 6


@pytest.fixture(params=["plain", "guarded"])
async def small(db_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Live]:
    """A server that replays only its last few changes and coalesces a reader 4 changes behind; on
    uvicorn's plain protocol and on the guarded one (frames written directly to parked streams)."""
    async with serve_live(Settings(db=db_url, replay_retention=RETENTION, stream_max_behind=4),
                          guarded=request.param == "guarded") as served:
        yield served


async def _keys(live: Live) -> Keys:
    make = live.runtime.access.create_key
    return Keys(rw=await make("acme", "READ_WRITE"), read=await make("acme", "READ"),
                write=await make("acme", "WRITE"), unbind=await make("acme", "READ_WRITE", True),
                rival=await make("rival", "READ_WRITE", True))


async def _session(live: Live, keys: Keys) -> str:
    deviceid = (await rufus(live, "POST", "/v0/devices", keys.rw, {"model": "X", "serial_number": "S"}))["deviceid"]
    token: str = (await rufus(live, "POST", "/v0/sessions", keys.rw, {"deviceid": deviceid}))["token_session"]
    return token


async def _current(live: Live, keys: Keys, token: str) -> tuple[int, Any]:
    """The session stream's document as a fresh stream starts with it, and its id."""
    async with stream(live, f"/v0/sessions/{token}/stream", headers={"api_key": keys.read}) as events:
        first = await events.next()
    assert first.id is not None
    return first.id, first.json()


async def test_a_cursor_older_than_the_retention_gets_a_reset_with_the_full_document(small: Live) -> None:
    keys = await _keys(small)
    token = await _session(small, keys)
    old, _ = await _current(small, keys, token)
    for n in range(1, RETENTION + 2):  # each batch is two changes (the session's, the device's)
        await batch(small, keys.rw, token, n)
    head, doc = await _current(small, keys, token)
    path = f"/v0/sessions/{token}/stream"
    async with stream(small, path, headers={"api_key": keys.read, "last-event-id": str(old)}) as events:
        reset = await events.next()
        assert (reset.event, reset.id, reset.json()) == ("reset", head, doc)
        assert doc["result"][0]["passings"] == RETENTION + 1
        await batch(small, keys.rw, token, 100)  # then it follows live, as any stream
        after = await events.next()
        assert after.event is None and after.id is not None and after.id > head
        assert [p["num_passing"] for p in after.json()["passings"]] == [100]
    # within the retention: an exact replay, no reset
    async with stream(small, path, headers={"api_key": keys.read, "last-event-id": str(head)}) as events:
        replayed = await events.next()
        assert replayed.event is None and replayed.id == after.id
    assert small.runtime.replay.resets[Gap.RETENTION] == 1


@pytest.mark.parametrize("cursor", ["ahead", str(2**63 - 1), str(2**63), "9" * 19, "9" * 40, "1" + "0" * 5000])
async def test_a_cursor_ahead_of_the_log_gets_a_reset_not_silence(live: Live, cursor: str) -> None:
    """A restored backup (the client saw seqs this log does not have), or any number beyond a seq:
    a reset with the document (before: silence, or for >= 2**63 a 200 head and an aborted stream)."""
    keys = await _keys(live)
    token = await _session(live, keys)
    head, doc = await _current(live, keys, token)
    last = str(live.runtime.hub.last_seq + 1000) if cursor == "ahead" else cursor
    path = f"/v0/sessions/{token}/stream"
    async with stream(live, path, headers={"api_key": keys.read, "last-event-id": last}) as events:
        reset = await events.next()
        assert (reset.event, reset.id, reset.json()) == ("reset", head, doc)
        await batch(live, keys.rw, token, 1)
        assert [p["num_passing"] for p in (await events.next()).json()["passings"]] == [1]
    assert live.runtime.replay.resets[Gap.AHEAD] == 1


@pytest.mark.parametrize("cursor", ["abc", "-1", "1.5", "١٢", "0x10", "1 2"])
async def test_an_unparseable_cursor_is_a_400_before_the_stream(live: Live, cursor: str) -> None:
    keys = await _keys(live)
    token = await _session(live, keys)
    r = await live.http.get(f"/v0/sessions/{token}/stream", headers={"api_key": keys.read},
                            params={"last_event_id": cursor})
    assert r.status_code == 400 and "description" in r.json(), r.text
    assert live.runtime.hub.subscriber_count == 0


async def test_a_patch_stream_resets_to_a_full_document_then_patches_it(small: Live) -> None:
    keys = await _keys(small)
    token = await _session(small, keys)
    old, _ = await _current(small, keys, token)
    for n in range(1, RETENTION + 2):
        await batch(small, keys.rw, token, n)
    head, doc = await _current(small, keys, token)
    path = f"/v0/sessions/{token}/stream"
    async with stream(small, path, headers={"api_key": keys.read, "last-event-id": str(old)},
                      params={"patch": "1"}) as events:
        reset = await events.next()
        assert (reset.event, reset.id, reset.json()) == ("reset", head, doc)
        await batch(small, keys.rw, token, 100)
        patch = await events.next()
        assert patch.event == "patch"
        latest, _ = await _current(small, keys, token)
        async with stream(small, path, headers={"api_key": keys.read, "last-event-id": str(head)}) as plain:
            assert apply(doc, patch.json()) == (await plain.next()).json()
        assert latest == patch.id


# slow readers ---------------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def stalled_stream(live: Live, path: str, key: str) -> AsyncIterator[tuple[asyncio.StreamReader, Any]]:
    """A raw socket with a tiny receive buffer that sends a stream's GET, reads its head and then
    stops reading until the caller reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    host, port = live.base_url.removeprefix("http://").split(":")
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\napi_key: {key}\r\n\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 200"), head
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _events_until_reset(reader: asyncio.StreamReader, timeout: float = 30) -> list[dict[str, str]]:
    """Parse the (chunked) stream until an ``event: reset`` and return every event read."""
    out: list[dict[str, str]] = []
    buf = b""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        buf += await asyncio.wait_for(reader.read(1 << 16), deadline - loop.time())
        # drop chunk-size lines: an SSE line never is a bare hex number
        lines = [ln for ln in buf.split(b"\r\n") if ln and not all(c in b"0123456789abcdef" for c in ln)]
        text = b"".join(lines).decode()
        out = []
        for block in text.split("\n\n"):
            fields = dict(ln.split(": ", 1) for ln in block.split("\n") if ": " in ln and not ln.startswith(":"))
            if "data" in fields:
                out.append(fields)
        if any(e.get("event") == "reset" for e in out) and text.endswith("\n\n"):
            return out
    raise AssertionError(f"no reset in {len(out)} events")


def _server_buffers(live: Live) -> int:
    """Bytes the server's own transports hold, unsent (the userland part of its memory per stream)."""
    state = live.server.server_state
    return sum(c.transport.get_write_buffer_size() for c in state.connections
               if getattr(c, "transport", None) is not None)


async def test_a_stalled_reader_is_coalesced_with_bounded_memory_then_gets_the_latest_state(small: Live) -> None:
    keys = await _keys(small)
    token = await _session(small, keys)
    hub = small.runtime.hub
    account = (await small.runtime.access.authenticate(keys.read)).account_id  # type: ignore[union-attr]
    topic = f"timing/session/{token}"
    sent = 0
    async with stalled_stream(small, f"/v0/sessions/{token}/stream", keys.read) as (reader, _writer):
        for _ in range(100):
            if hub.subscribers_of(account, topic):
                break
            await asyncio.sleep(0.05)
        (sub,) = hub.subscribers_of(account, topic)
        peak = 0
        for n in range(80):  # ~24 KB per event: far more than every socket buffer on the way
            nums = range(n * 200 + 1, n * 200 + 201)
            await batch(small, keys.rw, token, *nums)
            sent += 24_000
            peak = max(peak, _server_buffers(small))
            assert len(sub.pending) <= sub.limit  # the hub holds at most its allowance
            if sub.overflowed and n > 40:
                break
        assert sub.overflowed  # the reader fell behind its allowance: it will be coalesced
        assert peak < 512 * 1024 < sent  # the server held a bounded amount, not what was produced
        head, doc = await _current(small, keys, token)
        events = await _events_until_reset(reader)
    reset = events[-1]
    assert reset["event"] == "reset" and int(reset["id"]) == head
    assert json.loads(reset["data"]) == doc
    assert small.runtime.replay.resets[Gap.BEHIND] == 1


async def test_snapshots_older_than_twice_the_retention_are_pruned_and_replay_stays_exact(small: Live) -> None:
    """One retention policy for every domain's snapshots (service.snapshots): a change's ``data`` is
    dropped once it is ``2 x retention`` changes old; its row stays, and what can still be replayed
    (the last ``retention`` changes) replays exactly."""
    from sessionhub.core.paging import Fields

    keys = await _keys(small)
    rt = small.runtime
    acme = await rt.store.reads.accounts.account_id("acme")
    assert acme is not None
    for n in range(1, 4 * RETENTION):
        await rt.paging.open_session(acme, n, Fields(label=f"guest {n}"), None, None)
    head = rt.hub.last_seq
    while await rt.replay.prune():
        pass
    assert rt.replay.pruned_upto == head - 2 * RETENTION
    sessions = [c for c in await rt.store.reads.accounts.changes_after(0) if "/session/" in c.topic]
    assert sessions and all((c.data is None) == (c.seq <= head - 2 * RETENTION) for c in sessions)
    assert await rt.replay.prune() is False  # caught up
    cursor = head - 3
    async with stream(small, "/v1/paging/stream", params={"access_key": keys.read},
                      headers={"last-event-id": str(cursor)}) as events:
        replayed = await events.take(3)
    n = 4 * RETENTION - 1
    assert [e.json()["label"] for e in replayed] == [f"guest {n - 2}", f"guest {n - 1}", f"guest {n}"]
