"""Reading request input: bodies under a size limit, JSON into typed structs (``decode``, shared
with the CoAP adapter from ``service.decoding``), query parameters.

Everything here raises the core's ``InvalidInput`` (naming the field) or ``PayloadTooLarge``;
the dialect's error boundary renders them.
"""

from __future__ import annotations

import re

from starlette.requests import Request

from sessionhub.core.clock import parse_iso
from sessionhub.core.errors import InvalidInput, PayloadTooLarge
from sessionhub.service.decoding import decode

__all__ = ["MAX_BODY", "decode", "query_int", "query_time", "read_body"]

MAX_BODY = 16 * 1024 * 1024
"""Bodies above 16 MiB are refused with 413 before they are read whole."""


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The whole body, or PayloadTooLarge as soon as it (or its announced length) passes ``limit``."""
    announced = request.headers.get("content-length")
    if announced is not None and announced.isascii() and announced.isdigit() and int(announced) > limit:
        raise PayloadTooLarge(f"request body is over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def query_int(request: Request, name: str, low: int = 0, high: int = 2**53) -> int | None:
    """An optional integer query parameter within [low, high]."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not re.fullmatch(r"-?\d{1,19}", raw):
        raise InvalidInput(f"{name} must be an integer", name)
    value = int(raw)
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}", name)
    return value


def query_time(request: Request, name: str) -> int | None:
    """An optional ISO-8601 date-time query parameter, in ms."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_iso(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a date-time like 2023-02-03T16:08:18.263Z", name) from None
