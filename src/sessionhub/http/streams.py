"""The streams of both HTTP dialects: one feed per kind of stream (see http/sse.py, docs/live.md).

Each feed follows one topic of one account and renders with its dialect's wire functions, so a
stream's document is exactly what the matching GET shows:

- ``/v1/access/parking/{loc}/session/{id}/stream`` (topic ``parking/session/<id>``): the session's GET;
- ``/v1/access/parking/{loc}/stream`` (``parking/location/<loc>``): the list's GET (``event: sessions``),
  then one ``event: session`` per change of one of its sessions;
- ``/v0/sessions/{token}/stream`` (``timing/session/<token>``): the session's GET plus ``passings``, the
  batch of passings the change stored (none for opening and closing);
- ``/v0/passings/device2/{deviceid}/stream`` (``timing/device/<id>``): device2 answers from the cursor
  (``token_session``, ``last``) up to now, then one per batch the device stores and one per session it
  opens, in whichever session (device2 semantics, live).

Every change is replayed from the snapshot stored with it (service/snapshots.py), never from the
current row, so a resumed stream shows each intermediate state exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.requests import Request

from sessionhub.core.access import Key
from sessionhub.core.changes import (
    Change,
    device_topic,
    parking_location_topic,
    parking_session_topic,
    timing_session_topic,
)
from sessionhub.core.errors import DeviceNotFound, InvalidInput, SessionsNotFound
from sessionhub.core.timing import PAGE_SIZE
from sessionhub.http import parking_wire, timing_wire
from sessionhub.http.sse import GONE, EventStream, Feed, Memo, Step
from sessionhub.live.hub import ChangeHub
from sessionhub.service import snapshots
from sessionhub.service.parking import MAX_LIST, ParkingService
from sessionhub.service.ports import Repos, Store
from sessionhub.service.timing import TimingService

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class Options:
    """What every stream request may ask: resume after a seq, and JSON Patch mode."""

    last_id: int | None
    patch: bool

    @classmethod
    def parse(cls, last_event_id: str | None, patch: str | None) -> Options:
        """``Last-Event-ID`` (header, or ``last_event_id`` query parameter) and ``patch`` (0/1).

        Raises:
            InvalidInput: a Last-Event-ID that is not a seq, or a patch value other than 0, 1, true, false.
        """
        last = None
        if last_event_id is not None and last_event_id.strip():
            raw = last_event_id.strip()
            if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
                raise InvalidInput("Last-Event-ID must be the id of an event of this stream", "last_event_id")
            last = int(raw)
        if patch not in (None, "", "0", "1", "true", "false"):
            raise InvalidInput("patch must be 1 (JSON Patch events) or 0", "patch")
        return cls(last, patch in ("1", "true"))


def options(request: Request) -> Options:
    """A stream request's options: ``Last-Event-ID`` header (or ``last_event_id``), ``patch``."""
    return Options.parse(request.headers.get("last-event-id") or request.query_params.get("last_event_id"),
                         request.query_params.get("patch"))


def _same(doc: Any) -> Any:
    return lambda _previous: doc


# parking ---------------------------------------------------------------------------------------

class ParkingSessionFeed:
    kind = "parking-session"

    def __init__(self, parking: ParkingService, reads: Repos, key: Key, location_id: int, session_id: int) -> None:
        self.parking, self.reads, self.key = parking, reads, key
        self.location_id, self.session_id = location_id, session_id
        self.account_id, self.topic = key.account_id, parking_session_topic(session_id)

    async def snapshot(self) -> list[tuple[str | None, Any]]:
        return [(None, parking_wire.session_out(await self.parking.session(self.key, self.location_id,
                                                                             self.session_id)))]

    async def step(self, change: Change) -> Step | None:
        if change.data is None:
            return None
        doc = parking_wire.session_out(snapshots.read_parking(change.data))
        return Step(_encode(doc), _same(doc))

    async def base(self, seq: int) -> Any | None:
        change = await self.reads.accounts.change_at(self.account_id, self.topic, seq)
        if change is None or change.data is None:
            return None
        return parking_wire.session_out(snapshots.read_parking(change.data))


