"""JSON request bodies into typed structs, for every adapter: one decoder per type, and errors
that name the failing field.

Every failure is the core's ``InvalidInput`` with a message an API client can act on and, where
msgspec names one, the field's path (``passings_list[3].timestamp``) as ``InvalidInput.field``.
"""

from __future__ import annotations

import re
from typing import TypeVar

import msgspec

from sessionhub.core.errors import InvalidInput

T = TypeVar("T")
_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_FIELD = re.compile(r"field `(?P<name>[^`]+)`")
_decoders: dict[type, msgspec.json.Decoder[object]] = {}


def decode(data: bytes, into: type[T]) -> T:
    """Decode JSON ``data`` into ``into``; a malformed or invalid document is an InvalidInput."""
    decoder = _decoders.get(into)
    if decoder is None:
        decoder = _decoders[into] = msgspec.json.Decoder(into)
    try:
        return decoder.decode(data)  # type: ignore[return-value]
    except msgspec.ValidationError as exc:
        if "got `float`" in str(exc):  # 3.0 is the integer 3 in JSON Schema (and JavaScript): try again as such
            try:
                return msgspec.convert(_integral(msgspec.json.decode(data)), into)
            except msgspec.ValidationError as again:
                exc = again
            except msgspec.DecodeError as bad:  # the typed decoder stopped at the float, before the bad part
                raise InvalidInput(f"malformed JSON: {bad}") from None
        raise InvalidInput(*describe(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"malformed JSON: {exc}") from None
    except UnicodeDecodeError:  # msgspec raises it, not DecodeError, for bad UTF-8 inside a string
        raise InvalidInput("malformed JSON: a string is not valid UTF-8") from None


def _integral(doc: object) -> object:
    """``doc`` with every float that is a whole number turned into an int."""
    if isinstance(doc, float) and doc.is_integer():
        return int(doc)
    if isinstance(doc, list):
        return [_integral(item) for item in doc]
    if isinstance(doc, dict):
        return {k: _integral(v) for k, v in doc.items()}
    return doc


def describe(message: str) -> tuple[str, str | None]:
    """(message, field path) from a msgspec validation message."""
    at = _AT.search(message)
    path = at.group("path").lstrip(".") if at else ""
    text = message[: at.start()] if at else message
    named = _FIELD.search(text)
    if named and ("missing required" in text or "unknown field" in text):
        path = f"{path}.{named.group('name')}" if path else named.group("name")
    return f"{text}{f' at {path}' if path else ''}", path or None
