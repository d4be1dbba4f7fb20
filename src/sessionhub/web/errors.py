"""The console's one table from the core's error tree to a page: an HTTP status and a heading.

The message shown is the error's own (``SessionhubError.message`` is safe to show); the console
never words a refusal itself. A test walks the tree so every class has an entry here too.
"""

from __future__ import annotations

from sessionhub.core import errors as E
from sessionhub.core.errors import SessionhubError

CONSOLE_ERRORS: dict[type[SessionhubError], tuple[int, str]] = {
    E.SessionhubError: (500, "Something went wrong"),
    E.InvalidInput: (400, "Check the form"),
    E.PayloadTooLarge: (413, "Too much at once"),
    E.Unauthorized: (401, "Sign in first"),
    E.Forbidden: (403, "Your key may not do this"),
    E.NotFound: (404, "Not found"),
    E.DeviceNotFound: (404, "No such device"),
    E.SessionNotFound: (404, "No such session"),
    E.SessionsNotFound: (404, "No sessions yet"),
    E.SessionNotActive: (404, "That session is closed"),
    E.LocationNotFound: (404, "No such location"),
    E.BarcodeNotFound: (404, "Unknown barcode"),
    E.RouteNotFound: (404, "No such page"),
    E.EventNotFound: (404, "No such event"),
    E.ParticipantNotFound: (404, "No such participant"),
    E.PlateNotFound: (404, "No such plate"),
    E.Conflict: (409, "That clashes with what is there"),
    E.AlreadyExists: (409, "That exists already"),
    E.IllegalTransition: (409, "Not possible right now"),
    E.StaleTelemetry: (409, "An older report than the device's latest"),
    E.ParticipantExists: (409, "That participant exists already"),
    E.MethodNotAllowed: (405, "Not here"),
    E.StoreUnavailable: (503, "The database is busy; try again"),
    E.SchemaError: (503, "The database needs a migration"),
    E.RateLimited: (429, "Too many requests; wait a moment"),
}
