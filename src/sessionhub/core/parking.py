"""Parking access: locations with rates, sessions, barcodes, and what a stay costs.

Theory of operation. An account owns *locations*; each has an hourly rate in minor units of its
currency, a billing increment (minutes, dividing a day) and an optional daily maximum. A
*session* is one stay of one user at one location. It is created either *started* at once, or
*pending* with a barcode the user shows at the gate. Its state is read off its times:

    pending  --ENTRY (gate scan)------------------> started
    pending  --REDEEM (testing: in and out now)---> ended
    started  --EXIT (gate scan, barcode sessions)-> ended
    started  --END (app, sessions without barcode)> ended

Every move goes through ``fire``, which looks the move up in one transition table and raises
IllegalTransition for anything else: a second entry, an exit before entry, the app ending a
barcode session (its checkout is physical) or ending a session twice. Ending bills the stay.

A *user barcode* (``POST /barcode``) is a pass, not a session: scanned at entry it opens a new
started session for its user, scanned at exit it ends that session. A user has at most one
active (pending or started) session per account, as the reference's listings say.

Billing: cost = started increments x (rate per increment), capped per 24 h (from the start) by the
daily maximum. A stay of 0 ms costs 0; one ms into an increment starts it. Each 24 h window is
priced on its own and rounded up to a whole minor unit, so a fractional rate per increment (350
per hour in 15-minute increments is 87.5) never undercharges: 1 increment 88, 2 increments 175.

What this module does not do: storage, ids or barcodes (random tokens are passed in), the clock
(``now_ms`` passed in), wire formats, JWTs.
"""

from __future__ import annotations

import enum
import math
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace

from sessionhub.core.errors import AlreadyExists, IllegalTransition, InvalidInput

DAY_MS = 24 * 3600 * 1000
MINUTE_MS = 60 * 1000
MAX_AMOUNT = 10**12
"""Rates and daily maxima above this (in minor units) are refused as typos."""
MAX_SIMULATED_MINUTES = 366 * 24 * 60
"""The longest stay ``simulate_redemption`` makes up: a year."""
BARCODE_DIGITS = 20
"""Barcodes are 20 decimal digits: printable in every 1D symbology (Code 128, ITF) and in QR."""

_CURRENCY = re.compile(r"[A-Z]{3}")
_USER_NAMESPACE = uuid.UUID("6f1c1d39-3a8e-5a52-9d43-5e7b0d6b1a11")


class AccessType(enum.StrEnum):
    """Coord's ``online_access_type`` of a location: how an app's new session starts there."""

    BARCODE = "barcode"
    """Gated: a new session is pending with a barcode until the gate scans it in."""
    INSTANT = "instant"
    """Open: a new session starts at once."""


class State(enum.StrEnum):
    PENDING = "pending"
    STARTED = "started"
    ENDED = "ended"


class Event(enum.StrEnum):
    ENTRY = "entry"
    EXIT = "exit"
    END = "end"
    REDEEM = "redeem"


@dataclass(frozen=True, slots=True)
class Location:
    id: int
    account_id: int
    name: str
    rate_per_hour: int
    currency: str
    increment_minutes: int = 15
    daily_max: int | None = None
    created_ms: int = 0
    seq: int = 0
    gated: bool = False
    """A gate scans barcodes here: new sessions are pending with one (AccessType.BARCODE)."""
    latitude: float | None = None
    longitude: float | None = None
    """Where it is (WGS 84 degrees), both or neither: what a search around a point finds it by."""

    @property
    def access_type(self) -> AccessType:
        return AccessType.BARCODE if self.gated else AccessType.INSTANT


@dataclass(frozen=True, slots=True)
class ParkingSession:
    id: int
    account_id: int
    location_id: int
    user_id: str
    barcode: str | None
    start_ms: int | None
    end_ms: int | None
    cost: int | None
    currency: str | None
    created_ms: int
    seq: int = 0

    @property
    def state(self) -> State:
        if self.start_ms is None:
            return State.PENDING
        return State.STARTED if self.end_ms is None else State.ENDED

    @property
    def active(self) -> bool:
        return self.end_ms is None


