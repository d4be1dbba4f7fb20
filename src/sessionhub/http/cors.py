"""CORS, for browser pages on other origins (``--cors-origin``): Starlette's CORSMiddleware, configured
for the dialects' keys.

Off by default: without a configured origin no CORS header is ever sent, so a browser keeps other
origins' pages out. With origins (or ``*``), preflights are answered for the dialects' methods and
for the headers their clients send — the keys (``api_key``, ``x-api-key``), the user's
``Authorization: Bearer`` JWT, ``If-None-Match`` for conditional GETs, ``Last-Event-ID`` and
``Content-Type`` — and ``ETag`` is exposed, so a page can poll conditionally. Credentials (cookies)
are never allowed: every key travels in a header or the query string, which CORS does not need to
vouch for.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from sessionhub.config import check_origin

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
HEADERS = ("api_key", "x-api-key", "authorization", "if-none-match", "last-event-id", "content-type")
EXPOSED = ("ETag",)
MAX_AGE = 600
"""Seconds a browser may cache a preflight's answer."""


def with_cors(app: ASGIApp, origins: Sequence[str]) -> ASGIApp:
    """``app`` answering CORS for ``origins`` (``app`` itself when there are none)."""
    if not origins:
        return app
    return CORSMiddleware(app, allow_origins=[check_origin(o) for o in origins], allow_methods=METHODS,
                          allow_headers=HEADERS, expose_headers=EXPOSED, max_age=MAX_AGE)
