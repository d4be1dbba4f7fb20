"""CoAP registries and timing constants (RFC 7252 §12, RFC 7641, RFC 7959), as plain ints."""

from __future__ import annotations

# message types
CON, NON, ACK, RST = 0, 1, 2, 3

# request methods (code class 0)
EMPTY, GET, POST, PUT, DELETE = 0, 1, 2, 3, 4


def code(klass: int, detail: int) -> int:
    """The code byte of ``klass.detail`` (``code(4, 4)`` is 4.04, 0x84)."""
    return klass << 5 | detail


def dotted(value: int) -> str:
    """``"4.04"`` for 0x84."""
    return f"{value >> 5}.{value & 31:02d}"


CREATED, DELETED, VALID, CHANGED, CONTENT = code(2, 1), code(2, 2), code(2, 3), code(2, 4), code(2, 5)
BAD_REQUEST, UNAUTHORIZED, BAD_OPTION, FORBIDDEN, NOT_FOUND = (
    code(4, 0), code(4, 1), code(4, 2), code(4, 3), code(4, 4))
METHOD_NOT_ALLOWED, CONFLICT, REQUEST_ENTITY_TOO_LARGE = code(4, 5), code(4, 9), code(4, 13)
TOO_MANY_REQUESTS = code(4, 29)  # RFC 8516
INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE = code(5, 0), code(5, 3)

# option numbers
IF_MATCH, URI_HOST, ETAG, IF_NONE_MATCH, OBSERVE, URI_PORT = 1, 3, 4, 5, 6, 7
URI_PATH, CONTENT_FORMAT, MAX_AGE, URI_QUERY, ACCEPT = 11, 12, 14, 15, 17
BLOCK2, BLOCK1, SIZE2, SIZE1 = 23, 27, 28, 60

JSON_FORMAT = 50
"""Content-Format application/json."""

# transmission parameters (RFC 7252 §4.8)
ACK_TIMEOUT = 2.0
ACK_RANDOM_FACTOR = 1.5
MAX_RETRANSMIT = 4
EXCHANGE_LIFETIME = 247.0
"""How long a message ID stays meaningful: the deduplication window."""

OBSERVE_MAX = 1 << 24
"""Observe sequence numbers are 24 bits and wrap."""
