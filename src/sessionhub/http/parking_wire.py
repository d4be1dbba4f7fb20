"""The Coord Parking Access wire format: request structs, the session body, and the error table.

A session renders exactly as Coord's examples: ``id``, ``start_time``, ``end_time``, ``user_id``,
``location_id``, ``billing_info {cost {amount, currency}}`` (amount in minor units) and
``redemption_info {barcode}``, times in UTC with milliseconds and ``Z``; a field without a value
is left out, never sent as null. Errors are Coord's ``Error {code, message}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from sessionhub.core import errors as E
from sessionhub.core.clock import iso_ms
from sessionhub.core.parking import MAX_SIMULATED_MINUTES, Barcode, Location, ParkingSession, Vehicle

Id = Annotated[int, Meta(ge=1, le=2**63 - 1)]


class CreateSession(msgspec.Struct, forbid_unknown_fields=True):
    user_id: uuid.UUID | None = None
    redemption: Literal["barcode", "instant"] | None = None
    """sessionhub's override of the location's kind: ``barcode`` (pending, for the gate) or ``instant``."""

    @property
    def barcode(self) -> bool | None:
        return None if self.redemption is None else self.redemption == "barcode"


class CreateBarcode(msgspec.Struct, forbid_unknown_fields=True):
    user_id: uuid.UUID | None = None
    location_id: Id | None = None


class Scan(msgspec.Struct, forbid_unknown_fields=True):
    """A gate's read: a ``barcode`` scanned, or a licence ``plate`` its camera read (exactly one)."""

    direction: Literal["entry", "exit"]
    barcode: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    plate: Annotated[str, Meta(min_length=1, max_length=32)] | None = None


class LicensePlate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Coord's Users API ``license_plate``."""

    text: Annotated[str, Meta(min_length=1, max_length=32)]
    # what core.parking.new_vehicle accepts, said in the schema (http/openapi.py)
    country: Annotated[str, Meta(max_length=2, pattern="^[A-Za-z]{2}$")] | None = None
    subdivision: Annotated[str, Meta(max_length=8, pattern="^[A-Za-z0-9]{1,8}$")] | None = None


class VehicleIn(msgspec.Struct, forbid_unknown_fields=True):
    """The body of ``PUT /v1/users/user/current/vehicle``."""

    license_plate: LicensePlate


class VehicleOut(msgspec.Struct, omit_defaults=True):
    license_plate: LicensePlate
    plate: str
    """The plate as a gate's camera matches it (upper case, no spaces or dashes)."""


class CurrentUser(msgspec.Struct, omit_defaults=True):
    """``GET /v1/users/user/current``: the user a request names, and their vehicle once set."""

    user_id: str
    vehicle: VehicleOut | None = None


def vehicle_out(v: Vehicle) -> VehicleOut:
    return VehicleOut(LicensePlate(v.text, v.country, v.subdivision), v.plate)


class SimulateRedemption(msgspec.Struct, forbid_unknown_fields=True):
    duration_m: Annotated[int, Meta(ge=0, le=MAX_SIMULATED_MINUTES)]


Uid = Annotated[str, Meta(max_length=256, extra_json_schema={"pattern": r"\S"})]  # non-blank: the handler checks


class CreateJwt(msgspec.Struct, forbid_unknown_fields=True):
    """Coord's Users API body: ``external_uid`` names the user; ``email`` stands in when it is absent."""

    external_uid: Uid | None = None
    email: Uid | None = None


CreateJwtBody = Annotated[CreateJwt, Meta(extra_json_schema={"anyOf": [
    {"required": ["external_uid"], "properties": {"external_uid": {"type": "string"}}},
    {"required": ["email"], "properties": {"email": {"type": "string"}}}]})]
"""CreateJwt as documented: one of the two names the user (the handler answers 400 without either)."""


def external_uid(body: CreateJwt) -> str:
    """The user a create_jwt body names: ``external_uid``, else ``email``."""
    uid = body.external_uid if body.external_uid is not None else body.email
    if uid is None:
        raise E.InvalidInput("external_uid (or email) is required", "external_uid")
    return uid


def session_out(s: ParkingSession) -> dict[str, Any]:
    out: dict[str, Any] = {"id": s.id}
    if s.start_ms is not None:
        out["start_time"] = iso_ms(s.start_ms)
    if s.end_ms is not None:
        out["end_time"] = iso_ms(s.end_ms)
    out["user_id"] = s.user_id
    out["location_id"] = s.location_id
    if s.cost is not None:
        out["billing_info"] = {"cost": {"amount": s.cost, "currency": s.currency}}
    if s.barcode is not None:
        out["redemption_info"] = {"barcode": s.barcode}
    return out


