"""The paging dialect's resources: the route table, and one handler per operation.

Each handler parses the request, calls one method of the paging service and renders the answer.
It returns a ``Response`` when it can answer at once (the hot GET of a cached session) or an
awaitable of one. Errors are raised as the core's errors; the transport renders them through
the one table in ``coap.errors``.
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable

from msgspec import UnsetType

from sessionhub.coap import lrs
from sessionhub.coap import numbers as N
from sessionhub.coap.messages import Remote
from sessionhub.coap.observe import Observations
from sessionhub.coap.wire import Message, to_uint, uint
from sessionhub.core import paging
from sessionhub.core.errors import InvalidInput, MethodNotAllowed, RouteNotFound
from sessionhub.core.paging import Station, StationEvent, Written
from sessionhub.service.paging import PagingService

JSON_OPTIONS = [(N.CONTENT_FORMAT, uint(N.JSON_FORMAT))]
"""The options of every JSON response (shared: never mutate)."""

CRITICAL_KNOWN = frozenset((N.URI_HOST, N.URI_PORT, N.URI_PATH, N.URI_QUERY, N.ACCEPT, N.BLOCK2))
"""The critical (odd-numbered) options this server acts on. Any other critical option in a request
is answered 4.02 Bad Option (RFC 7252 §5.4.1): If-Match, If-None-Match, Block1, Proxy-Uri,
Proxy-Scheme, and every unregistered odd number. Uri-Host and Uri-Port name this one server;
Accept is taken (every answer is JSON, the only format the dialect has)."""

_SETTINGS, _STATS, _PING, _HISTORY = b'["settings"]', b'["statistics"]', b'["ping"]', b'["session_history"]'
_NONE = b"[]"
"""``POST /v1/page`` answers the envelope alone: no section."""


class Request:
    """A request as the resources see it: the message, who sent it, its path and query."""

    __slots__ = ("bad_option", "message", "path", "query", "remote", "verified")

    def __init__(self, message: Message, remote: Remote, verified: bool = True) -> None:
        """``verified``: the sender proved it receives at its address (``coap.sources``).
        ``bad_option``: the first critical option this server does not recognise, if any."""
        self.message, self.remote, self.verified = message, remote, verified
        path: list[bytes] = []
        query: dict[str, str] = {}
        bad = None
        try:
            for number, value in message.options:
                if number == N.URI_PATH:
                    path.append(value)
                elif number == N.URI_QUERY:
                    name, _, text = value.decode().partition("=")
                    query[name] = text
                elif number & 1 and number not in CRITICAL_KNOWN and bad is None:
                    bad = number
        except UnicodeDecodeError:
            raise InvalidInput("the query is not UTF-8") from None
        self.path, self.query, self.bad_option = tuple(path), query, bad


class Response:
    __slots__ = ("code", "options", "payload")

    def __init__(self, code: int, payload: bytes = b"", options: list[tuple[int, bytes]] | None = None) -> None:
        self.code, self.payload = code, payload
        self.options = options if options is not None else (JSON_OPTIONS if payload else [])


Handler = Callable[[Request], "Response | Awaitable[Response]"]


def _number(text: str | None) -> int:
    if text is None or text == "":
        raise InvalidInput("the number query parameter is required", "number")
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise InvalidInput("number must be an integer", "number")
    return paging.check_number(int(text))


class PagingSite:
    """The resources of one station: ``station`` of the account ``account_id``."""

    def __init__(self, service: PagingService, account_id: int, observations: Observations,
                 now: Callable[[], float], station: str = paging.DEFAULT_STATION) -> None:
        self._paging, self._account, self._name = service, account_id, station
        self.observations, self._now = observations, now
        self._heads: dict[tuple[bytes, int, int], bytes] = {}
        self._station: Station | None = None
        g, p, u, d = N.GET, N.POST, N.PUT, N.DELETE
        self.routes: dict[tuple[bytes, ...], dict[int, Handler]] = {
            (b"v1", b"sessions"): {g: self.get_sessions, p: self.post_session, u: self.put_session,
                                   d: self.delete_sessions},
            (b"v1", b"sessions", b"history"): {g: self.get_history, d: self.delete_history},
            (b"v1", b"sessions", b"statistics"): {g: self.get_statistics, d: self.delete_statistics},
            (b"v1", b"page"): {p: self.post_page},
            (b"v1", b"settings"): {g: self.get_settings, p: self.post_settings},
            (b"v1", b"notify"): {g: self.get_notify},
        }

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        if request.bad_option is not None:
            text = f"unrecognized critical option {request.bad_option}"
            return Response(N.BAD_OPTION, lrs.error_json("bad_option", text))
        methods = self.routes.get(request.path)
        if methods is None:
            raise RouteNotFound("no such resource")
        handler = methods.get(request.message.code)
        if handler is None:
            raise MethodNotAllowed("method not allowed on this resource")
        return handler(request)

    # rendering helpers ------------------------------------------------------------------------

    def _local(self, station: Station) -> int:
        return self._paging.now_ms() + station.clock_offset_ms

    def _head(self, types: bytes, station: Station, local_ms: int) -> bytes:
        """The envelope, re-rendered at most once a second per sequence number."""
        key = (types, station.global_seq, local_ms // 1000)
        head = self._heads.get(key)
        if head is None:
            if len(self._heads) > 64:
                self._heads.clear()
            head = self._heads[key] = lrs.head(types, station, local_ms)
        return head

    async def _station_now(self) -> Station:
        self._station = await self._paging.station(self._account, station=self._name)
        return self._station

    def _written(self, w: Written, code: int) -> Response:
        local = self._local(w.station)
        stats = lrs.statistics_json(paging.statistics(w.station, local))
        return Response(code, lrs.sessions_body(self._head(lrs.SESSIONS_STATS, w.station, local),
                                                lrs.session_json(w.session), stats))

    def ping_body(self) -> bytes:
        """The payload of a ping notification: the bare envelope."""
        station = self._paging.cached_station(self._account, station=self._name) or self._station
        if station is None:
            station = paging.new_station(self._account, self._paging.now_ms(), 0, self._name)
        return self._head(_PING, station, self._local(station)) + b"}"

    def event_body(self, event: StationEvent) -> bytes:
        """The notification of a change, from the snapshot taken when it was committed."""
        st, at = event.station, event.at_ms
        if event.session is None:
            return lrs.section_body(lrs.head(_SETTINGS, st, at), b"settings", lrs.settings_json(st, at))
        stats = lrs.statistics_json(paging.statistics(st, at))
        return lrs.sessions_body(lrs.head(lrs.SESSIONS_STATS, st, at), lrs.session_json(event.session), stats)

    # /v1/sessions -----------------------------------------------------------------------------

    def get_sessions(self, request: Request) -> Response | Awaitable[Response]:
        """One active session (``?number=``, in a 1-element array), else all with statistics."""
        text = request.query.get("number")
        if text is None:
            return self._get_all(request.message.values(N.ETAG))
        number = _number(text)
        station = self._paging.cached_station(self._account, station=self._name)
        part = self._paging.cached_session(self._account, number, station=self._name)
        if station is None or part is None:
            return self._get_one(number)
        return Response(N.CONTENT, lrs.sessions_body(self._head(lrs.SESSIONS, station, self._local(station)), part))

    async def _get_one(self, number: int) -> Response:
        part = await self._paging.session_part(self._account, number, lrs.session_json,
                                               station=self._name)
        station = await self._station_now()
        return Response(N.CONTENT, lrs.sessions_body(self._head(lrs.SESSIONS, station, self._local(station)), part))

    async def _get_all(self, etags: list[bytes]) -> Response:
        station = await self._station_now()
        local = self._local(station)
        counters = paging.counters_now(station, local)
        etag = struct.pack("!II", station.global_seq & 0xFFFFFFFF, counters.since_ms // 1000 & 0xFFFFFFFF)
        if etag in etags:
            return Response(N.VALID, b"", [(N.ETAG, etag)])
        part = await self._paging.sessions_part(self._account, lrs.sessions_json, station=self._name)
        stats = lrs.statistics_json(paging.statistics(station, local))
        body = lrs.sessions_body(self._head(lrs.SESSIONS_STATS, station, local), part, stats)
        return Response(N.CONTENT, body, [(N.ETAG, etag), *JSON_OPTIONS])

    async def post_session(self, request: Request) -> Response:
        body = lrs.decode(request.message.payload, lrs.SessionIn)
        if isinstance(body.number, UnsetType):
            raise InvalidInput("number is required", "number")
        written = await self._paging.open_session(self._account, paging.check_number(body.number), body.fields(),
                                                  paging.check_action(body.action), body.pageMode,
                                                  station=self._name)
        return self._written(written, N.CREATED if written.created else N.CHANGED)

    async def put_session(self, request: Request) -> Response:
        number = _number(request.query.get("number"))
        body = lrs.decode(request.message.payload, lrs.SessionIn)
        if not isinstance(body.number, UnsetType) and body.number != number:
            raise InvalidInput("the body's number differs from the query's", "number")
        written = await self._paging.update_session(self._account, number, body.fields(),
                                                    paging.check_action(body.action), body.pageMode,
                                                    station=self._name)
        return self._written(written, N.CHANGED)

    async def delete_sessions(self, request: Request) -> Response:
        """``?number=``: remove that session; without it: remove every active session. Either way the
        answer is the removed sessions (as removed) with the statistics: the vendor's example code
        parses a payload before it checks the code, so every answer carries one."""
        text = request.query.get("number")
        if text is not None:
            return self._written(await self._paging.remove_session(self._account, _number(text),
                                                                     station=self._name), N.DELETED)
        removed = await self._paging.remove_all(self._account, station=self._name)
        station = await self._station_now()
        local = self._local(station)
        stats = lrs.statistics_json(paging.statistics(station, local))
        return Response(N.DELETED, lrs.sessions_body(self._head(lrs.SESSIONS_STATS, station, local),
                                                     lrs.sessions_json(removed), stats))

    # history, statistics -----------------------------------------------------------------------

    async def get_history(self, request: Request) -> Response:
        found = await self._paging.history(self._account, station=self._name)
        self._station = found.station
        return Response(N.CONTENT, lrs.history_body(
            self._head(_HISTORY, found.station, self._local(found.station)), found.sessions))

    async def delete_history(self, request: Request) -> Response:
        """2.02 with the (now empty) history, so a client that parses every answer finds JSON."""
        await self._paging.delete_history(self._account, station=self._name)
        station = await self._station_now()
        return Response(N.DELETED, lrs.history_body(self._head(_HISTORY, station, self._local(station)), []))

    async def get_statistics(self, request: Request) -> Response:
        station = await self._station_now()
        local = self._local(station)
        stats = lrs.statistics_json(paging.statistics(station, local))
        return Response(N.CONTENT, lrs.section_body(self._head(_STATS, station, local), b"statistics", stats))

    async def delete_statistics(self, request: Request) -> Response:
        """2.02 with the statistics as they are after the reset."""
        station = await self._paging.reset_statistics(self._account, station=self._name)
        local = self._local(station)
        stats = lrs.statistics_json(paging.statistics(station, local))
        return Response(N.DELETED, lrs.section_body(self._head(_STATS, station, local), b"statistics", stats))

    # page, settings ---------------------------------------------------------------------------

    async def post_page(self, request: Request) -> Response:
        body = lrs.decode(request.message.payload, lrs.PageIn)
        await self._paging.page(self._account, body.number, body.pageMode, body.message, body.systemId,
                                station=self._name)
        station = await self._station_now()
        return Response(N.CHANGED, self._head(_NONE, station, self._local(station)) + b"}")  # the bare envelope

    async def get_settings(self, request: Request) -> Response:
        return self._settings(N.CONTENT, await self._station_now())

    async def post_settings(self, request: Request) -> Response:
        body = lrs.decode(request.message.payload, lrs.SettingsIn)
        station = await self._paging.update_settings(
            self._account, datetime_ms=None if body.datetime is None else paging.parse_local(body.datetime),
            system_id=body.systemId, default_goal_s=body.defaultTargetGoal,
            stats_clear_mark=body.statisticsClearMark, station=self._name,
        )
        return self._settings(N.CHANGED, station)

    def _settings(self, code: int, station: Station) -> Response:
        local = self._local(station)
        return Response(code, lrs.section_body(self._head(_SETTINGS, station, local), b"settings",
                                               lrs.settings_json(station, local)))

    # /v1/notify -------------------------------------------------------------------------------

    async def get_notify(self, request: Request) -> Response:
        """Observe: 0 registers (the answer is the first notification), Observe: 1 deregisters.

        The first answer is the active sessions with ``?action=get_sessions``, else a ping.
        """
        action = request.query.get("action")
        if action not in (None, "get_sessions"):
            raise InvalidInput("action must be get_sessions", "action")
        observe = request.message.option(N.OBSERVE)
        if action == "get_sessions":
            response = await self._get_all([])
        else:
            await self._station_now()
            response = Response(N.CONTENT, self.ping_body())
        m = request.message
        if observe is not None and to_uint(observe) == 0:
            seq = self.observations.register(request.remote, m.token, self._now(), verified=request.verified)
            if seq is not None:
                response.options = [(N.OBSERVE, uint(seq)), *response.options]
        elif observe is not None and to_uint(observe) == 1:
            self.observations.deregister(request.remote, m.token)
        return response
