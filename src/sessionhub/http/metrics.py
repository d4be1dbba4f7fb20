"""Prometheus metrics: ``GET /metrics`` in the text format, through prometheus-client.

The hot GET is pushed towards the speed of a raw ASGI function, so requests are counted the cheap
way: ``Metrics`` (the outermost ASGI middleware) adds to plain ints in dicts and lists, and a
custom collector turns them into metric families only when Prometheus scrapes. Per request that is
two clock reads, one dict read for the route (a path seen before; else a walk of a small trie of
the route templates, no regex), a wrapped ``send`` for the status, and three dict/list increments;
bench/metrics_bench.py and bench/http_bench.py measure the hot GET with and without it, same run.

Labels are bounded: ``route`` is the template of the route that matched (``/v0/sessions/{token}``),
never the raw path (a path no route serves counts as ``unmatched``); ``method`` is one of the HTTP
methods or ``other``; ``dialect`` is the tag of the route's ``@docs.op`` (timing, parking, paging,
pages, operations).

Families: ``sessionhub_http_requests_total{dialect,route,method,status}``,
``sessionhub_http_request_duration_seconds{dialect,route}`` (histogram; streams are left out, they
last as long as their client), ``sessionhub_http_streams_open{dialect,route}``,
``sessionhub_live_subscriptions`` (streams and held long-polls on the change hub),
``sessionhub_coap_observers``, ``sessionhub_passings_ingested_total`` and
``sessionhub_passings_duplicate_total``, ``sessionhub_change_feed_lag`` (changes committed to the
store that this process has not yet published), plus the client library's process and GC families.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from time import perf_counter
from typing import Any

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sessionhub.http.fastpath import Answer
from sessionhub.http.openapi import TEXT, Docs, PlainError, documented, served
from sessionhub.http.parts import Parts
from sessionhub.http.webhook_metrics import WebhookCollector

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Latency buckets (seconds): sub-millisecond cached GETs up to a 60 s long-poll."""
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = ("other", "unmatched")
SEEN_PATHS = 4096
"""Raw paths whose route is remembered (the hot GETs' ids); the memory is cleared when it is full."""
_WILD = "{}"

docs = Docs("operations", [], PlainError)


class RouteIndex:
    """Raw path -> (dialect, route template), by walking a trie of the templates' segments
    (literal segments first, then a ``{param}``, as Starlette's first-match order would)."""

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        self.root: dict[str, Any] = {}
        for template, route in served(routes):
            op = documented(route.endpoint)
            node = self.root
            for segment in template.strip("/").split("/"):
                node = node.setdefault(_WILD if segment.startswith("{") else segment, {})
            node.setdefault("", (op.docs.tag if op else "other", template))  # "" never is a segment key

    def lookup(self, path: str) -> tuple[str, str]:
        found = _walk(self.root, path.strip("/").split("/"), 0)
        return found if found is not None else UNMATCHED


def _walk(node: dict[str, Any], segments: list[str], i: int) -> tuple[str, str] | None:
    if i == len(segments):
        leaf: tuple[str, str] | None = node.get("")
        return leaf
    segment = segments[i]
    if segment:
        child = node.get(segment)
        if child is not None:
            found = _walk(child, segments, i + 1)
            if found is not None:
                return found
        wild = node.get(_WILD)
        if wild is not None:
            return _walk(wild, segments, i + 1)
    return None


