"""Where each dialect's requests carry their key, said once, on the raw ASGI scope.

The full stack and the fast lanes (http/fastpath.py) read a key through the same rule, so they can
never disagree about who is asking. Header names are lower case; a header's first occurrence counts
and an empty value counts as absent (as ``headers.get(a) or headers.get(b)`` had it); a query
parameter's last occurrence counts, decoded as Starlette's ``QueryParams`` decodes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.datastructures import QueryParams
from starlette.types import Scope

RawKeyOf = Callable[[Scope], str | None]


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of request header ``name`` (lower case), decoded as latin-1."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def query(scope: Scope, name: str) -> str | None:
    """The last ``name=`` of the query string, decoded."""
    raw: bytes = scope["query_string"]
    prefix = name.encode() + b"="
    if prefix not in raw:
        return QueryParams(raw).get(name) if name.encode() in raw else None
    found = None
    for part in raw.split(b"&"):
        if part.startswith(prefix):
            found = part[len(prefix):]
    if found is None or b"%" in found or b"+" in found:  # needs decoding (or was not where we looked)
        return QueryParams(raw).get(name)
    return found.decode("latin-1")


def rule(headers: Sequence[bytes] = (), params: Sequence[str] = ()) -> RawKeyOf:
    """The first non-empty of ``headers`` (in order), then of query ``params`` (in order)."""

    def key_of(scope: Scope) -> str | None:
        for name in headers:
            value = header(scope, name)
            if value:
                return value
        for param in params:
            value = query(scope, param)
            if value:
                return value
        return None

    return key_of


RUFUS = rule(headers=(b"api_key", b"x-api-key"))
"""RUFUS: the ``api_key`` header, or its alternate ``x-api-key``."""
RUFUS_STREAM = rule(headers=(b"api_key", b"x-api-key"), params=("api_key",))
"""A RUFUS stream: also ``?api_key=`` (a browser's EventSource cannot set headers)."""
COORD = rule(params=("access_key",))
"""Coord: the ``access_key`` query parameter."""
PAGING_STREAM = rule(headers=(b"api_key", b"x-api-key"), params=("access_key", "api_key"))
"""The paging stream for screens: either dialect's way."""
