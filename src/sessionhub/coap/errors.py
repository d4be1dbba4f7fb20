"""The CoAP error table: every class of the core's error tree -> a response code.

The payload is always ``lrs.error_body`` (``{"error": {"code", "message"}}``, Content-Format 50).
Anything that is not a core error is an internal error: 5.00 on the wire, a traceback in the log.
"""

from __future__ import annotations

from sessionhub.coap import numbers as N
from sessionhub.core import errors as E
from sessionhub.core.errors import SessionhubError, lookup

COAP_CODE: dict[type[SessionhubError], int] = {
    E.SessionhubError: N.INTERNAL_SERVER_ERROR,
    E.InvalidInput: N.BAD_REQUEST,
    E.PayloadTooLarge: N.REQUEST_ENTITY_TOO_LARGE,
    E.Unauthorized: N.UNAUTHORIZED,
    E.Forbidden: N.FORBIDDEN,
    E.NotFound: N.NOT_FOUND,
    E.DeviceNotFound: N.NOT_FOUND,
    E.SessionNotFound: N.NOT_FOUND,
    E.SessionsNotFound: N.NOT_FOUND,
    E.SessionNotActive: N.NOT_FOUND,
    E.EventNotFound: N.NOT_FOUND,
    E.ParticipantNotFound: N.NOT_FOUND,
    E.LocationNotFound: N.NOT_FOUND,
    E.BarcodeNotFound: N.NOT_FOUND,
    E.PlateNotFound: N.NOT_FOUND,
    E.RouteNotFound: N.NOT_FOUND,
    E.Conflict: N.CONFLICT,
    E.AlreadyExists: N.CONFLICT,
    E.ParticipantExists: N.CONFLICT,
    E.IllegalTransition: N.CONFLICT,
    E.StaleTelemetry: N.CONFLICT,
    E.MethodNotAllowed: N.METHOD_NOT_ALLOWED,
    E.RateLimited: N.TOO_MANY_REQUESTS,
    E.StoreUnavailable: N.SERVICE_UNAVAILABLE,
    E.SchemaError: N.SERVICE_UNAVAILABLE,
}
"""The code of every class of the core's error tree (a test walks the tree)."""


def coap_code(error: SessionhubError) -> int:
    return lookup(COAP_CODE, error)