@dataclass(frozen=True, slots=True)
class Barcode:
    """A barcode as stored: a session's (``session_id`` set) or a user's pass (``session_id`` None)."""

    code: str
    account_id: int
    user_id: str
    location_id: int | None
    session_id: int | None
    created_ms: int


# (has a barcode, state, event) -> next state. Nothing else is allowed.
TRANSITIONS: dict[tuple[bool, State, Event], State] = {
    (True, State.PENDING, Event.ENTRY): State.STARTED,
    (True, State.PENDING, Event.REDEEM): State.ENDED,
    (True, State.STARTED, Event.EXIT): State.ENDED,
    (False, State.STARTED, Event.END): State.ENDED,
}

_REFUSALS: dict[tuple[State, Event], str] = {
    (State.STARTED, Event.ENTRY): "the session has already entered",
    (State.ENDED, Event.ENTRY): "the session has already ended",
    (State.PENDING, Event.EXIT): "exit before entry: the session has not started",
    (State.ENDED, Event.EXIT): "the session has already ended",
    (State.ENDED, Event.END): "the session has already ended",
    (State.ENDED, Event.REDEEM): "the session has already ended",
    (State.STARTED, Event.REDEEM): "the session has already started",
}


# locations -----------------------------------------------------------------------------------


def new_location(
    account_id: int, name: str, rate_per_hour: int, currency: str, increment_minutes: int = 15,
    daily_max: int | None = None, now_ms: int = 0, gated: bool = False,
    latitude: float | None = None, longitude: float | None = None,
) -> Location:
    """A valid location (id 0 until stored).

    Raises:
        InvalidInput: empty name; negative or absurd amounts; a currency not of three capital
            letters; an increment that is not a whole divisor of a day (1..1440 minutes);
            one coordinate without the other, or one out of range.
    """
    check_point(latitude, longitude)
    name = name.strip()
    if not name or len(name) > 256:
        raise InvalidInput("name must be 1 to 256 characters", "name")
    if not 0 <= rate_per_hour <= MAX_AMOUNT:
        raise InvalidInput(f"rate must be between 0 and {MAX_AMOUNT} minor units per hour", "rate")
    if not _CURRENCY.fullmatch(currency):
        raise InvalidInput("currency must be an ISO 4217 code such as USD", "currency")
    if not 1 <= increment_minutes <= 1440 or 1440 % increment_minutes:
        raise InvalidInput("increment_minutes must divide a day (1440 minutes), e.g. 15", "increment_minutes")
    if daily_max is not None and not 0 <= daily_max <= MAX_AMOUNT:
        raise InvalidInput(f"daily max must be between 0 and {MAX_AMOUNT} minor units", "daily_max")
    return Location(0, account_id, name, rate_per_hour, currency, increment_minutes, daily_max, now_ms, 0, gated,
                    latitude, longitude)


EARTH_RADIUS_KM = 6371.0088
"""The mean Earth radius (IUGG): a haversine distance with it is within 0.5% of the ellipsoid's."""
MAX_RADIUS_KM = 100.0
"""A search wider than this is refused: a partner app looks around a place, not a country."""
DEFAULT_RADIUS_KM = 5.0
"""The radius of a search around a point that names none: a few minutes' drive in a city."""


@dataclass(frozen=True, slots=True)
class Area:
    """A circle on the Earth: what a search around a point covers."""

    latitude: float
    longitude: float
    radius_km: float = DEFAULT_RADIUS_KM


def check_point(latitude: float | None, longitude: float | None) -> None:
    """Raises InvalidInput unless both are None or both are finite degrees in range."""
    if (latitude is None) != (longitude is None):
        raise InvalidInput("latitude and longitude go together", "latitude" if latitude is None else "longitude")
    if latitude is not None and not (math.isfinite(latitude) and -90.0 <= latitude <= 90.0):
        raise InvalidInput("latitude must be from -90 to 90", "latitude")
    if longitude is not None and not (math.isfinite(longitude) and -180.0 <= longitude <= 180.0):
        raise InvalidInput("longitude must be from -180 to 180", "longitude")