def _upsert(item: dict[str, Any], limit: int) -> Any:
    """Patch mode of a list by id: replace the item with the same id, or append a new one."""

    def merge(previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = list(previous)
        for n, old in enumerate(out):
            if old["id"] == item["id"]:
                out[n] = item
                return out
        if len(out) < limit:
            out.append(item)
        return out

    return merge


class LocationFeed:
    kind = "parking-location"

    def __init__(self, parking: ParkingService, key: Key, location_id: int) -> None:
        self.parking, self.key, self.location_id = parking, key, location_id
        self.account_id, self.topic = key.account_id, parking_location_topic(location_id)

    async def snapshot(self) -> list[tuple[str | None, Any]]:
        found = await self.parking.sessions_of_location(self.key, self.location_id, None, None)
        return [("sessions", [parking_wire.session_out(s) for s in found])]

    async def step(self, change: Change) -> Step | None:
        if change.data is None:  # the location itself was created
            return None
        item = parking_wire.session_out(snapshots.read_parking(change.data))
        return Step(_encode(item), _upsert(item, MAX_LIST), "session")

    async def base(self, seq: int) -> Any | None:
        return None  # a list at an old seq is not kept: a resumed patch stream starts over


# timing ----------------------------------------------------------------------------------------

def _device2(deviceid: str, token: str | None, label: str | None, resumed_from: int,
             passings: list[dict[str, Any]]) -> dict[str, Any]:
    return {"description": "Success", "deviceid": deviceid, "session_used": token, "session_label": label,
            "resumed_from": resumed_from, "passings": passings}


class TimingSessionFeed:
    kind = "timing-session"

    def __init__(self, timing: TimingService, reads: Repos, key: Key, token: str) -> None:
        self.timing, self.reads, self.key, self.token = timing, reads, key, token
        self.account_id, self.topic = key.account_id, timing_session_topic(token)

    async def snapshot(self) -> list[tuple[str | None, Any]]:
        session = await self.timing.session(self.key, self.token)
        return [(None, {"description": "Success", "result": [timing_wire.session_detail(session)], "passings": []})]

    async def _doc(self, change: Change) -> dict[str, Any]:
        assert change.data is not None
        got = snapshots.read_timing(change.data)
        rows = [] if got.first is None or got.last is None else await self.reads.timing.passings_of_change(
            got.session.id, got.first, got.last, got.batch)
        return {"description": "Success", "result": [timing_wire.session_detail(got.session)],
                "passings": [timing_wire.passing_out(p) for p in rows]}

    async def step(self, change: Change) -> Step | None:
        if change.data is None:  # deleted with its device
            return GONE
        doc = await self._doc(change)
        return Step(_encode(doc), _same(doc))

    async def base(self, seq: int) -> Any | None:
        change = await self.reads.accounts.change_at(self.account_id, self.topic, seq)
        return None if change is None or change.data is None else await self._doc(change)


class Device2Feed:
    """device2 live: each batch a device stores, in whichever session, and each session it opens."""

    kind = "timing-device2"

    def __init__(self, timing: TimingService, reads: Repos, key: Key, deviceid: str, token: str | None,
                 last: int | None) -> None:
        self.timing, self.reads, self.key, self.deviceid = timing, reads, key, deviceid
        self.token, self.last = token, last
        self.account_id, self.topic = key.account_id, device_topic(deviceid)

    async def snapshot(self) -> list[tuple[str | None, Any]]:
        """The device2 answers from the cursor (``token_session``, ``last``) up to now, page by page."""
        device = await self.reads.timing.device(self.account_id, self.deviceid)
        if device is None or await self.reads.timing.latest_session(device.id) is None:
            await self.timing.device(self.key, self.deviceid)  # DeviceNotFound in the dialect's words
            return [(None, _device2(self.deviceid, None, None, 0, []))]
        token, last = self.token, self.last
        events: list[tuple[str | None, Any]] = []
        while True:
            got = await self.timing.resume_device(self.key, self.deviceid, None, None, token, last, None)
            rows = [timing_wire.passing_out(p) for p in got.passings]
            events.append((None, _device2(self.deviceid, got.session.token, got.session.alias, got.resumed_from,
                                          rows)))
            if len(rows) < PAGE_SIZE:
                return events
            token, last = got.session.token, got.passings[-1].passing.num_passing

    async def _doc(self, change: Change) -> dict[str, Any] | None:
        assert change.data is not None
        got = snapshots.read_timing(change.data)
        if got.first is None or got.last is None:
            if got.session.closed_ms is not None:
                return None  # a close: device2 moves on only when the next session opens
            return _device2(self.deviceid, got.session.token, got.session.alias, 0, [])
        rows = await self.reads.timing.passings_of_change(got.session.id, got.first, got.last, got.batch)
        return _device2(self.deviceid, got.session.token, got.session.alias, max(got.first - 1, 0),
                        [timing_wire.passing_out(p) for p in rows])

    async def step(self, change: Change) -> Step | None:
        if change.data is None:  # a bind, a batch of repeats, or the device's deletion
            if await self.reads.timing.device(self.account_id, self.deviceid) is None:
                return GONE
            return None
        doc = await self._doc(change)
        return None if doc is None else Step(_encode(doc), _same(doc))

    async def base(self, seq: int) -> Any | None:
        return None  # the last event's document is not kept: a resumed patch stream starts over


class DeviceFeed:
    """A device's GET document (its telemetry, counts, last_seen) again on each change of the device.

    A device's changes carry no snapshot of the device itself, so each event is the device as it is
    when the change is read (a resumed stream shows the current state once, not each state between)."""

    kind = "timing-device"

    def __init__(self, timing: TimingService, key: Key, deviceid: str) -> None:
        self.timing, self.key, self.deviceid = timing, key, deviceid
        self.account_id, self.topic = key.account_id, device_topic(deviceid)

    async def _doc(self) -> dict[str, Any]:
        return {"description": "Success", "result": timing_wire.device_detail(await self.timing.device(self.key,
                                                                                                     self.deviceid))}

    async def snapshot(self) -> list[tuple[str | None, Any]]:
        return [(None, await self._doc())]

    async def step(self, change: Change) -> Step | None:
        try:
            doc = await self._doc()
        except DeviceNotFound:  # unbound
            return GONE
        return Step(_encode(doc), _same(doc))

    async def base(self, seq: int) -> Any | None:
        return None  # no document is kept per seq: a resumed patch stream starts over


# the factory -----------------------------------------------------------------------------------

class Streams:
    """Builds the stream responses of both dialects; each method checks the key and the object as
    the matching GET does (same errors), then returns the response that follows it."""

    def __init__(self, hub: ChangeHub, store: Store, timing: TimingService, parking: ParkingService) -> None:
        self.hub, self.store, self.timing, self.parking = hub, store, timing, parking
        self.memo = Memo()

    @property
    def reads(self) -> Repos:
        return self.store.reads  # looked up per stream: the store opens after the app is built

    def follow(self, feed: Feed, wanted: Options) -> EventStream:
        """The response that streams ``feed`` (whose key and object the caller has checked)."""
        return EventStream(self.hub, self.reads, self.memo, feed, wanted.last_id, wanted.patch)

    async def parking_session(self, key: Key | None, location_id: int, session_id: int,
                              options: Options) -> EventStream:
        session = await self.parking.session(key, location_id, session_id)
        assert key is not None  # authorized above
        return self.follow(ParkingSessionFeed(self.parking, self.reads, key, location_id, session.id), options)

    async def location(self, key: Key | None, location_id: int, options: Options) -> EventStream:
        await self.parking.sessions_of_location(key, location_id, None, 1)
        assert key is not None
        return self.follow(LocationFeed(self.parking, key, location_id), options)

    async def timing_session(self, key: Key | None, token: str, options: Options) -> EventStream:
        await self.timing.session(key, token)
        assert key is not None
        return self.follow(TimingSessionFeed(self.timing, self.reads, key, token), options)

    async def device(self, key: Key | None, deviceid: str, options: Options) -> EventStream:
        await self.timing.device(key, deviceid)
        assert key is not None
        return self.follow(DeviceFeed(self.timing, key, deviceid), options)

    async def device2(self, key: Key | None, deviceid: str, token: str | None, last: int | None,
                      options: Options) -> EventStream:
        await self.timing.device(key, deviceid)
        if token is not None or last is not None:  # the same checks as GET device2, before the stream starts
            try:
                await self.timing.resume_device(key, deviceid, None, None, token, last, None)
            except SessionsNotFound:
                pass  # no session yet: the stream waits for the first one
        assert key is not None
        return self.follow(Device2Feed(self.timing, self.reads, key, deviceid, token, last), options)
