"""The store contract: what every store (SQLite, PostgreSQL) must do the same way.

One suite, parametrized over every store by the ``store`` fixture (tests/store/conftest.py), one
file per domain (this one: accounts, keys, the change log, timing; test_contract_parking.py,
test_contract_paging.py). It talks to the repositories the services use (``store.reads`` outside
a transaction, ``uow`` inside ``store.unit_of_work()``), never to SQL.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from sessionhub.core.access import Access
from sessionhub.core.changes import Change
from sessionhub.core.errors import InvalidInput
from sessionhub.core.timing import Device, Passing, TimingSession

Store = Any  # every store implementation; the ports (service/ports.py) are what mypy checks


async def _account(store: Store, name: str = "acme") -> int:
    async with store.unit_of_work() as uow:
        account_id: int = await uow.accounts.ensure_account(name, False, 1_000)
    return account_id


async def _device(store: Store, account_id: int, serial: str = "S-1", deviceid: str = "D" * 64) -> Device:
    async with store.unit_of_work() as uow:
        device: Device = await uow.timing.insert_device(
            Device(0, account_id, deviceid, "CUSTOM", "X1", serial, "finish", "1.0", 2_000, None, 7))
    return device


async def _session(store: Store, device: Device, token: str, created_ms: int = 3_000) -> TimingSession:
    async with store.unit_of_work() as uow:
        session: TimingSession = await uow.timing.insert_session(TimingSession(
            0, device.account_id, device.id, device.deviceid, token, "START-5K", created_ms, None, 0, None, None, 9))
    return session


def _token(n: int) -> str:
    return f"{n:064X}"


# accounts and keys --------------------------------------------------------------------------------

async def test_ensure_account_is_idempotent_and_marks_test_accounts(store: Store) -> None:
    assert await store.reads.accounts.account_id("acme") is None
    first = await _account(store)
    assert first > 0
    assert await _account(store) == first
    other = await _account(store, "rival")
    assert other != first
    assert await store.reads.accounts.account_id("acme") == first
    async with store.unit_of_work() as uow:
        assert await uow.accounts.ensure_account("acme", True, 5_000) == first
        await uow.accounts.add_key(first, "h1", Access.READ, False, "", 5_000)
    key = await store.reads.accounts.key("h1")
    assert key is not None and key.is_test_account


async def test_keys_are_found_by_hash_and_revoked(store: Store) -> None:
    acme, rival = await _account(store), await _account(store, "rival")
    async with store.unit_of_work() as uow:
        k1 = await uow.accounts.add_key(acme, "hash-1", Access.READ_WRITE, True, "app", 10)
        k2 = await uow.accounts.add_key(acme, "hash-2", Access.READ, False, "app", 11)
        k3 = await uow.accounts.add_key(rival, "hash-3", Access.WRITE, False, "app", 12)
    assert 0 < k1 < k2 < k3
    key = await store.reads.accounts.key("hash-1")
    assert key is not None
    assert (key.id, key.account_id, key.access, key.unbind, key.alias, key.is_test_account) == (
        k1, acme, Access.READ_WRITE, True, "app", False)
    assert await store.reads.accounts.key("nope") is None

    async with store.unit_of_work() as uow:
        assert await uow.accounts.revoke_key("hash-1", 20) is True
        assert await uow.accounts.revoke_key("hash-1", 21) is False  # already revoked
        assert await uow.accounts.revoke_key("unknown", 21) is False
    assert await store.reads.accounts.key("hash-1") is None

    async with store.unit_of_work() as uow:
        assert await uow.accounts.revoke_alias(acme, "app", 30) == 1  # hash-2 only: hash-1 is gone, hash-3 is rival's
    assert await store.reads.accounts.key("hash-2") is None
    assert await store.reads.accounts.key("hash-3") is not None

    listed = await store.reads.accounts.keys()
    assert listed == [
        (k1, "acme", "READ_WRITE", True, "app", 10, 20, False),
        (k2, "acme", "READ", False, "app", 11, 30, False),
        (k3, "rival", "WRITE", False, "app", 12, None, False),
    ]


async def test_admin_keys_are_flagged_listed_per_account_and_revoked_by_id(store: Store) -> None:
    acme, rival = await _account(store), await _account(store, "rival")
    async with store.unit_of_work() as uow:
        boss = await uow.accounts.add_key(acme, "hash-boss", Access.READ_WRITE, False, "boss", 10, admin=True)
        clerk = await uow.accounts.add_key(acme, "hash-clerk", Access.READ, False, "", 11)
        other = await uow.accounts.add_key(rival, "hash-other", Access.READ, False, "", 12)
    found = await store.reads.accounts.key("hash-boss")
    assert found is not None and found.admin and found.id == boss
    clerk_key = await store.reads.accounts.key("hash-clerk")
    assert clerk_key is not None and not clerk_key.admin
    assert [r[0] for r in await store.reads.accounts.keys_of(acme, 10)] == [boss, clerk]
    assert [r[0] for r in await store.reads.accounts.keys_of(acme, 1)] == [boss]
    assert (await store.reads.accounts.keys_of(acme, 10))[0][7] is True
    async with store.unit_of_work() as uow:
        assert await uow.accounts.revoke_key_id(acme, other, 20) is False  # not acme's
        assert await uow.accounts.revoke_key_id(acme, clerk, 20) is True
        assert await uow.accounts.revoke_key_id(acme, clerk, 21) is False  # revoked already
    assert await store.reads.accounts.key("hash-clerk") is None
    assert await store.reads.accounts.key("hash-other") is not None


async def test_a_key_hash_is_unique(store: Store) -> None:
    acme = await _account(store)
    async with store.unit_of_work() as uow:
        await uow.accounts.add_key(acme, "same", Access.READ, False, "", 1)
    with pytest.raises(Exception):  # noqa: B017 - each store raises its driver's integrity error
        async with store.unit_of_work() as uow:
            await uow.accounts.add_key(acme, "same", Access.WRITE, False, "", 2)
    key = await store.reads.accounts.key("same")
    assert key is not None and key.access is Access.READ


# the change log -----------------------------------------------------------------------------------

async def test_change_log_seqs_strictly_increase_and_read_forward(store: Store) -> None:
    assert await store.last_seq() == 0
    assert await store.changes_after(0) == []
    seqs = []
    for n in range(3):
        async with store.unit_of_work() as uow:
            seqs.append(await uow.accounts.append_change(1, f"t/{n}", 100 + n))
            seqs.append(await uow.accounts.append_change(2, f"u/{n}", 100 + n))
    assert seqs == sorted(seqs) and len(set(seqs)) == 6 and seqs[0] >= 1
    assert seqs == list(range(seqs[0], seqs[0] + 6))  # gap-free
    assert await store.last_seq() == seqs[-1]
    assert await store.reads.accounts.last_seq() == seqs[-1]
    changes = await store.changes_after(0)
    assert changes == [Change(s, 1 + i % 2, f"{'tu'[i % 2]}/{i // 2}") for i, s in enumerate(seqs)]
    assert await store.changes_after(seqs[2]) == changes[3:]
    assert await store.changes_after(seqs[2], limit=2) == changes[3:5]
    assert await store.changes_after(seqs[-1]) == []


async def test_a_rolled_back_unit_of_work_leaves_no_change_and_no_gap(store: Store) -> None:
    async with store.unit_of_work() as uow:
        first = await uow.accounts.append_change(1, "a", 1)
    with pytest.raises(RuntimeError):
        async with store.unit_of_work() as uow:
            await uow.accounts.append_change(1, "lost", 2)
            raise RuntimeError("boom")
    async with store.unit_of_work() as uow:
        second = await uow.accounts.append_change(1, "b", 3)
    assert second == first + 1
    assert [c.topic for c in await store.changes_after(0)] == ["a", "b"]
    assert await store.last_seq() == second


# devices ------------------------------------------------------------------------------------------

async def test_devices_are_per_account_and_paged_by_id(store: Store) -> None:
    acme, rival = await _account(store), await _account(store, "rival")
    made = [await _device(store, acme, f"S-{n}", _token(100 + n)) for n in range(5)]
    assert [d.id for d in made] == sorted(d.id for d in made) and made[0].id > 0
    other = await _device(store, rival, "S-0", _token(999))  # serials are unique per account only

    got = await store.reads.timing.device(acme, made[1].deviceid)
    assert got == made[1]
    assert got.seq == 7 and got.firmware == "1.0" and got.last_seen_ms is None
    assert await store.reads.timing.device(rival, made[1].deviceid) is None
    assert await store.reads.timing.device_by_serial(acme, "S-3") == made[3]
    assert await store.reads.timing.device_by_serial(rival, "S-0") == other
    assert await store.reads.timing.device_by_serial(rival, "S-3") is None

    page, total = await store.reads.timing.devices(acme, 0, 2)
    assert total == 5 and [s.device for s in page] == made[:2]
    page, total = await store.reads.timing.devices(acme, 4, 2)
    assert total == 5 and [s.device for s in page] == made[4:]
    page, total = await store.reads.timing.devices(acme, 10, 2)
    assert (page, total) == ([], 5)


async def test_a_serial_number_binds_once_per_account(store: Store) -> None:
    acme = await _account(store)
    await _device(store, acme, "S-1", _token(1))
    with pytest.raises(Exception):  # noqa: B017 - the schema refuses it, whatever the service checked
        await _device(store, acme, "S-1", _token(2))
    assert await store.reads.timing.device(acme, _token(2)) is None


async def test_touch_and_delete_device(store: Store) -> None:
    acme = await _account(store)
    device = await _device(store, acme)
    s1 = await _session(store, device, _token(1))
    async with store.unit_of_work() as uow:
        await uow.timing.close_session(s1.id, 4_000, 10)
    s2 = await _session(store, device, _token(2))
    async with store.unit_of_work() as uow:
        await uow.timing.add_passings(s1, [Passing(1, 5_000, "7")])
        await uow.timing.add_passings(s2, [Passing(1, 6_000, "8"), Passing(2, 6_500, "9")])
        await uow.timing.set_session_counts(s2.id, 2, 6_000, 6_500, 11)
        await uow.timing.touch_device(device.id, 7_000, 12)
    touched = await store.reads.timing.device(acme, device.deviceid)
    assert touched is not None and (touched.last_seen_ms, touched.seq) == (7_000, 12)
    stats = await store.reads.timing.device_stats(touched)
    assert (stats.sessions, stats.passings) == (2, 2)  # counts come from the sessions' counters

    async with store.unit_of_work() as uow:
        tokens = await uow.timing.delete_device(device.id)
    assert sorted(tokens) == [_token(1), _token(2)]
    assert await store.reads.timing.device(acme, device.deviceid) is None
    assert await store.reads.timing.session(acme, _token(1)) is None
    assert await store.reads.timing.passings_of_device(device.id, None, None, 0, 100) == []
    assert await store.reads.timing.passings_of_session(s2.id, None, None, 0, 100) == []


# sessions -----------------------------------------------------------------------------------------

async def test_sessions_of_a_device(store: Store) -> None:
    acme, rival = await _account(store), await _account(store, "rival")
    device = await _device(store, acme)
    s1 = await _session(store, device, _token(1))
    assert s1.id > 0
    got = await store.reads.timing.session(acme, _token(1))
    assert got == s1 and got.deviceid == device.deviceid and got.active and got.seq == 9
    assert await store.reads.timing.session(rival, _token(1)) is None
    assert await store.reads.timing.active_session(device.id) == s1

    async with store.unit_of_work() as uow:
        await uow.timing.close_session(s1.id, 4_000, 10)
        await uow.timing.close_session(s1.id, 9_999, 99)  # closing a closed session changes nothing
    closed = await store.reads.timing.session(acme, _token(1))
    assert closed is not None and (closed.closed_ms, closed.seq, closed.active) == (4_000, 10, False)
    assert await store.reads.timing.active_session(device.id) is None

    s2 = await _session(store, device, _token(2))
    async with store.unit_of_work() as uow:
        await uow.timing.close_session(s2.id, 5_000, 11)
    s3 = await _session(store, device, _token(3))
    assert [s.token for s in await store.reads.timing.sessions_of_device(device.id)] == [
        _token(3), _token(2), _token(1)]
    assert await store.reads.timing.latest_session(device.id) == s3
    assert (await store.reads.timing.next_session(device.id, s1.id)).token == _token(2)
    assert await store.reads.timing.next_session(device.id, s3.id) is None
    assert await store.reads.timing.active_session(device.id) == s3


async def test_one_active_session_per_device_is_enforced_by_the_schema(store: Store) -> None:
    acme = await _account(store)
    device = await _device(store, acme)
    await _session(store, device, _token(1))
    with pytest.raises(Exception):  # noqa: B017 - each store raises its driver's integrity error
        await _session(store, device, _token(2))
    assert [s.token for s in await store.reads.timing.sessions_of_device(device.id)] == [_token(1)]
    other = await _device(store, acme, "S-2", _token(50))
    await _session(store, other, _token(3))  # another device may have its own active session


async def test_session_tokens_are_unique(store: Store) -> None:
    acme = await _account(store)
    a, b = await _device(store, acme), await _device(store, acme, "S-2", _token(50))
    await _session(store, a, _token(1))
    with pytest.raises(Exception):  # noqa: B017
        await _session(store, b, _token(1))
    assert await store.reads.timing.active_session(b.id) is None


# passings -----------------------------------------------------------------------------------------

async def test_passings_are_unique_per_session_and_number(store: Store) -> None:
    acme = await _account(store)
    device = await _device(store, acme)
    s1 = await _session(store, device, _token(1))
    async with store.unit_of_work() as uow:
        inserted = await uow.timing.add_passings(s1, [Passing(n, 10_000 + n, str(n)) for n in (1, 2, 3)])
    assert inserted == 3
    async with store.unit_of_work() as uow:
        inserted = await uow.timing.add_passings(s1, [Passing(3, 1, "dup"), Passing(4, 20_000, "4", "chip-4",
                                                       "p-4", "41.1", "2.1", "ok", "Europe/Madrid", "F")])
    assert inserted == 1  # 3 was stored before: the first copy wins
    rows = await store.reads.timing.passings_of_session(s1.id, None, None, 0, 100)
    assert [r.passing.num_passing for r in rows] == [1, 2, 3, 4]
    assert rows[2].passing == Passing(3, 10_003, "3")
    assert rows[3].passing == Passing(4, 20_000, "4", "chip-4", "p-4", "41.1", "2.1", "ok", "Europe/Madrid", "F")
    assert {(r.token_session, r.deviceid) for r in rows} == {(_token(1), device.deviceid)}
    assert await store.reads.timing.session_span(s1.id) == (10_001, 20_000)

    async with store.unit_of_work() as uow:
        await uow.timing.set_session_counts(s1.id, 4, 10_001, 20_000, 33)
    got = await store.reads.timing.session(acme, _token(1))
    assert got is not None and (got.passings, got.first_ms, got.last_ms, got.seq) == (4, 10_001, 20_000, 33)

    async with store.unit_of_work() as uow:  # the same numbers in another session are other passings
        await uow.timing.close_session(s1.id, 30_000, 34)
    s2 = await _session(store, device, _token(2))
    async with store.unit_of_work() as uow:
        assert await uow.timing.add_passings(s2, [Passing(1, 40_000, "1")]) == 1
    assert await store.reads.timing.session_span(s2.id) == (40_000, 40_000)


async def test_a_large_batch_with_repeats(store: Store) -> None:
    acme = await _account(store)
    s = await _session(store, await _device(store, acme), _token(1))
    async with store.unit_of_work() as uow:
        assert await uow.timing.add_passings(s, [Passing(n, n, "b") for n in range(0, 3000, 2)]) == 1500
    async with store.unit_of_work() as uow:
        assert await uow.timing.add_passings(s, [Passing(n, n, "b") for n in range(3000)]) == 1500
    rows = await store.reads.timing.passings_of_session(s.id, None, None, 0, 5000)
    assert [r.passing.num_passing for r in rows] == list(range(3000))


async def test_passings_of_a_session_filter_order_and_page(store: Store) -> None:
    acme = await _account(store)
    s = await _session(store, await _device(store, acme), _token(1))
    async with store.unit_of_work() as uow:  # stored out of order, with times unrelated to numbers
        await uow.timing.add_passings(s, [Passing(n, 100_000 - n, str(n)) for n in (5, 1, 9, 3, 7, 2, 8, 4, 6, 10)])

    def nums(rows: list[Any]) -> list[int]:
        return [r.passing.num_passing for r in rows]

    read = store.reads.timing.passings_of_session
    assert nums(await read(s.id, None, None, 0, 100)) == list(range(1, 11))
    assert nums(await read(s.id, 3, 6, 0, 100)) == [3, 4, 5, 6]
    assert nums(await read(s.id, 3, None, 0, 100)) == list(range(3, 11))
    assert nums(await read(s.id, None, 2, 0, 100)) == [1, 2]
    assert nums(await read(s.id, None, None, 0, 4)) == [1, 2, 3, 4]
    assert nums(await read(s.id, None, None, 4, 4)) == [5, 6, 7, 8]
    assert nums(await read(s.id, None, None, 8, 4)) == [9, 10]
    assert nums(await read(s.id, 2, 9, 3, 2)) == [5, 6]
    assert await read(s.id, 11, None, 0, 100) == []

    after = store.reads.timing.passings_after
    assert nums(await after(s.id, 7, None, None, 0, 100)) == [8, 9, 10]
    assert nums(await after(s.id, -1, None, None, 0, 3)) == [1, 2, 3]
    assert nums(await after(s.id, 0, 99_993, 99_996, 0, 100)) == [4, 5, 6, 7]  # ts = 100_000 - n
    assert nums(await after(s.id, 5, 99_993, 99_996, 0, 100)) == [6, 7]
    assert nums(await after(s.id, 2, None, None, 2, 2)) == [5, 6]


async def test_passings_of_a_device_by_time_across_sessions(store: Store) -> None:
    acme = await _account(store)
    device = await _device(store, acme)
    s1 = await _session(store, device, _token(1))
    async with store.unit_of_work() as uow:
        await uow.timing.add_passings(s1, [Passing(1, 300, "a"), Passing(2, 100, "b"), Passing(3, 500, "c")])
        await uow.timing.close_session(s1.id, 600, 10)
    s2 = await _session(store, device, _token(2))
    async with store.unit_of_work() as uow:
        await uow.timing.add_passings(s2, [Passing(2, 300, "d"), Passing(1, 300, "e"), Passing(3, 50, "f")])
    other = await _session(store, await _device(store, acme, "S-2", _token(9)), _token(3))
    async with store.unit_of_work() as uow:
        await uow.timing.add_passings(other, [Passing(1, 200, "x")])

    def seen(rows: list[Any]) -> list[str]:
        return [r.passing.bib for r in rows]

    read = store.reads.timing.passings_of_device
    # by time, then session (s1 before s2), then number
    assert seen(await read(device.id, None, None, 0, 100)) == ["f", "b", "a", "e", "d", "c"]
    assert seen(await read(device.id, 100, 300, 0, 100)) == ["b", "a", "e", "d"]
    assert seen(await read(device.id, 301, None, 0, 100)) == ["c"]
    assert seen(await read(device.id, None, 99, 0, 100)) == ["f"]
    assert seen(await read(device.id, None, None, 2, 2)) == ["a", "e"]
    rows = await read(device.id, 300, 300, 0, 100)
    assert [(r.token_session, r.passing.num_passing) for r in rows] == [(_token(1), 1), (_token(2), 1), (_token(2), 2)]


# units of work ------------------------------------------------------------------------------------

async def test_an_exception_rolls_back_everything_the_unit_of_work_wrote(store: Store) -> None:
    acme = await _account(store)
    device = await _device(store, acme)
    s1 = await _session(store, device, _token(1))
    before = await store.last_seq()

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with store.unit_of_work() as uow:
            await uow.timing.add_passings(s1, [Passing(1, 1, "a"), Passing(2, 2, "b")])
            await uow.timing.set_session_counts(s1.id, 2, 1, 2, 50)
            await uow.timing.close_session(s1.id, 3, 51)
            await uow.timing.insert_device(Device(0, acme, _token(7), "CUSTOM", "X", "S-7", "", None, 1, None, 0))
            await uow.accounts.append_change(acme, "timing/x", 1)
            await uow.accounts.add_key(acme, "never", Access.READ, False, "", 1)
            raise Boom
    assert await store.reads.timing.passings_of_session(s1.id, None, None, 0, 10) == []
    assert await store.reads.timing.session(acme, _token(1)) == s1
    assert await store.reads.timing.device(acme, _token(7)) is None
    assert await store.reads.accounts.key("never") is None
    assert await store.last_seq() == before

    async with store.unit_of_work() as uow:  # the store is usable afterwards
        assert await uow.timing.add_passings(s1, [Passing(1, 1, "a")]) == 1


async def test_reads_see_only_committed_writes(store: Store) -> None:
    acme = await _account(store)
    async with store.unit_of_work() as uow:
        await uow.timing.insert_device(Device(0, acme, _token(7), "CUSTOM", "X", "S-7", "", None, 1, None, 0))
        assert await uow.timing.device(acme, _token(7)) is not None  # the unit of work sees its own writes
        assert await store.reads.timing.device(acme, _token(7)) is None
    assert await store.reads.timing.device(acme, _token(7)) is not None


async def test_an_integrity_error_rolls_back_the_whole_unit_of_work(store: Store) -> None:
    acme = await _account(store)
    device = await _device(store, acme)
    await _session(store, device, _token(1))
    with pytest.raises(Exception):  # noqa: B017
        async with store.unit_of_work() as uow:
            await uow.accounts.append_change(acme, "partial", 1)
            await uow.timing.insert_device(Device(0, acme, _token(8), "CUSTOM", "X", "S-8", "", None, 1, None, 0))
            await uow.timing.insert_session(TimingSession(
                0, acme, device.id, device.deviceid, _token(2), "", 1, None, 0, None, None, 0))
    assert await store.reads.timing.device(acme, _token(8)) is None
    assert "partial" not in [c.topic for c in await store.changes_after(0)]


# a topic's history: versions (ETags) and resumed streams (live/) ------------------------------------

async def test_next_seq_announces_the_seq_of_the_next_change(store: Store) -> None:
    async with store.unit_of_work() as uow:
        announced = await uow.accounts.next_seq()
        assert await uow.accounts.append_change(1, "a/1", 1) == announced
        assert await uow.accounts.next_seq() == announced + 1
        assert await uow.accounts.append_change(1, "a/2", 1) == announced + 1
    async with store.unit_of_work() as uow:
        assert await uow.accounts.next_seq() == announced + 2


async def test_changes_keep_their_data_and_are_read_per_topic_and_prefix(store: Store) -> None:
    async with store.unit_of_work() as uow:
        s1 = await uow.accounts.append_change(1, "timing/device/A", 1, b'{"v":1}')
        s2 = await uow.accounts.append_change(1, "timing/session/T", 1)
        s3 = await uow.accounts.append_change(2, "timing/device/A", 1, b"x")  # another account
        s4 = await uow.accounts.append_change(1, "timing/device/B", 1, b'{"v":2}')
        s5 = await uow.accounts.append_change(1, "timing/device/A", 1, b'{"v":3}')
        s6 = await uow.accounts.append_change(1, "timing/devices", 1)  # not under "timing/device/"
    accounts = store.reads.accounts
    assert [c.data for c in await store.changes_after(0)] == [b'{"v":1}', None, b"x", b'{"v":2}', b'{"v":3}', None]
    assert await accounts.last_change_seq(1, "timing/device/A") == s5
    assert await accounts.last_change_seq(2, "timing/device/A") == s3
    assert await accounts.last_change_seq(1, "timing/device/") == s5
    assert await accounts.last_change_seq(1, "timing/") == s6
    assert await accounts.last_change_seq(1, "timing/session/T") == s2
    assert await accounts.last_change_seq(1, "nothing/here") == 0
    assert await accounts.last_change_seq(3, "timing/") == 0
    assert await accounts.changes_of(1, "timing/device/A", 0) == [
        Change(s1, 1, "timing/device/A", b'{"v":1}'), Change(s5, 1, "timing/device/A", b'{"v":3}')]
    assert [c.seq for c in await accounts.changes_of(1, "timing/device/", 0)] == [s1, s4, s5]
    assert [c.seq for c in await accounts.changes_of(1, "timing/device/", s1)] == [s4, s5]
    assert [c.seq for c in await accounts.changes_of(1, "timing/device/", 0, limit=2)] == [s1, s4]
    assert await accounts.changes_of(1, "timing/device/A", s5) == []
    assert await accounts.change_at(1, "timing/device/A", s4) == Change(s1, 1, "timing/device/A", b'{"v":1}')
    assert await accounts.change_at(1, "timing/device/A", s5) == Change(s5, 1, "timing/device/A", b'{"v":3}')
    assert await accounts.change_at(1, "timing/device/A", s1 - 1) is None
    assert await accounts.change_at(2, "timing/device/B", s6) is None


async def test_pruning_drops_the_snapshots_of_a_seq_range_and_keeps_the_rows(store: Store) -> None:
    async with store.unit_of_work() as uow:
        seqs = [await uow.accounts.append_change(1, f"paging/1/default/session/{n}", 1, b"s%d" % n)
                for n in range(6)]
        await uow.accounts.append_change(1, "timing/session/T", 1)  # no snapshot
    accounts = store.reads.accounts
    async with store.unit_of_work() as uow:
        assert await uow.accounts.prune_data(seqs[0], seqs[3]) == 3  # (after, upto]
        assert await uow.accounts.prune_data(seqs[0], seqs[3]) == 0  # idempotent
    assert [c.data for c in await store.changes_after(0)] == [b"s0", None, None, None, b"s4", b"s5", None]
    assert await accounts.last_change_seq(1, "paging/1/default/session/2") == seqs[2]  # the versions stay
    assert [c.seq for c in await accounts.changes_of(1, "paging/1/default/", 0)] == seqs


async def test_passings_carry_the_seq_of_the_change_that_stored_them(store: Store) -> None:
    device = await _device(store, await _account(store))
    session = await _session(store, device, _token(1))
    async with store.unit_of_work() as uow:
        assert await uow.timing.add_passings(session, [Passing(n, 1_000 + n, str(n)) for n in (1, 2, 3, 10)], 50) == 4
    async with store.unit_of_work() as uow:  # 3 is a repeat: it keeps the seq of the batch that stored it
        assert await uow.timing.add_passings(session, [Passing(n, 1_000 + n, str(n)) for n in (3, 4, 5)], 51) == 2
    timing = store.reads.timing
    assert [p.passing.num_passing for p in await timing.passings_of_change(session.id, 1, 10, 50)] == [1, 2, 3, 10]
    assert [p.passing.num_passing for p in await timing.passings_of_change(session.id, 3, 5, 51)] == [4, 5]
    assert [p.passing.num_passing for p in await timing.passings_of_change(session.id, 2, 3, 50)] == [2, 3]
    assert await timing.passings_of_change(session.id, 1, 10, 52) == []
    found = await timing.passings_of_change(session.id, 4, 4, 51)
    assert found[0].token_session == session.token and found[0].deviceid == device.deviceid


# text ---------------------------------------------------------------------------------------------

async def test_a_nul_in_any_text_is_invalid_input_on_every_engine(store: Store) -> None:
    """PostgreSQL cannot store U+0000 in text, SQLite could: both refuse it before the statement runs."""
    acme = await _account(store)
    with pytest.raises(InvalidInput, match="U\\+0000"):
        await _device(store, acme, "S-\x00", _token(1))
    device = await _device(store, acme)
    session = await _session(store, device, _token(2))
    with pytest.raises(InvalidInput):
        async with store.unit_of_work() as uow:
            await uow.timing.add_passings(session, [Passing(1, 1_000, "7"), Passing(2, 1_001, "8", chip="a\x00b")])
    with pytest.raises(InvalidInput):
        await store.reads.timing.session(acme, "T\x00")
    assert await store.reads.timing.passings_of_session(session.id, None, None, 0, 10) == []
    async with store.unit_of_work() as uow:  # a backslash-u0000 text is just text
        assert await uow.timing.add_passings(session, [Passing(3, 1_002, "\\u0000")]) == 1
    assert [p.passing.bib for p in await store.reads.timing.passings_of_session(session.id, None, None, 0, 10)] == [
        "\\u0000"]


async def test_every_page_at_every_offset_is_the_slice_of_the_full_order(store: Store) -> None:
    """Pages are sought by key (not skipped with OFFSET): each must still be exactly rows
    ``offset .. offset + limit`` of the order, for every window, ties in time across sessions included."""
    rng = random.Random(7)
    acme = await _account(store)
    device = await _device(store, acme)
    stored: list[tuple[int, int, int, str]] = []  # (ts_ms, session id, number, bib)
    sessions = []
    for k in range(3):
        s = await _session(store, device, _token(k + 1))
        sessions.append(s)
        nums = rng.sample(range(60), 20)  # gaps, stored out of order, times tied across sessions
        batch = [Passing(n, 1_000 + rng.randrange(12) * 10, f"{k}-{n}") for n in nums]
        async with store.unit_of_work() as uow:
            assert await uow.timing.add_passings(s, batch) == 20
            if k < 2:
                await uow.timing.close_session(s.id, 9_000, 1)
        stored += [(p.ts_ms, s.id, p.num_passing, p.bib) for p in batch]
    other = await _session(store, await _device(store, acme, "S-2", _token(9)), _token(8))
    async with store.unit_of_work() as uow:
        await uow.timing.add_passings(other, [Passing(n, 1_000, "x") for n in range(10)])
    timing = store.reads.timing

    def bibs(rows: list[Any]) -> list[str]:
        return [r.passing.bib for r in rows]

    for low, high in [(None, None), (1_030, None), (None, 1_050), (1_020, 1_020), (2_000, None)]:
        expected = [b for ts, _, _, b in sorted(stored) if (low is None or ts >= low) and (high is None or ts <= high)]
        for limit in (1, 4, 7):
            for offset in range(len(expected) + 3):
                got = bibs(await timing.passings_of_device(device.id, low, high, offset, limit))
                assert got == expected[offset:offset + limit], (low, high, offset, limit)
    s = sessions[1]
    mine = sorted((n, ts, b) for ts, sid, n, b in stored if sid == s.id)
    for first, last in [(None, None), (10, None), (None, 30), (15, 15), (61, None)]:
        expected = [b for n, _, b in mine if (first is None or n >= first) and (last is None or n <= last)]
        for limit in (1, 3, 8):
            for offset in range(len(expected) + 3):
                got = bibs(await timing.passings_of_session(s.id, first, last, offset, limit))
                assert got == expected[offset:offset + limit], (first, last, offset, limit)
    for after, low, high in [(-1, None, None), (20, None, None), (5, 1_030, 1_080), (59, None, None)]:
        expected = [b for n, ts, b in mine
                    if n > after and (low is None or ts >= low) and (high is None or ts <= high)]
        for limit in (1, 3, 8):
            for offset in range(len(expected) + 3):
                got = bibs(await timing.passings_after(s.id, after, low, high, offset, limit))
                assert got == expected[offset:offset + limit], (after, low, high, offset, limit)


async def test_device_pages_stay_the_slice_of_the_order_while_passings_come_and_go(store: Store) -> None:
    """Deep pages of a device start from boundaries kept between reads where the store keeps them
    (SQLite, boundaries.py): reads in order, polls of the last page and jumps, interleaved with
    appends, older passings, repeats, a rolled-back batch and device deletes (the next device may
    take the deleted one's id), must each still be rows ``offset .. offset + limit`` of the order."""
    rng = random.Random(11)
    acme = await _account(store)
    await _device(store, acme, "S-0", _token(90))  # a neighbour with its own passings, never paged
    stored: list[tuple[int, int, int, str]] = []  # (ts_ms, session id, number, bib) of the paged device
    generation = 0
    timing = store.reads.timing

    async def fresh_device() -> tuple[Device, list[TimingSession]]:
        nonlocal generation
        generation += 1
        device = await _device(store, acme, f"S-{generation}", _token(100 + generation))
        first = await _session(store, device, _token(200 + 2 * generation))
        async with store.unit_of_work() as uow:
            await uow.timing.close_session(first.id, 9_000, 1)
        return device, [first, await _session(store, device, _token(201 + 2 * generation))]

    async def add(session: TimingSession, passings: list[Passing]) -> None:
        async with store.unit_of_work() as uow:
            await uow.timing.add_passings(session, passings)
        have = {(sid, n) for _, sid, n, _ in stored}
        for p in passings:
            if (session.id, p.num_passing) not in have:
                have.add((session.id, p.num_passing))
                stored.append((p.ts_ms, session.id, p.num_passing, p.bib))

    async def check(low: int | None, high: int | None, offset: int, limit: int) -> None:
        expected = [b for ts, _, _, b in sorted(stored) if (low is None or ts >= low) and (high is None or ts <= high)]
        got = [r.passing.bib for r in await timing.passings_of_device(device.id, low, high, offset, limit)]
        assert got == expected[offset:offset + limit], (low, high, offset, limit, len(expected))

    device, sessions = await fresh_device()
    number = 0
    windows = [(None, None), (1_100, None), (None, 1_500), (1_200, 1_400)]
    for step in range(120):
        op = rng.random()
        session = rng.choice(sessions)
        if op < 0.3:  # appends: later than everything stored, some tied across sessions
            top = max((ts for ts, *_ in stored), default=1_000)
            batch = [Passing(number + i, top + rng.randrange(3) * 10, f"{generation}-a{number + i}") for i in range(4)]
            number += 4
            await add(session, batch)
        elif op < 0.45:  # passings older than stored ones, and a repeat of a stored number
            batch = [Passing(number + i, 1_000 + rng.randrange(60) * 10, f"{generation}-o{number + i}")
                     for i in range(3)]
            number += 3
            mine = [n for _, sid, n, _ in stored if sid == session.id]
            if mine:
                batch.append(Passing(rng.choice(mine), 1_000, "a repeat is never stored"))
            await add(session, batch)
        elif op < 0.5:  # a batch that rolls back changes nothing
            with pytest.raises(RuntimeError):
                async with store.unit_of_work() as uow:
                    await uow.timing.add_passings(session, [Passing(10_000 + step, 1_001, "rolled back")])
                    raise RuntimeError("abort")
        elif op < 0.6:  # an older passing committed while a reader pages: its pages before the commit are
            # the old order's, its next ones the new order's
            older = Passing(number, 1_000 + rng.randrange(60) * 10, f"{generation}-r{number}")
            number += 1
            async with store.unit_of_work() as uow:
                await uow.timing.add_passings(session, [older])
                for offset in range(0, len(stored) + 3, 3):
                    await check(None, None, offset, 3)
            stored.append((older.ts_ms, session.id, older.num_passing, older.bib))
        elif op < 0.63:  # the device goes, with every passing; the next one may reuse its id
            async with store.unit_of_work() as uow:
                await uow.timing.delete_device(device.id)
            stored.clear()
            device, sessions = await fresh_device()
        low, high = rng.choice(windows)
        total = sum(1 for ts, *_ in stored if (low is None or ts >= low) and (high is None or ts <= high))
        limit = rng.choice((1, 3, 5))
        for offset in range(0, total + limit, limit):  # in order, past the end included
            await check(low, high, offset, limit)
        last = max(0, total - 1) // limit * limit
        await check(low, high, last, limit)  # the last page polled again
        for _ in range(3):  # jumps
            await check(low, high, rng.randrange(total + 3), limit)


async def test_share_links_are_found_by_hash_listed_per_object_and_revoked(store: Store) -> None:
    from sessionhub.core.shares import Kind

    acme, rival = await _account(store), await _account(store, "rival")
    async with store.unit_of_work() as uow:
        a = await uow.shares.insert(acme, "h-a", Kind.PARKING, "42", 10)
        b = await uow.shares.insert(acme, "h-b", Kind.PARKING, "42", 11)
        c = await uow.shares.insert(rival, "h-c", Kind.PARKING, "42", 12)
        t = await uow.shares.insert(acme, "h-t", Kind.TIMING, "tok/7", 13)
    assert 0 < a.id < b.id < c.id < t.id
    found = await store.reads.shares.live("h-a")
    assert found == a
    assert (found.kind, found.ref, found.account_id, found.revoked_ms) == (Kind.PARKING, "42", acme, None)
    assert await store.reads.shares.live("nope") is None
    assert [s.id for s in await store.reads.shares.of_object(acme, Kind.PARKING, "42", 10)] == [b.id, a.id]
    assert [s.id for s in await store.reads.shares.of_object(acme, Kind.PARKING, "42", 1)] == [b.id]
    assert await store.reads.shares.live_of_object(acme, Kind.PARKING, "42") == 2
    assert [s.id for s in await store.reads.shares.of_object(acme, Kind.TIMING, "tok/7", 10)] == [t.id]
    async with store.unit_of_work() as uow:
        assert await uow.shares.revoke(acme, c.id, 20) is False  # rival's
        assert await uow.shares.revoke(acme, a.id, 20) is True
        assert await uow.shares.revoke(acme, a.id, 21) is False
    assert await store.reads.shares.live("h-a") is None and await store.reads.shares.live_by_id(a.id) is None
    assert await store.reads.shares.live_by_id(b.id) == b
    assert [s.revoked_ms for s in await store.reads.shares.of_object(acme, Kind.PARKING, "42", 10)] == [None, 20]
    assert await store.reads.shares.live_of_object(acme, Kind.PARKING, "42") == 1
    with pytest.raises(Exception):  # noqa: B017 - each store raises its driver's integrity error
        async with store.unit_of_work() as uow:
            await uow.shares.insert(acme, "h-b", Kind.PAGING, "1/1", 30)
