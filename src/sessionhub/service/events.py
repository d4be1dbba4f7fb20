"""Race events (RUFUS §7): events, their timing points and participants, and live results.

Events and timing points are an operator's (CLI), as RUFUS manages them in its Race Manager;
participants are created through the API with a WRITE key and changed only by the operator (RUFUS:
"participant updates and corrections are deliberately not exposed"). Every write appends a change
of the event's topic. Rosters (participants indexed by id, chip and bib) are kept in memory per
event and dropped on any change of that event, because every passing read links through them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from sessionhub.core import events as ev
from sessionhub.core import timing
from sessionhub.core.access import Key, Operation, authorize
from sessionhub.core.changes import Change, device_topic, event_topic
from sessionhub.core.errors import DeviceNotFound, EventNotFound, InvalidInput, ParticipantExists, ParticipantNotFound
from sessionhub.core.events import Event, Participant, PointResults, Roster, TimingPoint
from sessionhub.core.timing import PAGE_SIZE, StoredPassing
from sessionhub.service.ports import Clock, Ids, Publisher, Repos, Store

_EVENT_TOPIC = event_topic("")
_DEVICE_TOPIC = device_topic("")
_MAX_ROSTERS = 1000


class EventsService:
    def __init__(self, store: Store, live: Publisher, clock: Clock, ids: Ids) -> None:
        self._store, self._live, self._clock, self._ids = store, live, clock, ids
        self._rosters: dict[int, Roster] = {}
        self._points: dict[int, list[tuple[Event, TimingPoint]]] = {}
        """device id -> the events it is a timing point of (every account's devices are distinct)."""

    def on_change(self, change: Change) -> None:
        """Change-feed hook: an event changed (a participant, a point): drop what is cached of events."""
        if change.topic.startswith(_EVENT_TOPIC):
            self._rosters.clear()
            self._points.clear()
        elif change.data is None and change.topic.startswith(_DEVICE_TOPIC):
            self._points.clear()  # maybe an unbind: its points went with it, and SQLite may reuse its row id

    def _made_up(self) -> Iterator[str]:
        while True:
            yield ev.made_up_id(self._ids.hex_token(8))

    async def _event(self, repos: Repos, account_id: int, token: str) -> Event:
        event = await repos.events.event(account_id, token)
        if event is None:
            raise EventNotFound("Event not found", token)
        return event

    async def _roster(self, repos: Repos, event: Event) -> Roster:
        roster = self._rosters.get(event.id)
        if roster is None:
            published = self._live.last_seq
            roster = Roster.of(await repos.events.all_participants(event.id))
            if self._live.last_seq == published:  # nothing changed while we read: safe to keep
                if len(self._rosters) >= _MAX_ROSTERS:
                    self._rosters.clear()
                self._rosters[event.id] = roster
        return roster

    async def _account(self, repos: Repos, account: str) -> int:
        account_id = await repos.accounts.account_id(account)
        if account_id is None:
            raise InvalidInput(f"no account {account!r}", "account")
        return account_id

    async def _touch(self, repos: Repos, event: Event, now: int) -> None:
        seq = await repos.accounts.append_change(event.account_id, event_topic(event.token), now)
        await repos.events.set_event_seq(event.id, seq)

    # the operator's (CLI) ---------------------------------------------------------------------

    async def create_event(
        self, account: str, name: str, *, edition: str | None = None, location: str | None = None,
        start_ms: int | None = None, end_ms: int | None = None, status: str = "PUBLISHED",
    ) -> str:
        """Create an event for ``account`` (created if new); return its event_token."""
        if not account.strip():
            raise InvalidInput("account name must not be empty", "account")
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            account_id = await uow.accounts.ensure_account(account, False, now)
            event = ev.new_event(account_id, self._ids.hex_token(ev.TOKEN_BYTES), name, edition, location,
                                 start_ms, end_ms, status, now)
            event = await uow.events.insert_event(event)
            await self._touch(uow, event, now)
        await self._live.catch_up()
        return event.token

    async def add_point(self, account: str, token: str, deviceid: str, name: str) -> None:
        """Make the account's device ``deviceid`` a timing point of the event, named ``name``
        (naming it again renames it)."""
        deviceid = timing.parse_id(deviceid, "deviceid")
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            account_id = await self._account(uow, account)
            event = await self._event(uow, account_id, timing.parse_id(token, "event_token"))
            device = await uow.timing.device(account_id, deviceid)
            if device is None:
                raise DeviceNotFound("Device not found", deviceid)
            await uow.events.save_point(TimingPoint(event.id, device.id, deviceid, ev.point_name(name)))
            await self._touch(uow, event, now)
        await self._live.catch_up()

    async def update_participant(self, account: str, token: str, participant_id: str, **fields: str | None) -> None:
        """Correct a participant (bib, chip, first_name, last_name, gender, category): the operator's
        call only. A field given as "" is cleared (bib cannot be)."""
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            account_id = await self._account(uow, account)
            event = await self._event(uow, account_id, timing.parse_id(token, "event_token"))
            found = await uow.events.participant(event.id, participant_id)
            if found is None:
                raise ParticipantNotFound("Participant not found", participant_id)
            def new(name: str, old: str | None) -> str | None:
                value = fields.get(name)
                return old if value is None else (value or None)

            updated = ev.checked_participant(replace(
                found, bib=new("bib", found.bib) or "", chip=new("chip", found.chip),
                first_name=new("first_name", found.first_name), last_name=new("last_name", found.last_name),
                gender=new("gender", found.gender), category=new("category", found.category)))
            others = Roster.of(p for p in await uow.events.all_participants(event.id) if p.id != found.id)
            clash = others.clash(replace(updated, participant_id=""))
            if clash is not None:
                raise ParticipantExists(f"{clash} is already taken in this event", participant_id)
            await uow.events.update_participant(updated)
            await self._touch(uow, event, now)
        await self._live.catch_up()

    # the API's ---------------------------------------------------------------------------------

    async def events(self, key: Key | None, page: int | None, limit: int | None) -> tuple[list[Event], int, int, int]:
        """A page of the account's events by id: (events, total, page, limit)."""
        key = authorize(key, Operation.READ)
        size = ev.MAX_EVENT_PAGE if limit is None else limit
        offset, size = timing.page_window(page, size)
        found, total = await self._store.reads.events.events(key.account_id, offset, size)
        return found, total, page or 1, size

    async def event(self, key: Key | None, token: str) -> tuple[Event, list[TimingPoint]]:
        key = authorize(key, Operation.READ)
        reads = self._store.reads
        event = await self._event(reads, key.account_id, token)
        return event, await reads.events.points(event.id)

    async def participants(
        self, key: Key | None, token: str, page: int | None, limit: int | None
    ) -> tuple[list[Participant], int, int, int]:
        """A page of the event's participants by creation: (participants, total, page, limit)."""
        key = authorize(key, Operation.READ)
        reads = self._store.reads
        event = await self._event(reads, key.account_id, token)
        size = ev.MAX_PARTICIPANT_PAGE if limit is None else limit
        offset, size = timing.page_window(page, size)
        found, total = await reads.events.participants(event.id, offset, size)
        return found, total, page or 1, size

    async def participant(self, key: Key | None, token: str, participant_id: str) -> Participant:
        key = authorize(key, Operation.READ)
        reads = self._store.reads
        event = await self._event(reads, key.account_id, token)
        found = await reads.events.participant(event.id, participant_id)
        if found is None:
            raise ParticipantNotFound("Participant not found", participant_id)
        return found

    async def create_participants(self, key: Key | None, token: str, batch: Sequence[Participant]) -> list[Participant]:
        """Add participants to the event, all or nothing (RUFUS: WRITE, plan limits, ownership)."""
        key = authorize(key, Operation.WRITE)
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            event = await self._event(uow, key.account_id, token)
            roster = Roster.of(await uow.events.all_participants(event.id))
            ready = ev.prepare_participants(event, roster, [ev.checked_participant(p) for p in batch],
                                            self._made_up(), now)
            await uow.events.insert_participants(ready)
            await self._touch(uow, event, now)
        await self._live.catch_up()
        return ready

    async def results(self, key: Key | None, token: str) -> tuple[Event, list[PointResults], bool]:
        """Live results: per timing point, each participant's passings, laps and latest time; and
        whether MAX_RESULT_PASSINGS cut the reading short."""
        key = authorize(key, Operation.READ)
        reads = self._store.reads
        event = await self._event(reads, key.account_id, token)
        roster = await self._roster(reads, event)
        out, read, truncated = [], 0, False
        for point in await reads.events.points(event.id):
            rows: list[StoredPassing] = []
            offset = 0
            while True:
                page = await reads.timing.passings_of_device(point.device_id, event.start_ms, event.end_ms, offset,
                                                             PAGE_SIZE)
                rows.extend(page)
                offset += len(page)
                read += len(page)
                if read >= ev.MAX_RESULT_PASSINGS:
                    truncated = len(page) == PAGE_SIZE
                    break
                if len(page) < PAGE_SIZE:
                    break
            out.append(ev.results(event, roster, point, rows))
            if read >= ev.MAX_RESULT_PASSINGS:
                break
        return event, out, truncated

    # linking passings (for the timing reads) ----------------------------------------------------

    async def link(self, reads: Repos, device_id: int, rows: list[StoredPassing]) -> list[StoredPassing]:
        """``rows`` (passings of one device) with ``participant_id`` filled in where an event the device
        is a point of has a participant the passing names by chip or bib."""
        if not rows:
            return rows
        events = self._points.get(device_id)
        if events is None:
            events = await reads.events.events_of_device(device_id)
            self._points[device_id] = events
        if not events:
            return rows
        rosters = [(event, await self._roster(reads, event)) for event, _ in events]
        out = []
        for sp in rows:
            p = sp.passing
            if p.participant_id is None:
                for event, roster in rosters:
                    if event.covers(p.ts_ms):
                        who = roster.match(None, p.chip, p.bib)
                        if who is not None:
                            sp = sp._replace(passing=p._replace(participant_id=who.participant_id))
                            break
            out.append(sp)
        return out
