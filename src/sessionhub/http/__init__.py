"""The HTTP adapter: ``create_app(runtime)`` builds the ASGI app of every HTTP dialect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import ASGIApp

from sessionhub.core.errors import SessionhubError, lookup
from sessionhub.http.cors import with_cors
from sessionhub.http.errors import HTTP_STATUS, ErrorBoundary, not_found
from sessionhub.http.fastpath import FastLane
from sessionhub.http.metrics import Exposition, Metrics
from sessionhub.http.operations import Operations
from sessionhub.http.page import live_page
from sessionhub.http.paging_stream import PagingStreams
from sessionhub.http.parking import ParkingApi
from sessionhub.http.parking import render_error as parking_render
from sessionhub.http.parking_search import SearchApi
from sessionhub.http.streamlane import StreamLane
from sessionhub.http.streams import Streams
from sessionhub.http.timing import TimingApi, json
from sessionhub.http.timing import render_error as timing_render
from sessionhub.http.timing_events import EventsApi
from sessionhub.web import console, to_console

if TYPE_CHECKING:
    from sessionhub.runtime import Runtime


def render_error(error: SessionhubError | None) -> Response:
    """Errors outside every dialect's prefix: a plain JSON error."""
    error = error or SessionhubError("internal error")
    return json({"error": {"code": error.code, "message": error.message}}, lookup(HTTP_STATUS, error))


def create_app(runtime: Runtime, *, lifespan: bool = True) -> ASGIApp:
    """The ASGI app. With ``lifespan`` the server's lifespan events start and stop ``runtime``."""

    @asynccontextmanager
    async def run(_: object) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    routes: list[BaseRoute] = []
    metrics = Metrics(routes) if runtime.settings.metrics else None
    streams = Streams(runtime.hub, runtime.replay, runtime.timing, runtime.parking,
                      runtime.settings.stream_max_behind)
    paging_stream = PagingStreams(runtime.access, runtime.paging, streams).stream
    timing = TimingApi(runtime.access, runtime.timing, runtime.hub, streams,
                       on_passings=metrics.passings if metrics else None)
    parking = ParkingApi(runtime.access, runtime.parking, runtime.hub, streams)
    events = EventsApi(timing, runtime.events, streams)
    routes += [
        Route("/v0/events", events.list_app(), methods=["GET"]),
        Mount("/v0/events", app=events.app()),
        Mount("/v0", app=timing.app()),
        Mount("/v1/access/parking", app=parking.app()),
        Mount("/v1/users", app=parking.users_app()),
        Mount("/v1/search/parking", app=SearchApi(parking).app()),
        Route("/live", live_page, methods=["GET"]),
        Route("/v1/paging/stream", paging_stream, methods=["GET"]),
        Mount("/console", app=console(runtime)), Route("/", to_console, methods=["GET"]),
    ]
    routes += Operations(runtime.store, lambda: routes).routes()  # /openapi.json, /docs, /healthz, /readyz
    if metrics is not None:
        routes += Exposition(metrics, runtime).routes()  # /metrics
    dialects = [("/v0/", timing_render), ("/v1/access/parking/", parking_render), ("/v1/users/", parking_render),
                ("/v1/search/parking/", parking_render)]
    router = Router(routes, lifespan=run if lifespan else None, default=not_found(dialects, render_error))
    app = ErrorBoundary(router, render_error)
    lane = StreamLane(app, [*timing.stream_routes(), *parking.stream_routes(),
                            ("/v1/paging/stream", paging_stream, render_error)])
    fast = FastLane(lane, [*timing.fast_routes(), *parking.fast_routes()])
    served = with_cors(fast, runtime.settings.cors_origin)
    return served if metrics is None else metrics.around(served)
