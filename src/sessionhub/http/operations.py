"""What an operator and a client's developer expect of an HTTP service, beside the dialects:

- ``GET /openapi.json``: the OpenAPI 3.1 document of every route (http/openapi.py), built once, on
  first request, from the routes the app serves;
- ``GET /docs``: the same document as a readable page, rendered here on the server (http/reference.py:
  no script, no asset from anywhere else);
- ``GET /healthz``: the process is up and serving (no store access: a liveness probe must not fail
  because the database is slow);
- ``GET /readyz``: the store answers and its schema is this build's; 503 with the reason otherwise,
  within ``READY_TIMEOUT`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from sessionhub.http import reference
from sessionhub.http.openapi import HTML, Docs, PlainError, document

if TYPE_CHECKING:
    from sessionhub.service.ports import ManagedStore

log = logging.getLogger("sessionhub.http")

READY_TIMEOUT = 2.0
"""Seconds /readyz waits for the store before it answers 503."""

_encode = msgspec.json.Encoder().encode
docs = Docs("operations", [], PlainError, description="For operators and tools: the API's own description, "
            "health and readiness probes, Prometheus metrics (docs/operations.md).")


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str
    store: str
    """The store's engine (``sqlite`` or ``postgres``)."""
    reason: str | msgspec.UnsetType = msgspec.UNSET
    """Why the store is not ready (only with 503)."""


def version() -> str:
    try:
        return metadata.version("sessionhub")
    except metadata.PackageNotFoundError:
        return "0"


class Operations:
    """The operations endpoints of one app; ``routes_of`` gives the app's whole route table."""

    def __init__(self, store: ManagedStore, routes_of: Callable[[], Sequence[BaseRoute]]) -> None:
        self.store, self.routes_of = store, routes_of
        self._spec: bytes | None = None
        self._page: str | None = None

    def spec(self) -> dict[str, Any]:
        return document(self.routes_of(), title="sessionhub", version=version())

    @docs.op("This OpenAPI 3.1 document", "json", errors=())
    async def openapi(self, request: Request) -> Response:
        if self._spec is None:
            self._spec = _encode(self.spec())
        return Response(self._spec, media_type="application/json")

    @docs.op("The API reference, as a page (rendered from /openapi.json on the server)", "html", media=HTML, errors=())
    async def reference(self, request: Request) -> Response:
        if self._page is None:
            self._page = reference.render(self.spec())
        return HTMLResponse(self._page)

    @docs.op("Liveness: the process is up (never touches the store)", Health, errors=())
    async def healthz(self, request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json", headers={"cache-control": "no-store"})

    @docs.op("Readiness: the store answers and its schema is this build's (503 with the reason otherwise)",
             Readiness, errors=(503,))
    async def readyz(self, request: Request) -> Response:
        engine = self.store.engine
        try:
            await asyncio.wait_for(self._check(), READY_TIMEOUT)
        except Exception as exc:  # any failure means "not ready": say why, keep serving
            reason = "timed out" if isinstance(exc, TimeoutError) else (getattr(exc, "message", None) or str(exc))
            log.warning("not ready: %s", reason)
            body = Readiness("unavailable", engine, reason or type(exc).__name__)
            return Response(_encode(body), 503, media_type="application/json", headers={"cache-control": "no-store"})
        return Response(_encode(Readiness("ok", engine)), media_type="application/json",
                        headers={"cache-control": "no-store"})

    async def _check(self) -> None:
        await self.store.preflight()  # PostgreSQL: a fresh connection and the schema version
        await self.store.last_seq()  # every engine: a read through the store's own connection

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/openapi.json", self.openapi, methods=["GET"]),
            Route("/docs", self.reference, methods=["GET"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
        ]
