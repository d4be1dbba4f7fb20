"""The store contract for webhooks (both stores): subscriptions, the compare-and-set cursor, the
failure count, the bounded delivery log, and reading the change log forward by topic prefix."""

from __future__ import annotations

from typing import Any

from sessionhub.core.webhooks import Attempt

Store = Any


async def _account(store: Store, name: str = "acme") -> int:
    async with store.unit_of_work() as uow:
        account_id: int = await uow.accounts.ensure_account(name, False, 1_000)
    return account_id


async def test_subscriptions_are_added_listed_enabled_disabled_and_deleted(store: Store) -> None:
    acme, rival = await _account(store), await _account(store, "rival")
    async with store.unit_of_work() as uow:
        a = await uow.webhooks.add(acme, "https://a.example/h", ("parking.session", "timing.session"), "whsec_x", 7, 5)
        b = await uow.webhooks.add(rival, "https://b.example/h", ("paging.session",), "whsec_y", 0, 6)
    sub = await store.reads.webhooks.subscription(a)
    assert sub is not None
    assert (sub.account_id, sub.url, sub.kinds, sub.secret, sub.enabled, sub.failures, sub.cursor, sub.created_ms) == (
        acme, "https://a.example/h", ("parking.session", "timing.session"), "whsec_x", True, 0, 7, 5)
    assert [s.id for s in await store.reads.webhooks.all()] == [a, b]
    assert [(n, s.id) for n, s in await store.reads.webhooks.listing()] == [("acme", a), ("rival", b)]
    assert await store.reads.webhooks.count_of_account(acme) == 1
    async with store.unit_of_work() as uow:
        assert await uow.webhooks.failed(a) == 1
        assert await uow.webhooks.failed(a) == 2
        assert await uow.webhooks.disable(a, "too many")
    sub = await store.reads.webhooks.subscription(a)
    assert sub is not None and not sub.enabled and sub.disabled_reason == "too many" and sub.failures == 2
    async with store.unit_of_work() as uow:
        assert await uow.webhooks.enable(a)
        assert await uow.webhooks.delete(b)
        assert not await uow.webhooks.delete(b)
        assert await uow.webhooks.failed(b) == 0  # gone
    sub = await store.reads.webhooks.subscription(a)
    assert sub is not None and sub.enabled and sub.failures == 0 and sub.disabled_reason is None
    assert await store.reads.webhooks.subscription(b) is None


async def test_the_cursor_moves_only_from_where_the_worker_read_it(store: Store) -> None:
    acme = await _account(store)
    async with store.unit_of_work() as uow:
        sid = await uow.webhooks.add(acme, "https://a.example/h", ("timing.session",), "whsec_x", 10, 5)
        await uow.webhooks.failed(sid)
        assert await uow.webhooks.advance(sid, 10, 12)
        assert not await uow.webhooks.advance(sid, 10, 14)  # someone moved it: no-op
        assert await uow.webhooks.set_cursor(sid, 3)  # replay
        assert not await uow.webhooks.advance(sid, 12, 20)
    sub = await store.reads.webhooks.subscription(sid)
    assert sub is not None and sub.cursor == 3 and sub.failures == 0


async def test_the_delivery_log_is_newest_first_and_pruned(store: Store) -> None:
    acme = await _account(store)
    async with store.unit_of_work() as uow:
        sid = await uow.webhooks.add(acme, "https://a.example/h", ("timing.session",), "whsec_x", 0, 5)
        other = await uow.webhooks.add(acme, "https://b.example/h", ("timing.session",), "whsec_x", 0, 5)
        for n in range(1, 11):
            await uow.webhooks.log(Attempt(sid, 100 + n // 3, "timing/session/T", n, 500 if n < 10 else 204,
                                           None, n, 1_000 + n, 2_000 + n if n < 10 else None))
        await uow.webhooks.log(Attempt(other, 5, "timing/session/T", 1, None, "timed out", 3, 9, 10))
    log = await store.reads.webhooks.deliveries(sid, 3)
    assert [a.attempt for a in log] == [10, 9, 8] and log[0].ok and not log[1].ok and log[0].next_retry_ms is None
    assert await store.reads.webhooks.last_attempt(sid, 103) == (10, None)
    assert await store.reads.webhooks.last_attempt(sid, 102) == (8, 2_008)
    assert await store.reads.webhooks.last_attempt(sid, 999) == (0, None)
    async with store.unit_of_work() as uow:
        assert await uow.webhooks.prune(sid, 4) == 6
        assert await uow.webhooks.prune(sid, 4) == 0
    assert [a.attempt for a in await store.reads.webhooks.deliveries(sid, 100)] == [10, 9, 8, 7]
    assert [a.error for a in await store.reads.webhooks.deliveries(other, 100)] == ["timed out"]
    async with store.unit_of_work() as uow:
        await uow.webhooks.delete(sid)  # its log goes with it
    assert await store.reads.webhooks.deliveries(sid, 100) == []


async def test_changes_are_read_forward_by_prefix_account_and_window(store: Store) -> None:
    acme, rival = await _account(store), await _account(store, "rival")
    topics = [(acme, "timing/session/A"), (acme, "timing/device/D"), (rival, "timing/session/B"),
              (acme, "parking/session/1"), (acme, "parking/location/1"), (acme, "timing/sessionX"),
              (acme, f"paging/{acme}/bar/session/7"), (acme, "timing/session/C")]
    seqs = []
    async with store.unit_of_work() as uow:
        for account_id, topic in topics:
            seqs.append(await uow.accounts.append_change(account_id, topic, 10, b"{}"))
    read = store.reads.webhooks.changes_for
    got = await read(acme, ("timing/session/",), 0, seqs[-1], 100)
    assert [c.topic for c in got] == ["timing/session/A", "timing/session/C"] and got[0].data == b"{}"
    got = await read(acme, ("parking/session/", "timing/session/", f"paging/{acme}/"), 0, seqs[-1], 100)
    assert [c.seq for c in got] == [seqs[0], seqs[3], seqs[6], seqs[7]]
    assert [c.seq for c in await read(acme, ("timing/session/", "parking/session/"), seqs[0], seqs[-1], 1)] == [
        seqs[3]]
    assert await read(acme, ("timing/session/",), seqs[0], seqs[6], 100) == []  # C is beyond the window


async def test_one_owner_holds_the_lease_until_it_expires_or_is_released(store: Store) -> None:
    acme = await _account(store)
    async with store.unit_of_work() as uow:
        sid = await uow.webhooks.add(acme, "https://a.example/h", ("timing.session",), "whsec_x", 0, 5)
        assert await uow.webhooks.claim(sid, "p1", 1_030, 1_000)
        assert not await uow.webhooks.claim(sid, "p2", 1_040, 1_010)  # held
        assert await uow.webhooks.claim(sid, "p1", 1_045, 1_015)  # renewed by its owner
        assert not await uow.webhooks.release(sid, "p2")
        assert not await uow.webhooks.claim(sid, "p2", 1_080, 1_044)
        assert await uow.webhooks.claim(sid, "p2", 1_080, 1_046)  # expired: taken over
        assert await uow.webhooks.release(sid, "p2")
        assert await uow.webhooks.claim(sid, "p3", 1_090, 1_047)  # released: free at once
