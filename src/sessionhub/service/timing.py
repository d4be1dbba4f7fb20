"""Race timing use cases: one method per RUFUS operation.

Each write is load -> ``core.timing`` decides -> write inside one unit of work, appending one
change per touched object -> commit -> publish. Each method first checks the key's access type
(``core.access.authorize``); objects of other accounts are answered exactly as missing ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sessionhub.core import timing
from sessionhub.core.access import Key, Operation, authorize
from sessionhub.core.changes import Change, device_topic, timing_session_topic
from sessionhub.core.errors import (
    AlreadyExists,
    DeviceNotFound,
    InvalidInput,
    SessionNotFound,
    SessionsNotFound,
)
from sessionhub.core.timing import Device, DeviceStats, Passing, StoredPassing, Telemetry, TimingSession
from sessionhub.service import snapshots
from sessionhub.service.events import EventsService
from sessionhub.service.ports import Clock, Ids, Publisher, Repos, Store

ID_BYTES = 32
"""deviceid and token_session are 64 uppercase hex characters, as every RUFUS example shows."""


@dataclass(frozen=True, slots=True)
class Resumed:
    """What the resumable device feed (``device2``) read: a session and its next passings."""

    device: Device
    session: TimingSession
    resumed_from: int
    passings: list[StoredPassing]


@dataclass(frozen=True, slots=True)
class Recorded:
    inserted: int
    duplicates: int


_SESSION_TOPIC = timing_session_topic("")
_MAX_CACHED = 100_000


class TimingService:
    def __init__(
        self, store: Store, live: Publisher, clock: Clock, ids: Ids, events: EventsService | None = None
    ) -> None:
        """``events`` links the passings read to the participants of the devices' events."""
        self._store, self._live, self._clock, self._ids = store, live, clock, ids
        self._events = events
        self._bodies: dict[str, tuple[int, bytes]] = {}

    def on_change(self, change: Change) -> None:
        """Change-feed hook: drop the cached body of a session that changed."""
        if change.topic.startswith(_SESSION_TOPIC):
            self._bodies.pop(change.topic[len(_SESSION_TOPIC):], None)

    async def _device(self, repos: Repos, key: Key, deviceid: str) -> Device:
        device = await repos.timing.device(key.account_id, deviceid)
        if device is None:
            raise DeviceNotFound("Device not found", deviceid)
        return device

    # devices ----------------------------------------------------------------------------------

    async def bind_device(
        self, key: Key | None, *, model: str, serial_number: str, type: str | None, alias: str | None,
        firmware: str | None,
    ) -> str:
        """Bind a device to the key's account and return its new deviceid.

        Raises:
            AlreadyExists: the account already has a device with this serial number (its deviceid
                is the error's ``ident``, so a client that treats the conflict as success can go on).
        """
        key = authorize(key, Operation.WRITE)
        for name, value in (("model", model), ("serial_number", serial_number)):
            if not value.strip():
                raise InvalidInput(f"{name} must not be empty", name)
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            existing = await uow.timing.device_by_serial(key.account_id, serial_number)
            if existing is not None:
                raise AlreadyExists("Device already binded", existing.deviceid)
            deviceid = self._ids.hex_token(ID_BYTES)
            seq = await uow.accounts.append_change(key.account_id, device_topic(deviceid), now)
            await uow.timing.insert_device(Device(
                0, key.account_id, deviceid, type or "CUSTOM", model, serial_number, alias or "", firmware, now,
                None, seq,
            ))
        await self._live.catch_up()
        return deviceid

    async def import_device(
        self, account: str, deviceid: str, *, model: str, serial_number: str, type: str | None = None,
        alias: str | None = None, firmware: str | None = None,
    ) -> str:
        """Bind a device under the deviceid it already has (moving off RUFUS Cloud: a reader keeps the
        id it stores). An operator's call (CLI); returns the deviceid as answered (upper case).

        Raises:
            InvalidInput: a deviceid that is not 64 hex characters; an empty or too long field.
            AlreadyExists: the account has this deviceid or this serial number already.
        """
        if not account.strip():
            raise InvalidInput("account name must not be empty", "account")
        deviceid = timing.parse_id(deviceid, "deviceid")
        for name, value in (("model", model), ("serial_number", serial_number), ("type", type or "x"),
                            ("alias", alias or ""), ("firmware", firmware or "")):
            if (name in ("model", "serial_number", "type") and not value.strip()) or len(value) > 256:
                raise InvalidInput(f"{name} must be 1 to 256 characters", name)
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            account_id = await uow.accounts.ensure_account(account, False, now)
            for existing in (await uow.timing.device(account_id, deviceid),
                             await uow.timing.device_by_serial(account_id, serial_number)):
                if existing is not None:
                    raise AlreadyExists("Device already binded", existing.deviceid)
            seq = await uow.accounts.append_change(account_id, device_topic(deviceid), now)
            await uow.timing.insert_device(Device(
                0, account_id, deviceid, type or "CUSTOM", model, serial_number, alias or "", firmware, now, None, seq,
            ))
        await self._live.catch_up()
        return deviceid

    async def unbind_device(self, key: Key | None, deviceid: str) -> None:
        """Delete a device with all its sessions and passings (needs the unbind flag)."""
        key = authorize(key, Operation.DELETE)
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            device = await self._device(uow, key, deviceid)
            for token in await uow.timing.delete_device(device.id):
                await uow.accounts.append_change(key.account_id, timing_session_topic(token), now)
            await uow.accounts.append_change(key.account_id, device_topic(deviceid), now)
        await self._live.catch_up()

    async def report_telemetry(self, key: Key | None, deviceid: str, report: Telemetry) -> Telemetry:
        """Store a device's health report as its latest (RUFUS §8: WRITE or higher).

        Raises:
            DeviceNotFound: no such device for this account.
            StaleTelemetry: the report is timed at or before the stored one.
        """
        key = authorize(key, Operation.WRITE)
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            device = await self._device(uow, key, deviceid)
            report = timing.check_telemetry(device, report, now)
            seq = await uow.accounts.append_change(key.account_id, device_topic(deviceid), now)
            await uow.timing.set_telemetry(device.id, report, seq)
        await self._live.catch_up()
        return report

    async def device(self, key: Key | None, deviceid: str) -> DeviceStats:
        key = authorize(key, Operation.READ)
        reads = self._store.reads
        return await reads.timing.device_stats(await self._device(reads, key, deviceid))

    async def devices(
        self, key: Key | None, page: int | None, limit: int | None
    ) -> tuple[list[DeviceStats], int, int, int]:
        """A page of the account's devices: (devices, total, page, limit)."""
        key = authorize(key, Operation.READ)
        size = timing.PAGE_SIZE if limit is None else limit
        offset, size = timing.page_window(page, size)
        found, total = await self._store.reads.timing.devices(key.account_id, offset, size)
        return found, total, page or 1, size

    # sessions ---------------------------------------------------------------------------------

    async def open_session(self, key: Key | None, deviceid: str, alias: str | None) -> str:
        """Open a session on a device, closing the device's active one; return its token."""
        key = authorize(key, Operation.WRITE)
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            device = await self._device(uow, key, deviceid)
            active = await uow.timing.active_session(device.id)
            if active is not None:
                closed = snapshots.timing(replace(active, closed_ms=now))
                seq = await uow.accounts.append_change(key.account_id, timing_session_topic(active.token), now, closed)
                await uow.timing.close_session(active.id, now, seq)
            session = timing.new_session(device, alias or "", self._ids.hex_token(ID_BYTES), now)
            seq = await uow.accounts.append_change(key.account_id, timing_session_topic(session.token), now,
                                                   snapshots.timing(session))
            session = await uow.timing.insert_session(timing.replace_seq(session, seq))
            seq = await uow.accounts.append_change(key.account_id, device_topic(deviceid), now,
                                                   snapshots.timing(session))
            await uow.timing.touch_device(device.id, now, seq)
        await self._live.catch_up()
        return session.token

    async def close_session(self, key: Key | None, token: str) -> None:
        """Close a session. Closing a closed session succeeds and changes nothing."""
        key = authorize(key, Operation.WRITE)
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            session = await uow.timing.session(key.account_id, token)
            if session is None:
                raise SessionNotFound("Session not found", token)
            if not session.active:
                return
            closed = snapshots.timing(replace(session, closed_ms=now))
            seq = await uow.accounts.append_change(key.account_id, timing_session_topic(token), now, closed)
            await uow.timing.close_session(session.id, now, seq)
            seq = await uow.accounts.append_change(key.account_id, device_topic(session.deviceid), now, closed)
            await uow.timing.touch_device(session.device_id, now, seq)
        await self._live.catch_up()

    async def session(self, key: Key | None, token: str) -> TimingSession:
        key = authorize(key, Operation.READ)
        session = await self._store.reads.timing.session(key.account_id, token)
        if session is None:
            raise SessionNotFound("Session not found", token)
        return session

    async def session_body(self, key: Key | None, token: str, render: Callable[[TimingSession], bytes]) -> bytes:
        """``render(session)``, served from memory until the session changes (the hot poll path).

        ``render`` must be the same function on every call: the cache holds its output.
        """
        key = authorize(key, Operation.READ)
        hit = self._bodies.get(token)
        if hit is not None and hit[0] == key.account_id:
            return hit[1]
        published = self._live.last_seq
        body = render(await self.session(key, token))
        if self._live.last_seq == published:  # no change slipped in while we read: safe to keep
            if len(self._bodies) >= _MAX_CACHED:
                self._bodies.clear()
            self._bodies[token] = (key.account_id, body)
        return body

    async def sessions_of_device(self, key: Key | None, deviceid: str) -> list[TimingSession]:
        """A device's sessions, newest first. Raises SessionsNotFound for none (or no such device)."""
        key = authorize(key, Operation.READ)
        reads = self._store.reads
        device = await reads.timing.device(key.account_id, deviceid)
        sessions = [] if device is None else await reads.timing.sessions_of_device(device.id)
        if not sessions:
            raise SessionsNotFound("Sessions not found", deviceid)
        return sessions

    async def active_session(self, key: Key | None, deviceid: str) -> TimingSession:
        key = authorize(key, Operation.READ)
        reads = self._store.reads
        device = await reads.timing.device(key.account_id, deviceid)
        active = None if device is None else await reads.timing.active_session(device.id)
        if active is None:
            raise SessionsNotFound("Sessions not found", deviceid)
        return active

    # passings ---------------------------------------------------------------------------------

    async def record_passings(self, key: Key | None, token: str, passings: Sequence[Passing]) -> Recorded:
        """Store a batch into an active session; repeats of a stored or batched number are counted.

        A return means the batch is committed durably.
        """
        key = authorize(key, Operation.WRITE)
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            session = await uow.timing.session(key.account_id, token)
            batch = timing.prepare_batch(session, token, passings)
            assert session is not None  # prepare_batch raised otherwise
            seq = await uow.accounts.next_seq()  # the passings carry the seq of the change that records them
            inserted = await uow.timing.add_passings(session, batch.passings, seq)
            snapshot = None
            if inserted:
                first: int | None
                last: int | None
                if inserted == len(batch.passings):
                    first = batch.first_ms if session.first_ms is None else min(session.first_ms, batch.first_ms)
                    last = batch.last_ms if session.last_ms is None else max(session.last_ms, batch.last_ms)
                else:  # some numbers were stored before: their times must not count twice
                    first, last = await uow.timing.session_span(session.id)
                numbers = [p.num_passing for p in batch.passings]
                snapshot = snapshots.timing(replace(session, passings=session.passings + inserted, first_ms=first,
                                                    last_ms=last), min(numbers), max(numbers), seq)
                if await uow.accounts.append_change(key.account_id, timing_session_topic(token), now, snapshot) != seq:
                    raise RuntimeError("the change log handed out another seq than next_seq announced")
                await uow.timing.set_session_counts(session.id, session.passings + inserted, first, last, seq)
            seq = await uow.accounts.append_change(key.account_id, device_topic(session.deviceid), now, snapshot)
            await uow.timing.touch_device(session.device_id, now, seq)
        await self._live.catch_up()
        return Recorded(inserted, len(passings) - inserted)

    async def passings_of_session(
        self, key: Key | None, token: str, first: int | None, last: int | None, page: int | None,
        check_only: bool = False,
    ) -> list[StoredPassing]:
        """A session's passings numbered ``first``..``last`` (inclusive), by number, one page.

        ``check_only``: make every check (and raise what they raise) but read no passings (a 304).
        """
        key = authorize(key, Operation.READ)
        offset, size = timing.page_window(page)
        timing.check_range(first, last, "first", "last")
        reads = self._store.reads
        session = await reads.timing.session(key.account_id, token)
        if session is None:
            raise SessionNotFound("Session not found", token)
        if check_only:
            return []
        return await self._linked(reads, session.device_id,
                                  await reads.timing.passings_of_session(session.id, first, last, offset, size))

    async def passings_of_device(
        self, key: Key | None, deviceid: str, from_ms: int | None, to_ms: int | None, page: int | None,
        check_only: bool = False,
    ) -> list[StoredPassing]:
        """A device's passings timed ``from``..``to`` (inclusive) across its sessions, by time.

        ``check_only``: make every check (and raise what they raise) but read no passings (a 304).
        """
        key = authorize(key, Operation.READ)
        offset, size = timing.page_window(page)
        timing.check_range(from_ms, to_ms, "from", "to")
        reads = self._store.reads
        device = await self._device(reads, key, deviceid)
        if check_only:
            return []
        return await self._linked(reads, device.id,
                                  await reads.timing.passings_of_device(device.id, from_ms, to_ms, offset, size))

    async def resume_device(
        self, key: Key | None, deviceid: str, from_ms: int | None, to_ms: int | None, token: str | None,
        last: int | None, page: int | None,
    ) -> Resumed:
        """The resumable feed: passings after ``last`` in session ``token``, else in the next session.

        Without ``token`` it reads the device's latest session from its start. When ``token`` has
        nothing after ``last`` and the device has opened a newer session since, it moves on to the
        next one and reads it from the beginning, so a client that stores ``session_used`` and the
        highest ``num_passing`` it saw loses nothing across sessions.

        Raises:
            DeviceNotFound: no such device for this account.
            SessionsNotFound: the device has no session yet.
            SessionNotFound: ``token`` is not a session of this device.
        """
        key = authorize(key, Operation.READ)
        offset, size = timing.page_window(page)
        timing.check_range(from_ms, to_ms, "from", "to")
        if last is not None and last < 0:
            raise InvalidInput("last must not be negative", "last")
        reads = self._store.reads
        device = await self._device(reads, key, deviceid)
        if token is None:
            session = await reads.timing.latest_session(device.id)
            if session is None:
                raise SessionsNotFound("Sessions not found", deviceid)
        else:
            found = await reads.timing.session(key.account_id, token)
            if found is None or found.device_id != device.id:
                raise SessionNotFound("Session not found", token)
            session = found
        after = -1 if last is None else last
        rows = await reads.timing.passings_after(session.id, after, from_ms, to_ms, offset, size)
        if not rows and token is not None:
            newer = await reads.timing.next_session(device.id, session.id)
            if newer is not None:
                session, after = newer, -1
                rows = await reads.timing.passings_after(session.id, after, from_ms, to_ms, offset, size)
        return Resumed(device, session, max(after, 0), await self._linked(reads, device.id, rows))

    async def _linked(self, reads: Repos, device_id: int, rows: list[StoredPassing]) -> list[StoredPassing]:
        return rows if self._events is None else await self._events.link(reads, device_id, rows)
