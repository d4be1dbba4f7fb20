"""Guest paging use cases: one method per operation of the LRS T7470 API, for one account's station.

The transmitter's API has no keys: its adapter is locked by the network (an address allow list)
and serves one configured account, so these methods take that ``account_id`` directly.

Each write is load -> ``core.paging`` decides -> write inside one unit of work, appending one
change per touched session (topic ``paging/session/<account>/<number>``) or one for the station
(``paging/station/<account>``), each with the snapshot observers render from -> commit -> publish.

Writes of one station pass a ``WriteGate`` (a few at a time ahead of the store's single writer),
so a flood of one station's requests cannot delay other tenants' writes for long.

Hot reads are served from memory: a station, and the rendered JSON of each active session and of
each account's session list, are cached until a change of theirs is published (``on_change``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sessionhub.core import paging
from sessionhub.core.changes import Change, paging_session_topic, paging_station_topic
from sessionhub.core.errors import SessionNotFound
from sessionhub.core.paging import Action, Fields, GuestSession, Page, Station, StationEvent, Written
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
        self._stations: dict[int, Station] = {}
        self._parts: dict[tuple[int, int], bytes] = {}
        self._lists: dict[int, bytes] = {}

    def on_change(self, change: Change) -> None:
        """Change-feed hook: drop what a paging change made stale."""
        topic = change.topic
        if not topic.startswith("paging/"):
            return
        kind, _, rest = topic[7:].partition("/")
        account, _, number = rest.partition("/")
        if not account.isdigit():
            return
        account_id = int(account)
        self._stations.pop(account_id, None)
        self._lists.pop(account_id, None)
        if kind == "session" and number.isdigit():
            self._parts.pop((account_id, int(number)), None)

    def now_ms(self) -> int:
        return self._clock.now_ms()

    # stations ---------------------------------------------------------------------------------

    async def open_station(self, account: str) -> int:
        """The id of ``account`` (created if new), making sure it has a station; for the runtime."""
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:  # at start-up: not gated
            account_id = await uow.accounts.ensure_account(account, False, now)
            if await uow.paging.station(account_id) is None:
                seq = await uow.accounts.append_change(account_id, paging_station_topic(account_id), now)
                await uow.paging.save_station(paging.new_station(account_id, now, self._utc_offset_ms(now)), seq)
        await self._live.catch_up()
        return account_id

    async def _load_station(self, repos: Repos, account_id: int) -> Station:
        found = await repos.paging.station(account_id)
        if found is None:  # never opened: a fresh station, saved by the first write
            now = self._clock.now_ms()
            return paging.new_station(account_id, now, self._utc_offset_ms(now))
        return found

    def cached_station(self, account_id: int) -> Station | None:
        return self._stations.get(account_id)

    async def station(self, account_id: int) -> Station:
        """The station, from memory until it changes."""
        hit = self._stations.get(account_id)
        if hit is not None:
            return hit
        published = self._live.last_seq
        station = await self._load_station(self._store.reads, account_id)
        if self._live.last_seq == published:
            self._stations[account_id] = station
        return station

    # cached renderings (the hot read path) ----------------------------------------------------

    def cached_session(self, account_id: int, number: int) -> bytes | None:
        """The cached rendering of the active session on ``number``, if there is one."""
        return self._parts.get((account_id, number))

    async def session_part(self, account_id: int, number: int, render: Callable[[GuestSession], bytes]) -> bytes:
        """``render(active session on number)``, kept until that session changes.

        ``render`` must be the same function on every call: the cache holds its output.

        Raises:
            InvalidInput: ``number`` out of range.
            SessionNotFound: no active session on ``number``.
        """
        paging.check_number(number)
        key = (account_id, number)
        hit = self._parts.get(key)
        if hit is not None:
            return hit
        published = self._live.last_seq
        session = await self._store.reads.paging.active(account_id, number)
        if session is None:
            raise SessionNotFound(f"no active session on pager {number}", str(number))
        body = render(session)
        if self._live.last_seq == published:
            if len(self._parts) >= _MAX_CACHED:
                self._parts.clear()
            self._parts[key] = body
        return body

    async def sessions_part(self, account_id: int, render: Callable[[list[GuestSession]], bytes]) -> bytes:
        """``render(active sessions by id)``, kept until any session of the station changes."""
        hit = self._lists.get(account_id)
        if hit is not None:
            return hit
        published = self._live.last_seq
        body = render(await self._store.reads.paging.active_all(account_id))
        if self._live.last_seq == published:
            self._lists[account_id] = body
        return body

    # sessions ---------------------------------------------------------------------------------

    async def _save(self, repos: Repos, before: Station, written: Written, now_ms: int) -> None:
        """Write one session change with its snapshot; nothing when the request changed nothing."""
        if written.station.global_seq == before.global_seq:
            return
        account_id, s = before.account_id, written.session
        seq = await repos.accounts.append_change(account_id, paging_session_topic(account_id, s.number), now_ms)
        await repos.paging.save_session(account_id, s)
        await repos.paging.save_station(written.station, seq)
        await repos.paging.add_event(seq, StationEvent("session", written.station, s.cleared_ms or
                                                       paging.local_now(written.station, now_ms), s))
        if written.page is not None:
            await repos.paging.add_page(account_id, written.page)

    async def open_session(
        self, account_id: int, number: int, fields: Fields, action: Action | None, page_mode: str | None,
    ) -> Written:
        """Create a session on ``number`` or, when one is active there, update it (then apply ``action``)."""
        paging.check_number(number)
        now = self._clock.now_ms()
        async with self._gate.slot(account_id), self._store.unit_of_work() as uow:
            station = await self._load_station(uow, account_id)
            existing = await uow.paging.active(account_id, number)
            written = paging.open_session(station, existing, number, fields, action, page_mode,
                                          self._ids.hex_token(16), now)
            await self._save(uow, station, written, now)
        await self._live.catch_up()
        return written

    async def update_session(
        self, account_id: int, number: int, fields: Fields, action: Action | None, page_mode: str | None,
    ) -> Written:
        """Change the active session on ``number`` and apply ``action``. Raises SessionNotFound."""
        paging.check_number(number)
        now = self._clock.now_ms()
        async with self._gate.slot(account_id), self._store.unit_of_work() as uow:
            station = await self._load_station(uow, account_id)
            session = await uow.paging.active(account_id, number)
            if session is None:
                raise SessionNotFound(f"no active session on pager {number}", str(number))
            written = paging.update_session(station, session, fields, action, page_mode, now)
            await self._save(uow, station, written, now)
        await self._live.catch_up()
        return written

    async def remove_session(self, account_id: int, number: int) -> Written:
        """Remove the active session on ``number`` (history, ``REMOVED``). Raises SessionNotFound."""
        return await self.update_session(account_id, number, Fields(), Action.REMOVE, None)

    async def remove_all(self, account_id: int) -> list[GuestSession]:
        """Remove every active session; returns them as removed."""
        now = self._clock.now_ms()
        async with self._gate.slot(account_id), self._store.unit_of_work() as uow:
            station = await self._load_station(uow, account_id)
            removed = []
            for session in await uow.paging.active_all(account_id):
                written = paging.act(station, session, Action.REMOVE, None, now)
                await self._save(uow, station, written, now)
                station = written.station
                removed.append(written.session)
        await self._live.catch_up()
        return removed

    async def active_sessions(self, account_id: int) -> Sessions:
        return Sessions(await self.station(account_id), await self._store.reads.paging.active_all(account_id))

    async def history(self, account_id: int) -> Sessions:
        return Sessions(await self.station(account_id), await self._store.reads.paging.history(account_id))

    async def delete_history(self, account_id: int) -> None:
        now = self._clock.now_ms()
        async with self._gate.slot(account_id), self._store.unit_of_work() as uow:
            await uow.paging.delete_history(account_id)
            await uow.accounts.append_change(account_id, paging_station_topic(account_id), now)
        await self._live.catch_up()

    async def snapshot(self, account_id: int, seq: int) -> StationEvent | None:
        """The snapshot written with change ``seq`` (None for changes that have none, or pruned ones)."""
        event = await self._store.reads.paging.event(seq)
        return event if event is not None and event.station.account_id == account_id else None

    # statistics, settings, pages --------------------------------------------------------------

    async def reset_statistics(self, account_id: int) -> Station:
        return await self._station_write(account_id, lambda s, now: paging.reset_statistics(
            s, paging.local_now(s, now)), event=False)

    async def update_settings(
        self, account_id: int, *, datetime_ms: int | None, system_id: int | None, default_goal_s: int | None,
        stats_clear_mark: int | None,
    ) -> Station:
        """Apply a partial settings change (``datetime_ms``, station-local, sets the station clock)."""
        return await self._station_write(account_id, lambda s, now: paging.update_settings(
            s, now, datetime_ms=datetime_ms, system_id=system_id, default_goal_s=default_goal_s,
            stats_clear_mark=stats_clear_mark), event=True)

    async def _station_write(self, account_id: int, change: Callable[[Station, int], Station], event: bool) -> Station:
        now = self._clock.now_ms()
        async with self._gate.slot(account_id), self._store.unit_of_work() as uow:
            station = change(await self._load_station(uow, account_id), now)
            seq = await uow.accounts.append_change(account_id, paging_station_topic(account_id), now)
            await uow.paging.save_station(station, seq)
            if event:
                await uow.paging.add_event(seq, StationEvent("settings", station, paging.local_now(station, now)))
        await self._live.catch_up()
        return station

    async def page(
        self, account_id: int, number: int, page_mode: str | None, message: str | None, system_id: int | None,
    ) -> Page:
        """Page a pager with no session bookkeeping: recorded, and published on the station's topic."""
        now = self._clock.now_ms()
        async with self._gate.slot(account_id), self._store.unit_of_work() as uow:
            station = await self._load_station(uow, account_id)
            page = paging.standalone_page(station, number, page_mode, message, system_id, now)
            await uow.paging.add_page(account_id, page)
            await uow.accounts.append_change(account_id, paging_station_topic(account_id), now)
        await self._live.catch_up()
        return page

    async def pages(self, account_id: int, limit: int = 100) -> list[Page]:
        """The latest pages sent, newest first (what a screen shows)."""
        return await self._store.reads.paging.pages(account_id, limit)
