"""Admin keys through the one store (SQLite and PostgreSQL): an admin manages its own account's keys
and locations, nothing of another account's, and a key without the flag manages nothing."""

from __future__ import annotations

import pytest

from sessionhub.core.errors import Forbidden, InvalidInput, LocationNotFound, NotFound
from sessionhub.runtime import Runtime
from tests.conftest import Keys


async def test_an_admin_key_issues_lists_and_revokes_its_accounts_keys(runtime: Runtime, keys: Keys) -> None:
    acc = runtime.access
    admin_raw = await acc.create_key("acme", "READ_WRITE", admin=True, alias="boss")
    admin = await acc.authenticate(admin_raw)
    assert admin is not None and admin.admin
    assert not (await acc.authenticate(keys.rw)).admin  # type: ignore[union-attr]
    listed = await acc.keys_of(admin)
    assert {k.account for k in listed} == {"acme"} and len(listed) == 5  # rw, read, write, unbind, boss
    assert [k.admin for k in listed if k.alias == "boss"] == [True]
    assert [(k.alias, k.admin) for k in await acc.list_keys() if k.admin] == [("boss", True)]

    fresh = await acc.issue_key(admin, "READ", alias="door")
    door = await acc.authenticate(fresh)
    assert door is not None and door.account_id == admin.account_id and not door.admin
    await acc.revoke_key_id(admin, door.id)
    assert await acc.authenticate(fresh) is None
    with pytest.raises(NotFound):  # revoked already
        await acc.revoke_key_id(admin, door.id)
    rival = await acc.authenticate(keys.rival)
    assert rival is not None
    with pytest.raises(NotFound):  # another account's key looks like no key
        await acc.revoke_key_id(admin, rival.id)
    assert await acc.authenticate(keys.rival) is not None
    with pytest.raises(InvalidInput):
        await acc.issue_key(admin, "READ", admin=True)


async def test_keys_without_the_flag_manage_nothing(runtime: Runtime, keys: Keys) -> None:
    for raw in (keys.rw, keys.unbind, keys.read):
        k = await runtime.access.authenticate(raw)
        with pytest.raises(Forbidden):
            await runtime.access.keys_of(k)
        with pytest.raises(Forbidden):
            await runtime.access.issue_key(k, "READ")
        with pytest.raises(Forbidden):
            await runtime.parking.add_location(k, "Lot", 100, "EUR")


async def test_an_admin_creates_locations_and_changes_their_rates(runtime: Runtime, keys: Keys) -> None:
    admin = await runtime.access.authenticate(await runtime.access.create_key("acme", "READ_WRITE", admin=True))
    loc_id = await runtime.parking.add_location(admin, "North", 300, "EUR", 15, 2000, gated=True)
    rw = await runtime.access.authenticate(keys.rw)
    loc = await runtime.parking.location(rw, loc_id)
    assert (loc.name, loc.rate_per_hour, loc.currency, loc.gated) == ("North", 300, "EUR", True)
    changed = await runtime.parking.set_rates(admin, loc_id, 450, 30, None)
    again = await runtime.parking.location(rw, loc_id)
    assert (again.rate_per_hour, again.increment_minutes, again.daily_max, again.currency) == (450, 30, None, "EUR")
    assert again.seq == changed.seq > loc.seq  # a change of the location: its boards and ETags move
    with pytest.raises(InvalidInput) as caught:
        await runtime.parking.set_rates(admin, loc_id, 100, 7, None)  # 7 does not divide a day
    assert caught.value.field == "increment_minutes"
    rival_admin = await runtime.access.authenticate(await runtime.access.create_key("rival", "READ_WRITE",
                                                                                    admin=True))
    with pytest.raises(LocationNotFound):
        await runtime.parking.set_rates(rival_admin, loc_id, 1, 15, None)
    assert (await runtime.parking.location(rw, loc_id)).rate_per_hour == 450
