"""Fan-out in the publisher's pass (http/sse.py, http/streamlane.py): on the guarded protocol that
``serve`` uses, a change reaches parked streams as its shared frame written straight to their
connections; a stream whose connection is paused by flow control (a reader that stopped) declines
and is coalesced as before, with bounded memory."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest

from sessionhub.config import Settings
from sessionhub.http.streamlane import CycleWire
from sessionhub.service.replay import Gap
from tests.live.conftest import Live, serve_live
from tests.live.test_gaps import _current, _events_until_reset, _keys, _server_buffers, _session, stalled_stream
from tests.live.test_streams import batch, stream


@pytest.fixture
async def guarded(db_url: str) -> AsyncIterator[Live]:
    async with serve_live(Settings(db=db_url, stream_max_behind=4), guarded=True) as served:
        yield served


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> dict[bool, int]:
    """How many direct writes were made (True) and declined (False)."""
    counts = {True: 0, False: 0}
    original = CycleWire.write_now

    def counted(self: CycleWire, body: bytes) -> bool:
        done = original(self, body)
        counts[done] += 1
        return done

    monkeypatch.setattr(CycleWire, "write_now", counted)
    return counts


async def test_parked_streams_get_each_change_written_directly_in_order(guarded: Live,
                                                                          writes: dict[bool, int]) -> None:
    keys = await _keys(guarded)
    token = await _session(guarded, keys)
    async with contextlib.AsyncExitStack() as stack:
        readers = [await stack.enter_async_context(stream(guarded, f"/v0/sessions/{token}/stream",
                                                          headers={"api_key": keys.read})) for _ in range(20)]
        firsts = [await r.next() for r in readers]
        for n in range(1, 4):
            await batch(guarded, keys.rw, token, n)
        for reader, first in zip(readers, firsts, strict=True):
            got = [await asyncio.wait_for(reader.next(), 10) for _ in range(3)]
            assert [[p["num_passing"] for p in e.json()["passings"]] for e in got] == [[1], [2], [3]]
            ids = [first.id, *(e.id for e in got)]
            assert None not in ids and ids == sorted({i for i in ids if i is not None})  # increasing, none repeated
    assert writes[True] >= 20 * 3  # every event of every stream went the direct way
    assert writes[False] == 0


async def test_a_paused_connection_declines_and_is_coalesced_then_goes_direct_again(
        guarded: Live, writes: dict[bool, int]) -> None:
    keys = await _keys(guarded)
    token = await _session(guarded, keys)
    hub = guarded.runtime.hub
    account = (await guarded.runtime.access.authenticate(keys.read)).account_id  # type: ignore[union-attr]
    async with stalled_stream(guarded, f"/v0/sessions/{token}/stream", keys.read) as (reader, _writer):
        for _ in range(100):
            if hub.subscribers_of(account, f"timing/session/{token}"):
                break
            await asyncio.sleep(0.05)
        (sub,) = hub.subscribers_of(account, f"timing/session/{token}")
        peak, sent = 0, 0
        for n in range(80):  # ~24 KB per event: the connection's writes pause, then its inbox overflows
            await batch(guarded, keys.rw, token, *range(n * 200 + 1, n * 200 + 201))
            sent += 24_000
            peak = max(peak, _server_buffers(guarded))
            assert len(sub.pending) <= sub.limit
            if sub.overflowed and n > 20:
                break
        assert writes[True] >= 1 and writes[False] >= 1  # direct until paused, then declined
        assert sub.overflowed and sub.direct is None  # the task holds it: blocked on flow control
        assert peak < 512 * 1024 < sent  # bounded, whatever was produced
        head, doc = await _current(guarded, keys, token)
        events = await _events_until_reset(reader)
        reset = events[-1]
        assert reset["event"] == "reset" and int(reset["id"]) == head and json.loads(reset["data"]) == doc
        assert guarded.runtime.replay.resets[Gap.BEHIND] == 1
        for _ in range(100):  # caught up: parked again, on the direct way
            if sub.direct is not None:
                break
            await asyncio.sleep(0.05)
        before = writes[True]
        await batch(guarded, keys.rw, token, 999_999)
        for _ in range(100):
            if writes[True] > before:
                break
            await asyncio.sleep(0.05)
        assert writes[True] == before + 1