def area(latitude: float | None, longitude: float | None, radius_km: float | None) -> Area | None:
    """The area a search names (None: no point, so every location); ``radius_km`` needs the point.

    Raises:
        InvalidInput: a coordinate without the other, out of range, or a radius out of 0..MAX_RADIUS_KM.
    """
    check_point(latitude, longitude)
    if radius_km is not None and not (math.isfinite(radius_km) and 0.0 <= radius_km <= MAX_RADIUS_KM):
        raise InvalidInput(f"radius_km must be from 0 to {MAX_RADIUS_KM:g}", "radius_km")
    if latitude is None or longitude is None:
        if radius_km is not None:
            raise InvalidInput("radius_km needs latitude and longitude", "radius_km")
        return None
    return Area(latitude, longitude, DEFAULT_RADIUS_KM if radius_km is None else radius_km)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle (haversine) distance between two points, in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def within(locations: Iterable[Location], where: Area) -> list[tuple[Location, float]]:
    """The locations inside ``where`` with their distance from its centre, nearest first (ties by id);
    a location without coordinates is in no area."""
    found = [(loc, distance_km(where.latitude, where.longitude, loc.latitude, loc.longitude))
             for loc in locations if loc.latitude is not None and loc.longitude is not None]
    return sorted(((loc, d) for loc, d in found if d <= where.radius_km), key=lambda pair: (pair[1], pair[0].id))


def with_rates(location: Location, rate_per_hour: int, increment_minutes: int, daily_max: int | None) -> Location:
    """``location`` priced anew (an admin's edit), checked as ``new_location`` checks. The currency
    stays: sessions already running are priced in it. The new rates price every stay that ends
    from now on, running ones included (a garage's tariff board is what applies at the exit).

    Raises:
        InvalidInput: as ``new_location``.
    """
    new_location(location.account_id, location.name, rate_per_hour, location.currency, increment_minutes, daily_max)
    return replace(location, rate_per_hour=rate_per_hour, increment_minutes=increment_minutes, daily_max=daily_max)


def takes_barcode(location: Location, barcode: bool | None) -> bool:
    """Whether a new session at ``location`` is pending with a barcode: the request's override when
    it names one (sessionhub's ``redemption``), else the location's kind (gated: yes, open: no), so an
    unchanged Coord client at a gated garage gets a barcode without sending anything new."""
    return location.gated if barcode is None else barcode


def cost(location: Location, start_ms: int, end_ms: int) -> int:
    """What a stay from ``start_ms`` to ``end_ms`` costs at ``location``, in minor units.

    Started increments x rate per increment, each 24 h window from the start priced on its own,
    rounded up to a whole minor unit and capped by the daily maximum. A stay of 0 (or a negative
    span, from a clock step) costs 0.
    """
    stay = max(0, end_ms - start_ms)
    full_days, rest = divmod(stay, DAY_MS)
    total = full_days * _window_cost(location, DAY_MS)
    return total + (_window_cost(location, rest) if rest else 0)