class Metrics:
    """ASGI middleware that counts every HTTP request into plain ints (see the module docstring)."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        """``routes``: the app's route table (read on the first request, so it may still grow now)."""
        self.app: ASGIApp | None = None
        self._lane: Callable[[Scope], Answer | None] | None = None
        self.routes = routes
        self.index: RouteIndex | None = None
        self.seen: dict[str, tuple[str, str]] = {}
        self.requests: dict[tuple[tuple[str, str], str, int], int] = {}
        """Per ((dialect, route), method, status): requests answered."""
        self.latency: dict[tuple[str, str], list[float]] = {}
        """Per (dialect, route): a count per bucket (the last for +Inf), then the sum of seconds."""
        self.streams: dict[tuple[str, str], int] = {}
        self.passings_ingested = 0
        self.passings_duplicate = 0

    def around(self, app: ASGIApp) -> Metrics:
        """Count the requests of ``app``; returns self, the ASGI app to serve."""
        self.app = app
        self._lane = getattr(app, "answer_now", None)
        return self

    def _index(self) -> RouteIndex:
        self.index = RouteIndex(self.routes)
        return self.index

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "Metrics.around(app) first"
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        path: str = scope["path"]
        where = self.seen.get(path) or self._resolve(path)
        status = 500  # what the client sees if the app fails before starting a response

        def counted(message: Message) -> Any:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            return send(message)

        stream = path.endswith("/stream")
        if stream:
            self.streams[where] = self.streams.get(where, 0) + 1
        try:
            await self.app(scope, receive, counted)
        finally:
            if stream:
                self.streams[where] -= 1
            self._count(where, scope["method"], status, None if stream else perf_counter() - start)

    def answer_now(self, scope: Scope) -> Answer | None:
        """The protocol-level lane's answer (http/guard.py) of the app within, counted like any other;
        None when the app within has no such lane (CORS around it) or does not answer now."""
        lane = self._lane
        if lane is None:
            return None
        start = perf_counter()
        answer: Answer | None = lane(scope)
        if answer is not None:  # _count inlined: this is the hot GET's path (docs/http.md)
            elapsed = perf_counter() - start
            path: str = scope["path"]
            where = self.seen.get(path) or self._resolve(path)
            requests, key = self.requests, (where, "GET", answer[0])  # the lane answers GETs only
            requests[key] = requests.get(key, 0) + 1
            row = self.latency.get(where) or self._row(where)
            row[bisect_left(BUCKETS, elapsed)] += 1
            row[-1] += elapsed
        return answer

    def _count(self, where: tuple[str, str], method: str, status: int, elapsed: float | None) -> None:
        """One request answered (``elapsed`` None: a stream, whose duration is no latency)."""
        requests = self.requests
        key = (where, method if method in METHODS else "other", status)  # a client's method: bounded
        requests[key] = requests.get(key, 0) + 1
        if elapsed is not None:
            row = self.latency.get(where) or self._row(where)
            row[bisect_left(BUCKETS, elapsed)] += 1
            row[-1] += elapsed

    def _row(self, where: tuple[str, str]) -> list[float]:
        row = self.latency[where] = [0.0] * (len(BUCKETS) + 2)
        return row

    def _resolve(self, path: str) -> tuple[str, str]:
        """The (dialect, template) of ``path``, remembered: a polled GET repeats its path, so the next
        lookup is one dict read. The memory is bounded (cleared when full) against random paths."""
        where = (self.index or self._index()).lookup(path)
        if len(self.seen) >= SEEN_PATHS:
            self.seen.clear()
        self.seen[path] = where
        return where

    def passings(self, inserted: int, duplicates: int) -> None:
        """A batch of passings was stored (``inserted`` new, ``duplicates`` repeats)."""
        self.passings_ingested += inserted
        self.passings_duplicate += duplicates


class Collector:
    """Reads ``Metrics`` and the runtime at scrape time (prometheus-client's custom collector)."""

    def __init__(self, metrics: Metrics, runtime: Parts, lag: Callable[[], int]) -> None:
        self.metrics, self.runtime, self.lag = metrics, runtime, lag

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        requests = CounterMetricFamily("sessionhub_http_requests", "HTTP requests answered, by route template "
                                       "and status", labels=["dialect", "route", "method", "status"])
        for ((dialect, route), method, status), count in list(m.requests.items()):
            requests.add_metric([dialect, route, method, str(status)], count)
        yield requests
        latency = HistogramMetricFamily("sessionhub_http_request_duration_seconds", "Time from a request's "
                                        "arrival to its last byte (streams left out)", labels=["dialect", "route"])
        for (dialect, route), row in list(m.latency.items()):
            total, buckets = 0.0, []
            for bound, n in zip((*map(str, BUCKETS), "+Inf"), row[:-1], strict=True):
                total += n
                buckets.append((bound, total))
            latency.add_metric([dialect, route], buckets, row[-1])
        yield latency
        streams = GaugeMetricFamily("sessionhub_http_streams_open", "Server-Sent Event streams open now",
                                    labels=["dialect", "route"])
        for (dialect, route), count in list(m.streams.items()):
            streams.add_metric([dialect, route], count)
        yield streams
        yield GaugeMetricFamily("sessionhub_live_subscriptions", "Subscriptions on the change hub (streams and "
                                "held long-polls)", value=self.runtime.hub.subscriber_count)
        yield GaugeMetricFamily("sessionhub_coap_observers", "CoAP observers of /v1/notify and the paging "
                                "resources", value=self.runtime.coap_observers())
        yield CounterMetricFamily("sessionhub_passings_ingested", "Passings stored (repeats not counted)",
                                  value=m.passings_ingested)
        yield CounterMetricFamily("sessionhub_passings_duplicate", "Passings received again and only counted",
                                  value=m.passings_duplicate)
        yield GaugeMetricFamily("sessionhub_change_feed_lag", "Changes committed to the store that this process "
                                "has not published yet (read at scrape)", value=self.lag())


class Exposition:
    """``GET /metrics``: one registry per app (the collector above and the process collectors)."""

    def __init__(self, metrics: Metrics, runtime: Parts) -> None:
        self.runtime = runtime
        self._lag = 0
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(Collector(metrics, runtime, lambda: self._lag))
        self.registry.register(WebhookCollector(lambda: runtime.webhook_stats))
        for extra in (ProcessCollector, PlatformCollector, GCCollector):
            extra(registry=self.registry)

    def routes(self) -> list[BaseRoute]:
        return [Route("/metrics", self.endpoint, methods=["GET"])]

    @docs.op("Prometheus metrics (text exposition format)", "text", media=TEXT, errors=())
    async def endpoint(self, request: Request) -> Response:
        try:
            self._lag = max(0, await self.runtime.store.last_seq() - self.runtime.hub.last_seq)
        except Exception:  # the store is down: /readyz says so; the metrics still answer
            self._lag = 0
        return Response(generate_latest(self.registry), headers={"content-type": CONTENT_TYPE_LATEST})
