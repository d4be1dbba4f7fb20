"""``WriteGate``: a bounded number of writes per key ahead of the store, in order, refusing beyond."""

from __future__ import annotations

import asyncio

import pytest

from sessionhub.core.errors import StoreUnavailable
from sessionhub.service.fairness import WriteGate


async def test_at_most_per_key_run_the_rest_wait_in_order_and_beyond_the_queue_are_refused() -> None:
    gate = WriteGate(per_key=2, queue=3)
    running: list[int] = []
    order: list[int] = []
    release = asyncio.Event()

    async def write(n: int, key: str = "flood") -> None:
        async with gate.slot(key):
            running.append(n)
            order.append(n)
            assert sum(1 for _ in running) <= 2 or key != "flood"
            await release.wait()
            running.remove(n)

    tasks = [asyncio.create_task(write(n)) for n in range(5)]
    await asyncio.sleep(0)
    assert sorted(running) == [0, 1]
    with pytest.raises(StoreUnavailable):
        await write(99)  # 2 running, 3 waiting: refused at once
    other = asyncio.create_task(write(100, key="other"))  # another key is not held up
    await asyncio.sleep(0)
    assert 100 in running
    release.set()
    await asyncio.gather(*tasks, other)
    assert order[:2] == [0, 1] and [n for n in order if n < 99][2:] == [2, 3, 4] and gate.refused == 1
    assert len(gate) == 0


async def test_a_cancelled_waiter_gives_up_its_place() -> None:
    gate = WriteGate(per_key=1, queue=4)
    hold = asyncio.Event()

    async def first() -> None:
        async with gate.slot("k"):
            await hold.wait()

    t1 = asyncio.create_task(first())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(first())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.sleep(0)
    hold.set()
    await t1
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert len(gate) == 0
    async with gate.slot("k"):  # free again
        pass