def _window_cost(location: Location, span_ms: int) -> int:
    step = location.increment_minutes * MINUTE_MS
    increments = -(-span_ms // step)
    # increments x rate/hour x increment/60, rounded up: exact in integers, no float drift.
    price = -(-(increments * location.rate_per_hour * location.increment_minutes) // 60)
    return price if location.daily_max is None else min(price, location.daily_max)


# sessions ------------------------------------------------------------------------------------


def new_session(
    location: Location, user_id: str, now_ms: int, barcode: str | None = None, *, started: bool = True
) -> ParkingSession:
    """A session of ``user_id`` at ``location`` (id 0 until stored).

    Without ``barcode`` it starts at ``now_ms``. With one, it is pending (``started=False``: the
    user will scan it at the gate) or started now (``started=True``: a user barcode scanned at entry).
    """
    start = now_ms if barcode is None or started else None
    return ParkingSession(0, location.account_id, location.id, user_id, barcode, start, None, None, None, now_ms)


def fire(
    session: ParkingSession, event: Event, location: Location, now_ms: int, duration_ms: int = 0
) -> ParkingSession:
    """``session`` after ``event`` at ``now_ms``; ending moves bill the stay at ``location``'s rate.

    ``duration_ms`` is the made-up stay of REDEEM (in now, out ``duration_ms`` later).

    Raises:
        IllegalTransition: the transition table has no such move (see the module docstring).
    """
    has_barcode = session.barcode is not None
    target = TRANSITIONS.get((has_barcode, session.state, event))
    if target is None:
        raise IllegalTransition(_refusal(session, event), str(session.id))
    if target is State.STARTED:
        return replace(session, start_ms=now_ms)
    start = now_ms if session.start_ms is None else session.start_ms
    end = now_ms + duration_ms if event is Event.REDEEM else now_ms
    return replace(session, start_ms=start, end_ms=end, cost=cost(location, start, end), currency=location.currency)


def _refusal(session: ParkingSession, event: Event) -> str:
    if event is Event.END and session.barcode is not None and session.state is not State.ENDED:
        return "a barcode session is ended by the exit scan at the gate, not by the app"
    if event in (Event.ENTRY, Event.EXIT, Event.REDEEM) and session.barcode is None:
        return "the session has no barcode to scan or redeem"
    if event is Event.END and session.state is State.PENDING:
        return "the session has not started"
    return _REFUSALS.get((session.state, event), f"{event.value} is not allowed on a {session.state.value} session")


def check_no_active(user_id: str, active: ParkingSession | None) -> None:
    """A user has at most one active (pending or started) session. Raises IllegalTransition."""
    if active is not None:
        raise IllegalTransition(
            f"user {user_id} already has an active session ({active.id}) at location {active.location_id}",
            str(active.id),
        )


# barcodes and the gate -----------------------------------------------------------------------


def barcode_from(token_hex: str) -> str:
    """A barcode of BARCODE_DIGITS decimal digits from random hex (at least 9 bytes of it)."""
    return str(int(token_hex, 16) % 10**BARCODE_DIGITS).zfill(BARCODE_DIGITS)


def valid_at(barcode: Barcode, location_id: int) -> bool:
    """Whether the gate of ``location_id`` honours ``barcode`` (a barcode bound to a location only there)."""
    return barcode.location_id is None or barcode.location_id == location_id


def pass_entry(barcode: Barcode, open_session: ParkingSession | None) -> None:
    """A user barcode at the entry: allowed only when its previous session has left.

    Raises:
        IllegalTransition: the pass already has a session inside (a second entry).
    """
    if open_session is not None:
        raise IllegalTransition(
            f"second entry: barcode {barcode.code} already has a started session ({open_session.id})",
            str(open_session.id),
        )


def pass_exit(barcode: Barcode, open_session: ParkingSession | None, location_id: int) -> ParkingSession:
    """The session a user barcode's exit scan ends at ``location_id``.

    Raises:
        IllegalTransition: the pass has no session inside this location (an exit before entry).
    """
    if open_session is None or open_session.location_id != location_id:
        raise IllegalTransition(f"exit before entry: barcode {barcode.code} has no session inside this location")
    return open_session


# vehicles and plates -------------------------------------------------------------------------

_PLATE_DROPS = str.maketrans("", "", " -.·")


@dataclass(frozen=True, slots=True)
class Vehicle:
    """A user's current vehicle (Coord's Users API): its licence plate, as given and as matched."""

    account_id: int
    user_id: str
    plate: str
    """The plate as a camera reads it: upper case, without spaces, dashes or dots (``plate_key``)."""
    text: str
    country: str | None
    subdivision: str | None
    updated_ms: int


def plate_key(text: str) -> str:
    """The form plates are matched in, so "7abc 123", "7ABC-123" and "7ABC123" are one plate.

    Raises:
        InvalidInput: not 1 to 16 letters and digits once normalised.
    """
    key = text.upper().translate(_PLATE_DROPS)
    if not 1 <= len(key) <= 16 or not key.isalnum() or not key.isascii():
        raise InvalidInput("a licence plate is 1 to 16 letters and digits (spaces and dashes ignored)", "text")
    return key


def new_vehicle(account_id: int, user_id: str, text: str, country: str | None, subdivision: str | None,
                now_ms: int, holder: Vehicle | None) -> Vehicle:
    """``user_id``'s vehicle with plate ``text``; ``holder`` is whoever has that plate now.

    Raises:
        InvalidInput: a malformed plate, country (two letters) or subdivision (1 to 8 letters/digits).
        AlreadyExists: another user of the account has registered this plate.
    """
    key = plate_key(text)
    if country is not None and not (len(country) == 2 and country.isascii() and country.isalpha()):
        raise InvalidInput("country is a two-letter ISO 3166 code such as US", "country")
    if subdivision is not None and not (1 <= len(subdivision) <= 8 and subdivision.isascii()
                                        and subdivision.isalnum()):
        raise InvalidInput("subdivision is 1 to 8 letters and digits, such as CA", "subdivision")
    if holder is not None and holder.user_id != user_id:
        raise AlreadyExists(f"plate {key} is registered to another user", key)
    return Vehicle(account_id, user_id, key, text.strip(), None if country is None else country.upper(),
                   None if subdivision is None else subdivision.upper(), now_ms)


def plate_entry(active: ParkingSession | None, location_id: int) -> ParkingSession | None:
    """What a plate read at the entry of ``location_id`` does with its user's active session: the
    pending one there is scanned in (returned); with none, the caller opens a new one (None).

    Raises:
        IllegalTransition: the user is already inside (or pending at another location).
    """
    if active is None:
        return None
    if active.location_id == location_id and active.state is State.PENDING:
        return active
    raise IllegalTransition(
        f"second entry: the plate's user already has an active session ({active.id}) at location "
        f"{active.location_id}", str(active.id))


def plate_exit(active: ParkingSession | None, location_id: int) -> tuple[ParkingSession, Event]:
    """The session a plate read at the exit of ``location_id`` ends, and the move that ends it (a
    barcode session leaves by EXIT; one the app started, by END: the camera stands in for the app).

    Raises:
        IllegalTransition: the plate's user has no started session at this location.
    """
    if active is None or active.location_id != location_id or active.state is not State.STARTED:
        raise IllegalTransition("exit before entry: the plate's user has no session inside this location")
    return active, Event.EXIT if active.barcode is not None else Event.END


# users ---------------------------------------------------------------------------------------


def user_for(account_id: int, external_uid: str) -> str:
    """The user id (UUID) of a partner's external user: the same (account, external_uid), the same id."""
    return str(uuid.uuid5(_USER_NAMESPACE, f"{account_id}:{external_uid}"))


MAX_SEARCH_IDS = 1000
"""``location_ids`` of one search: more is refused rather than looked up."""


def parse_location_ids(raw: str | None) -> list[int] | None:
    """Coord's ``location_ids``: a comma-separated list of location ids (None when absent).

    Raises:
        InvalidInput: an id that is not a positive integer, or more than MAX_SEARCH_IDS of them.
    """
    if raw is None or not raw.strip():
        return None
    parts = raw.split(",")
    if len(parts) > MAX_SEARCH_IDS:
        raise InvalidInput(f"location_ids takes at most {MAX_SEARCH_IDS} ids", "location_ids")
    out = []
    for part in parts:
        part = part.strip()
        if not (part.isascii() and part.isdigit()) or len(part) > 18 or int(part) < 1:
            raise InvalidInput("location_ids must be comma-separated positive integers", "location_ids")
        out.append(int(part))
    return out


def check_simulated_minutes(duration_m: int) -> int:
    """``duration_m`` in ms. Raises InvalidInput outside 0..MAX_SIMULATED_MINUTES."""
    if not 0 <= duration_m <= MAX_SIMULATED_MINUTES:
        raise InvalidInput(f"duration_m must be between 0 and {MAX_SIMULATED_MINUTES}", "duration_m")
    return duration_m * MINUTE_MS


def replace_seq(session: ParkingSession, seq: int) -> ParkingSession:
    """``session`` stamped with the seq of the change that wrote it."""
    return replace(session, seq=seq)
