"""The RUFUS events layer (§7) under ``/v0/events``, mounted beside the rest of the dialect:

    GET  /v0/events?page&limit                              READ   events, paginated (limit 1..1000)
    GET  /v0/events/{event_token}                           READ   one event, with its timing points
    GET  /v0/events/{event_token}/participants?page&limit   READ   its participants, paginated
    GET  /v0/events/{event_token}/participants/{id}         READ   one participant
    POST /v0/events/{event_token}/participants              WRITE  create participants (no updates)
    GET  /v0/events/{event_token}/results                   READ   live results (ETag, ?wait= long-poll)
    GET  /v0/events/{event_token}/results/stream            READ   the same, as SSE (an extension)

Each handler parses, calls one service method, renders (the RUFUS key, body and error forms of
http/timing.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sessionhub.core.access import Key
from sessionhub.core.changes import Change, event_topic
from sessionhub.core.events import MAX_EVENT_PAGE, MAX_PARTICIPANT_PAGE
from sessionhub.core.timing import MAX_PAGE, parse_id
from sessionhub.http import timing_events_wire as wire
from sessionhub.http.body import decode, query_int, read_body
from sessionhub.http.conditional import Conditional
from sessionhub.http.openapi import SSE, Param, integer
from sessionhub.http.sse import EventStream, Step
from sessionhub.http.streams import Streams, options
from sessionhub.http.timing import TimingApi, docs
from sessionhub.service.events import EventsService

JSON = "application/json"
MAX_BODY = 4 * 1024 * 1024
"""A participants batch (10,000 of them) fits well under 4 MiB; more is refused with 413."""
_encode = msgspec.json.Encoder().encode


def _json(body: msgspec.Struct, status: int = 200) -> Response:
    return Response(_encode(body), status, media_type=JSON)


def _token(request: Request) -> str:
    return parse_id(request.path_params["token"], "event_token")


def _events_topics(params: Mapping[str, str]) -> list[str]:
    return [event_topic("")]


def _event_topics(params: Mapping[str, str]) -> list[str]:
    return [event_topic(parse_id(params["token"], "event_token"))]


def _results_topics(params: Mapping[str, str]) -> list[str]:
    return ["timing/"]  # the event, and every device's passings (its points')


class ResultsFeed:
    """Live results as a stream: the results document on connect, and again after each change of the
    account's timing (a batch at any point, a participant added)."""

    topic = "timing/"

    def __init__(self, events: EventsService, key: Key, token: str) -> None:
        self.events, self.key, self.token = events, key, token
        self.account_id, self.kind = key.account_id, f"timing-results/{token}"

    async def _doc(self) -> Any:
        return msgspec.to_builtins(wire.results_out(*await self.events.results(self.key, self.token)))

    async def snapshot(self) -> list[tuple[str | None, Any]]:
        return [(None, await self._doc())]

    async def step(self, change: Change) -> Step | None:
        doc = await self._doc()
        return Step(_encode(doc), lambda _previous: doc)

    async def base(self, seq: int) -> Any | None:
        return None  # results at an old seq are not kept: a resumed patch stream starts over


