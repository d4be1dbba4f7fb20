"""Block2 (RFC 7959) slicing of a response payload, sans-I/O.

``block`` cuts the requested block (block 0 of 1024 bytes unless the client asks otherwise; never
larger than ``max_szx``, renumbering when it answers a smaller size than asked, as §2.4 allows).
"""

from __future__ import annotations

from sessionhub.coap import numbers as N
from sessionhub.coap.wire import to_uint, uint
from sessionhub.core.errors import InvalidInput

BLOCK_SZX = 6
"""Responses over 1024 bytes go out in Block2 blocks of 1024."""

Options = list[tuple[int, bytes]]


def block(payload: bytes, options: Options, requested: bytes | None, max_szx: int = BLOCK_SZX
          ) -> tuple[bytes, Options]:
    """The requested Block2 block of ``payload`` with its Block2 (and, on block 0, Size2) option.

    Raises:
        InvalidInput: a reserved size exponent, or a block past the end.
    """
    num, szx = 0, BLOCK_SZX
    if requested is not None:
        value = to_uint(requested)
        num, szx = value >> 4, value & 7
        if szx == 7:
            raise InvalidInput("Block2 size exponent 7 is reserved")
        szx = min(szx, BLOCK_SZX)
    start = num * (16 << szx)
    if start and start >= len(payload):
        raise InvalidInput("Block2 asks for a block past the end")
    szx = min(szx, max_szx)
    size = 16 << szx
    num = start // size
    more = start + size < len(payload)
    extra = [(N.BLOCK2, uint(num << 4 | more << 3 | szx))]
    if num == 0:
        extra.append((N.SIZE2, uint(len(payload))))
    return payload[start:start + size], [*options, *extra]
