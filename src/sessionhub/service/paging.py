"""Guest paging use cases: one method per operation of the LRS T7470 API, for one station of an account.

The transmitter's API has no keys: its adapter is locked by the network (an address allow list)
and serves one configured station, so these methods take that ``account_id`` directly, and the
station's name as the keyword ``station`` (default ``core.paging.DEFAULT_STATION``, the one station
an account had before stations had names: callers that know of one station keep working). A
station that was never written reads as a fresh one; its first write saves it. A name that is not
a station name (``core.paging.check_station``) is an InvalidInput.

Each write is load -> ``core.paging`` decides -> write inside one unit of work, appending one
change per touched session (topic ``paging/<account>/<station>/session/<number>``) or one for the
station (``paging/<account>/<station>/station``), each with the snapshot observers render from ->
commit -> publish. The snapshot is the change's ``data`` (service.snapshots), so a notification
renders from the change itself.

Writes of one station pass a ``WriteGate`` (a few at a time ahead of the store's single writer),
so a flood of one station's requests cannot delay other tenants' writes for long.

Hot reads are served from memory: a station, and the rendered JSON of each active session and of
each station's session list, are cached until a change of theirs is published (``on_change``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sessionhub.core import paging
from sessionhub.core.changes import (
    Change,
    paging_session_topic,
    paging_station_prefix,
    paging_station_topic,
    parse_paging_topic,
)
from sessionhub.core.errors import SessionNotFound
from sessionhub.core.paging import (
    DEFAULT_STATION,
    Action,
    Fields,
    GuestSession,
    Page,
    Station,
    StationEvent,
    Written,
)
from sessionhub.service import snapshots
from sessionhub.service.fairness import WriteGate
from sessionhub.service.ports import Clock, Ids, Publisher, Repos, Store

_MAX_CACHED = 100_000


@dataclass(frozen=True, slots=True)
class Sessions:
    station: Station
    sessions: list[GuestSession]


class PagingService:
    def __init__(
        self, store: Store, live: Publisher, clock: Clock, ids: Ids, utc_offset_ms: Callable[[int], int],
        gate: WriteGate | None = None,
    ) -> None:
        """``utc_offset_ms(now_ms)``: the host's local offset, where a new station's clock starts.
        ``gate``: bounds each station's writes ahead of the store's writer (``service.fairness``)."""
        self._store, self._live, self._clock, self._ids = store, live, clock, ids
        self._gate = gate if gate is not None else WriteGate()
        self._utc_offset_ms = utc_offset_ms
        self._stations: dict[tuple[int, str], Station] = {}
        self._parts: dict[tuple[int, str, int], bytes] = {}
        self._lists: dict[tuple[int, str], bytes] = {}

    def on_change(self, change: Change) -> None:
        """Change-feed hook: drop what a paging change made stale (of its station only)."""
        if not change.topic.startswith("paging/"):
            return
        topic = parse_paging_topic(change.topic)
        if topic is None:
            return
        key = (topic.account_id, topic.station)
        self._stations.pop(key, None)
        self._lists.pop(key, None)
        if topic.number is not None:
            self._parts.pop((*key, topic.number), None)

    def now_ms(self) -> int:
        return self._clock.now_ms()

    # stations ---------------------------------------------------------------------------------

    async def open_station(self, account: str, *, station: str = DEFAULT_STATION) -> int:
        """The id of ``account`` (created if new), making sure it has the station ``station``; for the
        runtime. Raises InvalidInput for a name that is not a station name."""
        paging.check_station(station)
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:  # at start-up: not gated
            account_id = await uow.accounts.ensure_account(account, False, now)
            if await uow.paging.station(account_id, station=station) is None:
                seq = await uow.accounts.append_change(account_id, paging_station_topic(account_id, station), now)
                fresh = paging.new_station(account_id, now, self._utc_offset_ms(now), station)
                await uow.paging.save_station(fresh, seq)
        await self._live.catch_up()
        return account_id

    async def stations(self, account: str) -> list[Station]:
        """The stations of the account named ``account`` (those ever opened or written), in name order;
        none for an unknown account."""
        account_id = await self._store.reads.accounts.account_id(account)
        return [] if account_id is None else await self._store.reads.paging.stations(account_id)

    async def _load_station(self, repos: Repos, account_id: int, station: str) -> Station:
        found = await repos.paging.station(account_id, station=station)
        if found is None:  # never opened: a fresh station, saved by the first write
            now = self._clock.now_ms()
            return paging.new_station(account_id, now, self._utc_offset_ms(now), station)
        return found

    def cached_station(self, account_id: int, *, station: str = DEFAULT_STATION) -> Station | None:
        return self._stations.get((account_id, station))

    async def station(self, account_id: int, *, station: str = DEFAULT_STATION) -> Station:
        """The station, from memory until it changes."""
        key = (account_id, station)
        hit = self._stations.get(key)
        if hit is not None:
            return hit
        published = self._live.last_seq
        found = await self._load_station(self._store.reads, account_id, station)
        if self._live.last_seq == published:
            if len(self._stations) >= _MAX_CACHED:
                self._stations.clear()
            self._stations[key] = found
        return found

    # cached renderings (the hot read path) ----------------------------------------------------

    def cached_session(self, account_id: int, number: int, *, station: str = DEFAULT_STATION) -> bytes | None:
        """The cached rendering of the active session on ``number``, if there is one."""
        return self._parts.get((account_id, station, number))

    async def session_part(
        self, account_id: int, number: int, render: Callable[[GuestSession], bytes], *,
        station: str = DEFAULT_STATION,
    ) -> bytes:
        """``render(active session on number)``, kept until that session changes.

        ``render`` must be the same function on every call: the cache holds its output.

        Raises:
            InvalidInput: ``number`` out of range.
            SessionNotFound: no active session on ``number``.
        """
        paging.check_number(number)
        key = (account_id, station, number)
        hit = self._parts.get(key)
        if hit is not None:
            return hit
        published = self._live.last_seq
        session = await self._store.reads.paging.active(account_id, number, station=station)
        if session is None:
            raise SessionNotFound(f"no active session on pager {number}", str(number))
        body = render(session)
        if self._live.last_seq == published:
            if len(self._parts) >= _MAX_CACHED:
                self._parts.clear()
            self._parts[key] = body
        return body

    async def sessions_part(
        self, account_id: int, render: Callable[[list[GuestSession]], bytes], *, station: str = DEFAULT_STATION,
    ) -> bytes:
        """``render(active sessions by id)``, kept until any session of the station changes."""
        key = (account_id, station)
        hit = self._lists.get(key)
        if hit is not None:
            return hit
        published = self._live.last_seq
        body = render(await self._store.reads.paging.active_all(account_id, station=station))
        if self._live.last_seq == published:
            if len(self._lists) >= _MAX_CACHED:
                self._lists.clear()
            self._lists[key] = body
        return body

    # sessions ---------------------------------------------------------------------------------

    async def _save(self, repos: Repos, before: Station, written: Written, now_ms: int) -> None:
        """Write one session change with its snapshot; nothing when the request changed nothing."""
        if written.station.global_seq == before.global_seq:
            return
        account_id, station, s = before.account_id, before.name, written.session
        topic = paging_session_topic(account_id, station, s.number)
        event = StationEvent("session", written.station, s.cleared_ms or paging.local_now(written.station, now_ms), s)
        seq = await repos.accounts.append_change(account_id, topic, now_ms, snapshots.paging(event))
        await repos.paging.save_session(account_id, s, station=station)
        await repos.paging.save_station(written.station, seq)
        if written.page is not None:
            await repos.paging.add_page(account_id, written.page, station=station)

    async def open_session(
        self, account_id: int, number: int, fields: Fields, action: Action | None, page_mode: str | None, *,
        station: str = DEFAULT_STATION,
    ) -> Written:
        """Create a session on ``number`` or, when one is active there, update it (then apply ``action``)."""
        paging.check_number(number)
        now = self._clock.now_ms()
        async with self._gate.slot((account_id, station)), self._store.unit_of_work() as uow:
            loaded = await self._load_station(uow, account_id, station)
            existing = await uow.paging.active(account_id, number, station=station)
            written = paging.open_session(loaded, existing, number, fields, action, page_mode,
                                          self._ids.hex_token(16), now)
            await self._save(uow, loaded, written, now)
        await self._live.catch_up()
        return written

    async def update_session(
        self, account_id: int, number: int, fields: Fields, action: Action | None, page_mode: str | None, *,
        station: str = DEFAULT_STATION,
    ) -> Written:
        """Change the active session on ``number`` and apply ``action``. Raises SessionNotFound."""
        paging.check_number(number)
        now = self._clock.now_ms()
        async with self._gate.slot((account_id, station)), self._store.unit_of_work() as uow:
            loaded = await self._load_station(uow, account_id, station)
            session = await uow.paging.active(account_id, number, station=station)
            if session is None:
                raise SessionNotFound(f"no active session on pager {number}", str(number))
            written = paging.update_session(loaded, session, fields, action, page_mode, now)
            await self._save(uow, loaded, written, now)
        await self._live.catch_up()
        return written

    async def remove_session(self, account_id: int, number: int, *, station: str = DEFAULT_STATION) -> Written:
        """Remove the active session on ``number`` (history, ``REMOVED``). Raises SessionNotFound."""
        return await self.update_session(account_id, number, Fields(), Action.REMOVE, None, station=station)

    async def remove_all(self, account_id: int, *, station: str = DEFAULT_STATION) -> list[GuestSession]:
        """Remove every active session; returns them as removed."""
        now = self._clock.now_ms()
        async with self._gate.slot((account_id, station)), self._store.unit_of_work() as uow:
            loaded = await self._load_station(uow, account_id, station)
            removed = []
            for session in await uow.paging.active_all(account_id, station=station):
                written = paging.act(loaded, session, Action.REMOVE, None, now)
                await self._save(uow, loaded, written, now)
                loaded = written.station
                removed.append(written.session)
        await self._live.catch_up()
        return removed

    async def active_sessions(self, account_id: int, *, station: str = DEFAULT_STATION) -> Sessions:
        return Sessions(await self.station(account_id, station=station),
                        await self._store.reads.paging.active_all(account_id, station=station))

    async def history(self, account_id: int, *, station: str = DEFAULT_STATION) -> Sessions:
        return Sessions(await self.station(account_id, station=station),
                        await self._store.reads.paging.history(account_id, station=station))

    async def delete_history(self, account_id: int, *, station: str = DEFAULT_STATION) -> None:
        paging.check_station(station)
        now = self._clock.now_ms()
        async with self._gate.slot((account_id, station)), self._store.unit_of_work() as uow:
            await uow.paging.delete_history(account_id, station=station)
            await uow.accounts.append_change(account_id, paging_station_topic(account_id, station), now)
        await self._live.catch_up()

    @staticmethod
    def event_of(change: Change, account_id: int, *, station: str = DEFAULT_STATION) -> StationEvent | None:
        """The snapshot a change of this station carries (None for another station's or account's
        change, a change that has none, or a pruned one). No I/O: the change feed carries it."""
        if change.account_id != account_id or change.data is None \
                or not change.topic.startswith(paging_station_prefix(account_id, station)):
            return None
        return snapshots.read_paging(change.data)

    # statistics, settings, pages --------------------------------------------------------------

    async def reset_statistics(self, account_id: int, *, station: str = DEFAULT_STATION) -> Station:
        return await self._station_write(account_id, station, lambda s, now: paging.reset_statistics(
            s, paging.local_now(s, now)), event=False)

    async def update_settings(
        self, account_id: int, *, datetime_ms: int | None, system_id: int | None, default_goal_s: int | None,
        stats_clear_mark: int | None, station: str = DEFAULT_STATION,
    ) -> Station:
        """Apply a partial settings change (``datetime_ms``, station-local, sets the station clock)."""
        return await self._station_write(account_id, station, lambda s, now: paging.update_settings(
            s, now, datetime_ms=datetime_ms, system_id=system_id, default_goal_s=default_goal_s,
            stats_clear_mark=stats_clear_mark), event=True)

    async def _station_write(
        self, account_id: int, station: str, change: Callable[[Station, int], Station], event: bool,
    ) -> Station:
        now = self._clock.now_ms()
        async with self._gate.slot((account_id, station)), self._store.unit_of_work() as uow:
            changed = change(await self._load_station(uow, account_id, station), now)
            data = None
            if event:
                data = snapshots.paging(StationEvent("settings", changed, paging.local_now(changed, now)))
            seq = await uow.accounts.append_change(account_id, paging_station_topic(account_id, station), now, data)
            await uow.paging.save_station(changed, seq)
        await self._live.catch_up()
        return changed

    async def page(
        self, account_id: int, number: int, page_mode: str | None, message: str | None, system_id: int | None, *,
        station: str = DEFAULT_STATION,
    ) -> Page:
        """Page a pager with no session bookkeeping: recorded, and published on the station's topic."""
        now = self._clock.now_ms()
        async with self._gate.slot((account_id, station)), self._store.unit_of_work() as uow:
            loaded = await self._load_station(uow, account_id, station)
            page = paging.standalone_page(loaded, number, page_mode, message, system_id, now)
            await uow.paging.add_page(account_id, page, station=station)
            await uow.accounts.append_change(account_id, paging_station_topic(account_id, station), now)
        await self._live.catch_up()
        return page

    async def pages(self, account_id: int, limit: int = 100, *, station: str = DEFAULT_STATION) -> list[Page]:
        """The station's latest pages sent, newest first (what a screen shows)."""
        return await self._store.reads.paging.pages(account_id, limit, station=station)
