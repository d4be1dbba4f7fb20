"""The one error tree of sessionhub.

Every failure the core or the service can decide is one of these classes. Each has a stable
machine ``code``; none carries a wire status. Each adapter (the RUFUS and Coord HTTP dialects,
the CoAP paging dialect) keeps one table from class to its wire form, and a test walks this
tree to prove every class has an entry in every table.

    SessionhubError
    ├── InvalidInput            a field is missing, mistyped, unknown or out of range
    ├── PayloadTooLarge         a request body over the limit
    ├── Unauthorized            no key, or a key nobody issued (or one revoked)
    ├── Forbidden               a known key whose access type does not allow the call
    ├── NotFound                a missing object, or one that belongs to another account
    │   ├── DeviceNotFound
    │   ├── SessionNotFound
    │   ├── SessionsNotFound    a device with no (active) session
    │   ├── SessionNotActive    passings sent to a closed or missing session
    │   ├── EventNotFound
    │   ├── ParticipantNotFound
    │   ├── LocationNotFound
    │   ├── BarcodeNotFound
    │   ├── PlateNotFound       a licence plate no user of the account has registered
    │   └── RouteNotFound       a path no dialect serves
    ├── Conflict                the request contradicts the object's state
    │   ├── AlreadyExists       e.g. a serial number bound twice
    │   │   └── ParticipantExists   a participant_id, bib or chip already taken in the event
    │   ├── IllegalTransition   e.g. an exit scan before entry, ending a barcode session
    │   └── StaleTelemetry      a device report older than the one stored
    ├── MethodNotAllowed        a known path with a method it does not take
    ├── RateLimited             too many requests or streams from one key or address; retry later
    └── StoreUnavailable        the database cannot be reached; the request may be retried
        └── SchemaError         the database's schema is not the one this build expects
"""

from __future__ import annotations

from typing import TypeVar

V = TypeVar("V")


class SessionhubError(Exception):
    """Base of every decided failure. ``message`` is safe to show to a client."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(SessionhubError):
    """A request field is missing, mistyped, unknown or out of range. ``field`` names it (JSON path)."""

    code = "invalid_input"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PayloadTooLarge(SessionhubError):
    code = "payload_too_large"


class Unauthorized(SessionhubError):
    code = "unauthorized"


class Forbidden(SessionhubError):
    code = "forbidden"


class NotFound(SessionhubError):
    """An object that does not exist *for this account*: other accounts' objects look the same."""

    code = "not_found"

    def __init__(self, message: str, ident: str | None = None) -> None:
        super().__init__(message)
        self.ident = ident


class DeviceNotFound(NotFound):
    code = "device_not_found"


class SessionNotFound(NotFound):
    code = "session_not_found"


class SessionsNotFound(NotFound):
    code = "sessions_not_found"


class SessionNotActive(NotFound):
    code = "session_not_active"


class EventNotFound(NotFound):
    code = "event_not_found"


class ParticipantNotFound(NotFound):
    code = "participant_not_found"


class LocationNotFound(NotFound):
    code = "location_not_found"


class BarcodeNotFound(NotFound):
    code = "barcode_not_found"


class PlateNotFound(NotFound):
    code = "plate_not_found"


class RouteNotFound(NotFound):
    code = "route_not_found"


class Conflict(SessionhubError):
    code = "conflict"

    def __init__(self, message: str, ident: str | None = None) -> None:
        super().__init__(message)
        self.ident = ident


class AlreadyExists(Conflict):
    code = "already_exists"


class ParticipantExists(AlreadyExists):
    code = "participant_exists"


class IllegalTransition(Conflict):
    code = "illegal_transition"


class StaleTelemetry(Conflict):
    """A device's telemetry report timed at or before the one already stored (RUFUS: "stale telemetry")."""

    code = "stale_telemetry"


class MethodNotAllowed(SessionhubError):
    code = "method_not_allowed"


class RateLimited(SessionhubError):
    """Over a rate or count limit of one key, account or client address. ``retry_after``: whole
    seconds after which a retry can succeed (HTTP sends it as ``Retry-After``)."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreUnavailable(SessionhubError):
    code = "store_unavailable"


class SchemaError(StoreUnavailable):
    """The database's schema is behind or ahead of this build; the message says what to run. A
    server refuses to start on it, so clients meet it only as a 503 from a store that changed under it."""

    code = "schema_mismatch"


def error_classes() -> list[type[SessionhubError]]:
    """Every class of the tree, the root included, parents before children."""
    out: list[type[SessionhubError]] = []
    todo: list[type[SessionhubError]] = [SessionhubError]
    while todo:
        cls = todo.pop(0)
        out.append(cls)
        todo.extend(cls.__subclasses__())
    return out


def lookup(table: dict[type[SessionhubError], V], exc: SessionhubError) -> V:
    """The entry of ``table`` for ``exc``: its own class's, else the nearest ancestor's (MRO walk)."""
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    raise KeyError(type(exc).__name__)
