"""The LRS T7470 wire format: request bodies, the response envelope, sessions, statistics, settings.

Bodies are compact JSON. The envelope fields come first, in the order of the vendor's examples
(``responseTypes``, ``globalSessionSequence``, ``timestamp``, ``deviceName``, ``firmwareVersion``),
then the sections ``responseTypes`` names. Timestamps are station-local, ``2018-03-15T11:50:27``.
Fields a session does not have yet (``notified``, ``cleared``) are left out, as in the examples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from sessionhub.core import errors as E
from sessionhub.core.paging import KEEP, Fields, GuestSession, Keep, Station, Statistics, local_iso
from sessionhub.core.paging_wire import session_dict
from sessionhub.service import decoding

DEVICE_NAME = "T7470"
FIRMWARE_VERSION = "8.4.100.43"
"""The version the vendor's examples show, so clients that gate features on it keep working."""

MAX_BODY = 1024
"""Request bodies are a few dozen bytes; anything over a block is refused (4.13)."""

T = TypeVar("T")
_encode = msgspec.json.Encoder().encode
_TAIL = f'"deviceName":"{DEVICE_NAME}","firmwareVersion":"{FIRMWARE_VERSION}"'.encode()


# requests --------------------------------------------------------------------------------------


class SessionIn(msgspec.Struct):
    """``POST /v1/sessions`` (``number`` required there) and ``PUT /v1/sessions?number=``."""

    number: int | UnsetType = UNSET
    goal: int | UnsetType = UNSET
    label: str | None | UnsetType = UNSET
    partySize: int | UnsetType = UNSET
    action: str | None = None
    pageMode: str | None = None

    def fields(self) -> Fields:
        return Fields(_keep(self.goal), _keep(self.label), _keep(self.partySize))


class PageIn(msgspec.Struct):
    number: int
    pageMode: str | None = None
    message: str | None = None
    systemId: int | None = None


class SettingsIn(msgspec.Struct):
    datetime: str | None = None
    systemId: int | None = None
    defaultTargetGoal: int | None = None
    statisticsClearMark: int | None = None


def _keep(value: T | UnsetType) -> T | Keep:
    return KEEP if isinstance(value, UnsetType) else value


def decode(payload: bytes, into: type[T]) -> T:
    """A request body into ``into``. An empty body is ``{}``. Lenient in what it accepts: whitespace
    and newlines anywhere JSON allows them (pretty-printed bodies), and unknown fields (ignored).

    Raises:
        InvalidInput: malformed, or not matching ``into`` (``service.decoding``: the message and
            ``field`` name the failing field).
        PayloadTooLarge: over MAX_BODY bytes.
    """
    if len(payload) > MAX_BODY:
        raise E.PayloadTooLarge(f"request body is over {MAX_BODY} bytes")
    return decoding.decode(payload or b"{}", into)


# responses -------------------------------------------------------------------------------------


def head(types: bytes, station: Station, local_ms: int) -> bytes:
    """The envelope up to (excluding) the sections: ``{"responseTypes":[..],...,"firmwareVersion":".."``.

    ``types`` is the JSON array, e.g. ``b'["sessions"]'``.
    """
    return (b'{"responseTypes":' + types + b',"globalSessionSequence":' + str(station.global_seq).encode()
            + b',"timestamp":"' + local_iso(local_ms).encode() + b'",' + _TAIL)


def session_json(s: GuestSession) -> bytes:
    return _encode(session_dict(s))


def sessions_json(sessions: list[GuestSession]) -> bytes:
    """The sessions as comma-joined objects, without brackets (spliced into envelopes)."""
    return b",".join(_encode(session_dict(s)) for s in sessions)


def statistics_json(st: Statistics) -> bytes:
    return _encode({
        "guestsServed": st.guests_served, "percentLate": st.percent_late, "percentOnTime": st.percent_on_time,
        "averageTimeServed": st.average_time_served, "numSessions": st.num_sessions,
    })


def settings_json(station: Station, local_ms: int) -> bytes:
    s = station.settings
    return _encode({"datetime": local_iso(local_ms), "systemId": s.system_id, "defaultTargetGoal": s.default_goal_s,
                    "statisticsClearMark": s.stats_clear_mark})


SESSIONS = b'["sessions"]'
SESSIONS_STATS = b'["sessions","statistics"]'


def sessions_body(envelope: bytes, sessions: bytes, statistics: bytes | None = None) -> bytes:
    """``envelope`` + the sessions array (+ statistics) + the closing brace."""
    out = envelope + b',"sessions":[' + sessions + b"]"
    if statistics is not None:
        out += b',"statistics":' + statistics
    return out + b"}"


def section_body(envelope: bytes, name: bytes, section: bytes) -> bytes:
    return envelope + b',"' + name + b'":' + section + b"}"


def history_body(envelope: bytes, sessions: list[GuestSession]) -> bytes:
    items = b",".join(_encode(session_dict(s, history=True)) for s in sessions)
    return envelope + b',"session_history":[' + items + b"]}"


def error_body(error: E.SessionhubError) -> bytes:
    """``{"error": {"code": ..., "message": ...}}``: the payload of every error response."""
    return error_json(error.code, error.message)


def error_json(code: str, message: str) -> bytes:
    """The error payload for a protocol-level refusal that is not a core error (4.02, 4.29)."""
    return _encode({"error": {"code": code, "message": message}})


Render = Callable[[GuestSession], bytes]
