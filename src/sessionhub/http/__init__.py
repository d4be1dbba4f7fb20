"""The HTTP adapter: ``create_app(runtime)`` builds the ASGI app of every HTTP dialect."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from sessionhub.http.conditional import Conditional
from sessionhub.http.cors import with_cors
from sessionhub.http.errors import ErrorBoundary, not_found, render_for, renderer
from sessionhub.http.fastpath import FastLane, fast_routes
from sessionhub.http.metrics import Exposition, Metrics
from sessionhub.http.operations import Operations
from sessionhub.http.page import live_page
from sessionhub.http.paging_stream import PagingStreams
from sessionhub.http.parking import ParkingApi
from sessionhub.http.parking import render_error as parking_render
from sessionhub.http.parking_search import SearchApi
from sessionhub.http.parts import Parts
from sessionhub.http.ratelimit import Limiter, RateLimit, Rates
from sessionhub.http.renders import Renders
from sessionhub.http.routing import router
from sessionhub.http.streamlane import StreamLane
from sessionhub.http.streams import Streams
from sessionhub.http.timing import TimingApi
from sessionhub.http.timing import render_error as timing_render
from sessionhub.http.timing_events import EventsApi

render_error = renderer()
"""Errors outside every dialect's prefix: a plain JSON error."""


def create_app(runtime: Parts, *, lifespan: bool = True, pages: Sequence[BaseRoute] = ()) -> ASGIApp:
    """The ASGI app. With ``lifespan`` the server's lifespan events start and stop ``runtime``.
    ``pages``: routes of another adapter served beside the dialects (the web console, mounted by the
    composition root): outside the dialects' documents, metrics labels and lanes, with their own errors."""

    @asynccontextmanager
    async def run(_: object) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    top: list[BaseRoute] = []
    metrics = Metrics(top) if runtime.settings.metrics else None
    streams = Streams(runtime.hub, runtime.replay, runtime.timing, runtime.parking,
                      runtime.settings.stream_max_behind)
    paging_stream = PagingStreams(runtime.access, runtime.paging, streams).stream
    timing = TimingApi(runtime.access, runtime.timing, runtime.hub, streams,
                       on_passings=metrics.passings if metrics else None)
    parking = ParkingApi(runtime.access, runtime.parking, runtime.hub, streams)
    renders = Renders()
    get = Conditional(runtime.hub, renders)
    events = EventsApi(timing, runtime.events, streams)
    dialects = [("/v0/", timing_render), ("/v1/access/parking/", parking_render), ("/v1/users/", parking_render),
                ("/v1/search/parking/", parking_render)]
    pick = render_for(dialects, render_error)
    # every route of every dialect, said once: the full stack, both lanes, the metrics' route labels and
    # the OpenAPI document are built from it
    mounts: list[tuple[str, list[BaseRoute]]] = [
        ("/v0/events", events.routes(get)),
        ("/v0", [*events.list_routes(get), *timing.routes(get)]),
        ("/v1/access/parking", parking.routes(get)),
        ("/v1/users", parking.users_routes()),
        ("/v1/search/parking", SearchApi(parking).routes()),
        ("", [Route("/live", live_page, methods=["GET"]), Route("/v1/paging/stream", paging_stream, methods=["GET"])]),
    ]
    for prefix, routes in mounts:
        if prefix:
            top.append(Mount(prefix, app=ErrorBoundary(router(routes), pick(prefix + "/"))))
        else:
            top.extend(routes)
    top += Operations(runtime.store, lambda: top).routes()  # /openapi.json, /docs, /healthz, /readyz
    if metrics is not None:
        top += Exposition(metrics, runtime).routes()  # /metrics
    app = ErrorBoundary(router([*top, *pages], lifespan=run if lifespan else None, default=not_found(pick)),
                        render_error)
    s = runtime.settings
    lane = StreamLane(app, mounts, pick, s.max_streams_per_address, s.max_streams_per_account)
    fast = FastLane(lane, fast_routes(mounts, get.fast), runtime.hub, renders)
    runtime.hub.watch(fast.on_change)
    limiter = Limiter(Rates(s.rate_per_key, s.rate_key_burst, s.rate_per_address, s.rate_address_burst,
                            s.rate_auth_failures, s.rate_auth_failures_burst))
    served = with_cors(RateLimit(fast, limiter, pick, lane=fast), s.cors_origin)
    return served if metrics is None else metrics.around(served)