class EventsApi:
    def __init__(self, timing: TimingApi, events: EventsService, streams: Streams) -> None:
        self.timing, self.events, self.streams = timing, events, streams

    @docs.op("List the account's events", wire.EventsList, errors=(400, 401, 403), query=(
        Param("page", integer(1, MAX_PAGE), "1-based page"),
        Param("limit", integer(1, MAX_EVENT_PAGE), f"events per page (1..{MAX_EVENT_PAGE})")))
    async def list_events(self, request: Request) -> Response:
        page, limit = query_int(request, "page", 1), query_int(request, "limit", 1, MAX_EVENT_PAGE)
        found, total, page, limit = await self.events.events(await self.timing.key(request), page, limit)
        return _json(wire.EventsList("Success", [wire.event_summary(e) for e in found],
                                     wire.pagination(page, limit, total)))

    @docs.op("One event, with its timing points", wire.EventOne)
    async def event(self, request: Request) -> Response:
        event, points = await self.events.event(await self.timing.key(request), _token(request))
        return _json(wire.EventOne("Success", wire.event_detail(event, points)))

    @docs.op("An event's participants", wire.ParticipantsList, query=(
        Param("page", integer(1, MAX_PAGE), "1-based page"),
        Param("limit", integer(1, MAX_PARTICIPANT_PAGE), f"participants per page (1..{MAX_PARTICIPANT_PAGE})")))
    async def participants(self, request: Request) -> Response:
        page, limit = query_int(request, "page", 1), query_int(request, "limit", 1, MAX_PARTICIPANT_PAGE)
        found, total, page, limit = await self.events.participants(await self.timing.key(request), _token(request),
                                                                   page, limit)
        return _json(wire.ParticipantsList("Success", [wire.participant_out(p) for p in found],
                                           wire.pagination(page, limit, total)))

    @docs.op("One participant of an event", wire.ParticipantOne)
    async def participant(self, request: Request) -> Response:
        pid = request.path_params["participant_id"]
        found = await self.events.participant(await self.timing.key(request), _token(request), pid)
        return _json(wire.ParticipantOne("Success", wire.participant_out(found)))

    @docs.op("Create participants (all or none; updates are made in the console or CLI)",
             wire.ParticipantsInserted, status=201, body=wire.CreateParticipants, body_required=True,
             errors=(400, 401, 403, 404, 409),
             description="409 when a participant_id or bib is already the event's.")
    async def create_participants(self, request: Request) -> Response:
        token = _token(request)
        body = decode(await read_body(request, MAX_BODY), wire.CreateParticipants)
        made = await self.events.create_participants(await self.timing.key(request), token,
                                                     wire.to_participants(body))
        return _json(wire.ParticipantsInserted("Participants inserted succesfully", token, len(made),
                                               [wire.participant_out(p) for p in made]), 201)

    @docs.op("Live results: per timing point, each participant's passings, laps and latest time",
             wire.Results, description="An extension of the RUFUS API (docs/timing.md).")
    async def results(self, request: Request) -> Response:
        got = await self.events.results(await self.timing.key(request), _token(request))
        return _json(wire.results_out(*got))

    @docs.op("Follow the live results: Server-Sent Events of the results GET (an extension)", "sse", media=SSE)
    async def results_stream(self, request: Request) -> EventStream:
        key, token = await self.timing.stream_key(request), _token(request)
        await self.events.event(key, token)  # the GET's checks and errors, before the stream starts
        assert key is not None
        return self.streams.follow(ResultsFeed(self.events, key, token), options(request), key)

    def list_routes(self, get: Conditional) -> list[BaseRoute]:
        """``GET /v0/events`` itself, to route in the ``/v0`` mount (the ``/v0/events`` mount takes only
        the paths below it), so that its errors are RUFUS's too."""
        return [Route("/events", get(self.list_events, self.timing.key_of, _events_topics), methods=["GET"])]

    def routes(self, get: Conditional) -> list[BaseRoute]:
        """The events layer's route table, to mount at ``/v0/events``."""
        key = self.timing.key_of
        return [
            Route("/", get(self.list_events, key, _events_topics), methods=["GET"]),
            Route("/{token}", get(self.event, key, _event_topics), methods=["GET"]),
            Route("/{token}/participants", get(self.participants, key, _event_topics), methods=["GET"]),
            Route("/{token}/participants", self.create_participants, methods=["POST"]),
            Route("/{token}/participants/{participant_id}", get(self.participant, key, _event_topics),
                  methods=["GET"]),
            Route("/{token}/results", get(self.results, key, _results_topics), methods=["GET"]),
            Route("/{token}/results/stream", self.results_stream, methods=["GET"]),
        ]
