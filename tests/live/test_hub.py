"""The change hub's versions and subscriptions, on every store."""

from __future__ import annotations

import asyncio

from sessionhub.live import hub as hub_module
from sessionhub.runtime import Runtime


async def _append(runtime: Runtime, account: int, *topics: str) -> list[int]:
    async with runtime.store.unit_of_work() as uow:
        seqs = [await uow.accounts.append_change(account, t, 1) for t in topics]
    return seqs


async def test_versions_load_lazily_and_follow_published_changes(runtime: Runtime) -> None:
    hub = runtime.hub
    a, b = await _append(runtime, 1, "timing/device/A", "timing/device/B")
    # committed before anyone asked and not yet published: read from the store
    assert await hub.version(1, ["timing/device/A"]) == a
    assert await hub.version(1, ["timing/device/"]) == b
    assert await hub.version(1, ["timing/device/A", "timing/device/B"]) == b
    assert await hub.version(2, ["timing/device/A"]) == 0  # another account's view
    (c,) = await _append(runtime, 1, "timing/device/A")
    await hub.catch_up()
    assert await hub.version(1, ["timing/device/A"]) == c
    assert await hub.version(1, ["timing/"]) == c
    assert await hub.version(1, ["timing/device/B"]) == b


async def test_subscriptions_get_their_topics_once_and_overflow_safely(runtime: Runtime) -> None:
    hub = runtime.hub
    one = hub.subscribe(1, ["parking/session/5", "parking/location/"])
    other = hub.subscribe(2, ["parking/session/5"])
    assert hub.subscriber_count == 2
    await _append(runtime, 1, "parking/session/5", "parking/location/3", "parking/session/6")
    await hub.catch_up()
    assert [c.topic for c in one.take()] == ["parking/session/5", "parking/location/3"]
    assert other.take() == [] and not other.ready
    for n in range(hub_module.MAX_PENDING + 1):
        await _append(runtime, 1, f"parking/location/{n}")
        await hub.catch_up()
    assert one.overflowed and one.take() == [] and not one.overflowed
    waiter = asyncio.create_task(other.wait(30))
    await asyncio.sleep(0.01)
    hub.close_all()
    assert await asyncio.wait_for(waiter, 1) is True and other.closed
    assert hub.subscriber_count == 0
    assert hub.subscribe(1, ["x"]).closed  # a closing hub takes no new subscribers


async def test_a_wait_times_out_without_a_change(runtime: Runtime) -> None:
    sub = runtime.hub.subscribe(1, ["t/1"])
    assert await sub.wait(0.05) is False
    sub.close()
    sub.close()  # idempotent
    assert runtime.hub.subscriber_count == 0


async def test_close_keys_ends_only_the_subscriptions_of_those_keys(runtime: Runtime) -> None:
    hub = runtime.hub
    a1, a2 = hub.subscribe(1, ["parking/session/5"], key_id=7), hub.subscribe(1, ["parking/"], key_id=7)
    b, anonymous = hub.subscribe(1, ["parking/session/5"], key_id=8), hub.subscribe(1, ["parking/session/5"])
    assert hub.key_ids == {7, 8}
    assert hub.close_keys({7, 99}) == 2
    assert a1.closed and a2.closed and a1.revoked and a2.revoked
    assert not b.closed and not anonymous.closed and not b.revoked
    assert hub.key_ids == {8}
    b.close()
    assert hub.key_ids == set() and hub.subscriber_count == 1
    anonymous.close()


async def test_live_stats_count_subscriptions_lag_and_resets(runtime: Runtime) -> None:
    hub = runtime.hub
    for task in runtime._tasks:  # the change feed publishes at once (PostgreSQL's NOTIFY): only catch_up here
        if task.get_name() == "change-feed":
            task.cancel()
    sub = hub.subscribe(1, ["parking/session/5"], key_id=3)
    await _append(runtime, 1, "parking/session/5", "parking/session/6")  # committed, not yet published
    stats = await runtime.live_stats()
    assert (stats.subscriptions, stats.feed_lag, stats.revoked_closed) == (1, 2, 0)
    assert stats.resets == {"retention": 0, "ahead": 0, "behind": 0}
    await hub.catch_up()
    stats = await runtime.live_stats()
    assert stats.feed_lag == 0 and stats.published_seq == hub.last_seq
    sub.close()
    assert (await runtime.live_stats()).subscriptions == 0


async def test_a_direct_hook_takes_delivery_without_a_wake_up_or_declines_and_wakes(runtime: Runtime) -> None:
    hub = runtime.hub
    sub = hub.subscribe(1, ["timing/session/T"], limit=3)
    delivered: list[int] = []

    def take_all() -> bool:
        delivered.extend(c.seq for c in sub.take())
        return True

    sub.direct = take_all
    waiter = asyncio.create_task(sub.wait(None))
    await asyncio.sleep(0.01)
    (a,) = await _append(runtime, 1, "timing/session/T")
    await hub.catch_up()
    await asyncio.sleep(0.01)
    assert delivered == [a] and not waiter.done()  # taken in the publisher's pass: nobody woken
    sub.direct = lambda: False  # declines (a paused connection): the hook is dropped, the task woken
    (b,) = await _append(runtime, 1, "timing/session/T")
    await hub.catch_up()
    assert await asyncio.wait_for(waiter, 1) is True
    assert sub.direct is None and [c.seq for c in sub.pending] == [b]
    sub.direct = take_all  # an inbox at its limit overflows and wakes, the hook is not asked
    sub.pending.extend(sub.pending * 2)
    await _append(runtime, 1, "timing/session/T")
    await hub.catch_up()
    assert sub.overflowed and sub.direct is None and delivered == [a]
    sub.close()
