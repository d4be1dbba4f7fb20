"""``GET /v1/paging/stream``: the paging station's guest sessions, live, for web screens.

The LRS transmitter's own API is CoAP and has no keys (its adapter is locked by network address).
This HTTP stream is for screens, so it takes the project's keys like the other dialects: a READ
key of the account whose station it shows, in the ``api_key``/``x-api-key`` header or, for a
browser's EventSource (which cannot set headers), the ``access_key`` or ``api_key`` query parameter.
``?station=NAME`` picks one of the account's stations (default: ``core.paging.DEFAULT_STATION``).

Document: ``event: sessions``, the station's active sessions as the LRS API renders them
(``core.paging_wire.session_dict``); then one ``event: session`` per change of a session, with the session
after the change (a cleared one carries ``state: "cleared"`` and its ``clearType``, and leaves the
list in patch mode). Changes replay from the snapshot each change carries (service.snapshots, pruned
as every domain's are), so a client away for longer gets ``event: sessions`` with the current list
instead of the changes it missed.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request

from sessionhub.core.access import Key, Operation, authorize
from sessionhub.core.changes import Change, paging_station_prefix, parse_paging_topic
from sessionhub.core.paging import DEFAULT_STATION, STATION_PATTERN, GuestSession, check_station
from sessionhub.core.paging_wire import session_dict
from sessionhub.http import keyrules
from sessionhub.http.openapi import SSE, Docs, Param, PlainError
from sessionhub.http.sse import EventStream, Step
from sessionhub.http.streams import Streams, options
from sessionhub.service.access import AccessService
from sessionhub.service.paging import PagingService

_encode = msgspec.json.Encoder().encode


def guest(s: GuestSession) -> dict[str, Any]:
    out = session_dict(s)
    if s.clear_type is not None:
        out["clearType"] = s.clear_type.value
    return out


def _merge(item: dict[str, Any]) -> Any:
    """Patch mode: replace the session with the same id, append a new one, drop a cleared one."""

    def merge(previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = [old for old in previous if old["id"] != item["id"]]
        if item["state"] != "cleared":
            at = next((n for n, old in enumerate(previous) if old["id"] == item["id"]), None)
            out.insert(len(out) if at is None else at, item)
        return out

    return merge


class PagingFeed:
    kind = "paging-station"

    def __init__(self, paging: PagingService, key: Key, station: str = DEFAULT_STATION) -> None:
        self.paging, self.account_id, self.station = paging, key.account_id, station
        self.topic = paging_station_prefix(key.account_id, station)

    async def _list(self) -> list[dict[str, Any]]:
        return [guest(s) for s in (await self.paging.active_sessions(self.account_id, station=self.station)).sessions]

    async def snapshot(self) -> list[tuple[str | None, Any]]:
        return [("sessions", await self._list())]

    async def step(self, change: Change) -> Step | None:
        topic = parse_paging_topic(change.topic)
        if topic is None or topic.number is None:
            return None  # settings, statistics, standalone pages: not in the document
        event = self.paging.event_of(change, self.account_id, station=self.station)
        if event is None or event.session is None:  # pruned: start the list over
            listing = await self._list()
            return Step(_encode(listing), lambda _previous: listing, "sessions")
        item = guest(event.session)
        return Step(_encode(item), _merge(item), "session")

    async def base(self, seq: int) -> Any | None:
        return None


docs = Docs("paging", [{"ApiKeyHeader": []}, {"XApiKeyHeader": []}, {"AccessKeyQuery": []}, {"ApiKeyQuery": []}],
            PlainError, description="The paging station's guest sessions for screens, over HTTP (the LRS dialect "
            "itself is CoAP: docs/coap.md).")


class PagingStreams:
    """The handler of ``GET /v1/paging/stream``."""

    def __init__(self, access: AccessService, paging: PagingService, streams: Streams) -> None:
        self.access, self.paging, self.streams = access, paging, streams

    @docs.op("Follow the station's guest sessions (a READ key of the station's account)", "sse", media=SSE,
             errors=(400, 401, 403), query=(Param("station", {"type": "string", "pattern": STATION_PATTERN,
                                                               "default": DEFAULT_STATION},
                                                    "which of the account's stations (docs/coap.md)"),))
    async def stream(self, request: Request) -> EventStream:
        key = authorize(await self.access.authenticate(keyrules.PAGING_STREAM(request.scope)), Operation.READ)
        station = check_station(request.query_params.get("station") or DEFAULT_STATION)
        return self.streams.follow(PagingFeed(self.paging, key, station), options(request), key)
