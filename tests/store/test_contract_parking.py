"""The store contract, parking: locations, sessions, barcodes and server secrets, on every engine
(the ``store`` fixture of tests/store/conftest.py; see test_contract.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sessionhub.core.parking import Barcode, Location, ParkingSession

Store = Any

USER_A = "00000000-0000-4000-8000-00000000000a"
USER_B = "00000000-0000-4000-8000-00000000000b"
USER_C = "00000000-0000-4000-8000-00000000000c"


async def _account(store: Store, name: str = "acme") -> int:
    async with store.unit_of_work() as uow:
        account_id: int = await uow.accounts.ensure_account(name, False, 1_000)
    return account_id


async def _location(store: Store, account_id: int, name: str = "Lot A") -> Location:
    async with store.unit_of_work() as uow:
        loc: Location = await uow.parking.insert_location(Location(0, account_id, name, 300, "EUR", 15, 2_000, 5, 3))
    return loc


def _session(loc: Location, user: str, barcode: str | None = None, start: int | None = 10_000) -> ParkingSession:
    return ParkingSession(0, loc.account_id, loc.id, user, barcode, start, None, None, None, 9_000, 4)


async def test_locations_are_per_account_by_id_and_name(store: Store) -> None:
    acme, rival = await _account(store), await _account(store, "rival")
    a = await _location(store, acme)
    b = await _location(store, acme, "Lot B")
    a2 = await _location(store, acme)  # names need not be unique: the first one wins a lookup by name
    r = await _location(store, rival)
    assert 0 < a.id < b.id < a2.id < r.id
    parking = store.reads.parking
    assert await parking.location(acme, a.id) == a
    assert (a.rate_per_hour, a.currency, a.increment_minutes, a.daily_max, a.created_ms, a.seq) == (
        300, "EUR", 15, 2_000, 5, 3)
    assert await parking.location(rival, a.id) is None
    assert await parking.location_by_name(acme, "Lot A") == a
    assert await parking.location_by_name(rival, "Lot B") is None
    assert await parking.locations(acme) == [a, b, a2]
    assert await parking.locations(rival) == [r]
    async with store.unit_of_work() as uow:
        await uow.parking.set_location_seq(b.id, 77)
    assert await parking.location(acme, b.id) == replace(b, seq=77)


async def test_sessions_are_inserted_updated_and_listed(store: Store) -> None:
    acme, rival = await _account(store), await _account(store, "rival")
    loc, other = await _location(store, acme), await _location(store, acme, "Lot B")
    async with store.unit_of_work() as uow:
        s1 = await uow.parking.insert_session(_session(loc, USER_A))
        s2 = await uow.parking.insert_session(_session(other, USER_B, "1" * 20, None))
        s3 = await uow.parking.insert_session(_session(loc, USER_C, start=None))
    assert 0 < s1.id < s2.id < s3.id
    parking = store.reads.parking
    assert await parking.session(acme, s1.id) == s1
    assert await parking.session(rival, s1.id) is None
    assert await parking.sessions_of_location(loc.id, 0, 10) == [s1, s3]
    assert await parking.sessions_of_location(loc.id, s1.id, 10) == [s3]
    assert await parking.sessions_of_location(loc.id, 0, 1) == [s1]
    assert await parking.sessions_of_user(acme, USER_B, 0, 10) == [s2]
    assert await parking.sessions_of_user(acme, USER_B, s2.id, 10) == []
    assert await parking.sessions_of_user(rival, USER_B, 0, 10) == []
    assert await parking.open_of_barcode(acme, "1" * 20) == s2
    assert await parking.open_of_barcode(rival, "1" * 20) is None

    ended = replace(s1, end_ms=20_000, cost=150, currency="EUR", seq=12)
    async with store.unit_of_work() as uow:
        assert await uow.parking.active_of_user(acme, USER_A) == s1
        await uow.parking.update_session(ended)
    assert await parking.session(acme, s1.id) == ended
    assert await parking.active_of_user(acme, USER_A) is None
    async with store.unit_of_work() as uow:
        await uow.parking.update_session(replace(s2, end_ms=30_000, seq=13))
    assert await parking.open_of_barcode(acme, "1" * 20) is None
    async with store.unit_of_work() as uow:  # USER_A may park again
        s4 = await uow.parking.insert_session(_session(other, USER_A))
    assert await parking.sessions_of_user(acme, USER_A, 0, 10) == [ended, s4]
    assert await parking.sessions_of_user(acme, USER_A, s1.id, 10) == [s4]
    assert await parking.sessions_of_user(acme, USER_A, 0, 1) == [ended]


async def test_one_active_session_per_user_is_enforced_by_the_schema(store: Store) -> None:
    acme = await _account(store)
    loc = await _location(store, acme)
    async with store.unit_of_work() as uow:
        first = await uow.parking.insert_session(_session(loc, USER_A))
    with pytest.raises(Exception):  # noqa: B017 - whatever the service checked
        async with store.unit_of_work() as uow:
            await uow.parking.insert_session(_session(loc, USER_A))
    assert await store.reads.parking.sessions_of_user(acme, USER_A, 0, 10) == [first]


async def test_barcodes_are_unique_across_accounts(store: Store) -> None:
    acme, rival = await _account(store), await _account(store, "rival")
    loc = await _location(store, acme)
    code, pass_code = "12345678901234567890", "09876543210987654321"
    async with store.unit_of_work() as uow:
        s = await uow.parking.insert_session(_session(loc, USER_A, code, None))
        await uow.parking.insert_barcode(Barcode(code, acme, USER_A, loc.id, s.id, 9_000))
        await uow.parking.insert_barcode(Barcode(pass_code, acme, USER_B, None, None, 9_500))
    parking = store.reads.parking
    assert await parking.barcode(acme, code) == Barcode(code, acme, USER_A, loc.id, s.id, 9_000)
    assert await parking.barcode(acme, pass_code) == Barcode(pass_code, acme, USER_B, None, None, 9_500)
    assert await parking.barcode(rival, code) is None
    assert await parking.barcode_exists(code) and await parking.barcode_exists(pass_code)
    assert not await parking.barcode_exists("1" * 20)
    with pytest.raises(Exception):  # noqa: B017 - the primary key refuses it
        async with store.unit_of_work() as uow:
            await uow.parking.insert_barcode(Barcode(code, rival, USER_A, None, None, 1))
    assert await parking.barcode(rival, code) is None


async def test_the_first_secret_written_wins(store: Store) -> None:
    assert await store.reads.parking.secret("jwt") is None
    async with store.unit_of_work() as uow:
        assert await uow.parking.ensure_secret("jwt", "first") == "first"
    async with store.unit_of_work() as uow:
        assert await uow.parking.ensure_secret("jwt", "second") == "first"
        assert await uow.parking.ensure_secret("other", "x") == "x"
    assert await store.reads.parking.secret("jwt") == "first"