def barcode_out(b: Barcode) -> dict[str, Any]:
    out: dict[str, Any] = {"barcode": b.code, "user_id": b.user_id}
    if b.location_id is not None:
        out["location_id"] = b.location_id
    return out


# Parking Search (/v1/search/parking): Coord's ParkingLocation and ParkingRate, with the fields
# sessionhub has a value for (a field without one is left out, as in the sessions).


class Money(msgspec.Struct):
    amount: int
    """Minor units of ``currency`` (350 = 3.50 USD)."""
    currency: str


class ParkingRate(msgspec.Struct, omit_defaults=True):
    name: str
    rate_type: str
    """``hourly``: ``price_per_hour`` for each started ``increment_m``, capped per 24 h by ``daily_max``."""
    price_per_hour: Money
    increment_m: int
    daily_max: Money | None = None


class ParkingLocation(msgspec.Struct, omit_defaults=True):
    id: int
    name: str
    online_access_type: str
    """``barcode`` (gated: a new session is pending with a barcode for the gate) or ``instant``."""
    created: str
    rates: list[ParkingRate]
    cost: Money | None = None
    """What a stay of the search's ``duration_m`` costs here (only with ``duration_m``)."""
    distance_km: float | None = None
    """From the search's point (only in a search around one), to the metre."""


def location_out(loc: Location, cost: int | None, distance_km: float | None = None) -> ParkingLocation:
    rate = ParkingRate(
        "Hourly rate", "hourly", Money(loc.rate_per_hour, loc.currency), loc.increment_minutes,
        None if loc.daily_max is None else Money(loc.daily_max, loc.currency),
    )
    return ParkingLocation(loc.id, loc.name, loc.access_type.value, iso_ms(loc.created_ms), [rate],
                           None if cost is None else Money(cost, loc.currency),
                           None if distance_km is None else round(distance_km, 3))


def _coord(e: E.SessionhubError) -> dict[str, Any]:
    return {"code": e.code, "message": e.message}


def _internal(e: E.SessionhubError) -> dict[str, Any]:
    return {"code": "internal_error", "message": "internal error"}  # never the exception's text


BODIES: dict[type[E.SessionhubError], Callable[[E.SessionhubError], dict[str, Any]]] = {
    E.SessionhubError: _internal,
    E.InvalidInput: _coord,
    E.PayloadTooLarge: _coord,
    E.Unauthorized: _coord,
    E.Forbidden: _coord,
    E.NotFound: _coord,
    E.DeviceNotFound: _coord,
    E.SessionNotFound: _coord,
    E.SessionsNotFound: _coord,
    E.SessionNotActive: _coord,
    E.EventNotFound: _coord,
    E.ParticipantNotFound: _coord,
    E.LocationNotFound: _coord,
    E.BarcodeNotFound: _coord,
    E.PlateNotFound: _coord,
    E.RouteNotFound: _coord,
    E.Conflict: _coord,
    E.AlreadyExists: _coord,
    E.ParticipantExists: _coord,
    E.IllegalTransition: _coord,
    E.StaleTelemetry: _coord,
    E.MethodNotAllowed: _coord,
    E.RateLimited: _coord,
    E.StoreUnavailable: _coord,
    E.SchemaError: _coord,
}
"""The body of every class of the core's error tree, as the Coord dialect answers it (a test walks the tree)."""


# Response bodies, as structs: the OpenAPI document's schemas (http/openapi.py). The renderers above
# build the same shapes as dicts; tests/http/test_openapi.py holds each renderer to its struct.

class BillingInfo(msgspec.Struct):
    cost: Money


class RedemptionInfo(msgspec.Struct):
    barcode: Annotated[str, Meta(description="what the gate's scanner reads to start and end the session")]


class Session(msgspec.Struct):
    """A parking session; a field without a value is left out, never null."""

    id: int
    user_id: str
    location_id: int
    start_time: str | msgspec.UnsetType = msgspec.UNSET
    end_time: str | msgspec.UnsetType = msgspec.UNSET
    billing_info: BillingInfo | msgspec.UnsetType = msgspec.UNSET
    redemption_info: RedemptionInfo | msgspec.UnsetType = msgspec.UNSET


class BarcodeOut(msgspec.Struct):
    barcode: str
    user_id: str
    location_id: int | msgspec.UnsetType = msgspec.UNSET


class Jwt(msgspec.Struct):
    jwt_token: str


class CoordError(msgspec.Struct):
    """Coord's ``Error {code, message}``; ``code`` is the core's stable error code."""

    code: str
    message: str
