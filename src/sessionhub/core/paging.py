"""Guest paging: a station's sessions on guest pagers, its statistics, settings and clock.

Theory of operation. An account has one or more *stations* (each an LRS T7470 transmitter: a
restaurant group runs one per site), each named within its account (``check_station``; the first,
and the one every existing caller means, is ``DEFAULT_STATION``). Stations share nothing: each has
its own numbering, sessions, history, statistics, settings and clock. A station binds *guest
sessions* to pager numbers 1..9999; at most one session per number is active. A session lives
``started -> paged -> cleared``:

    action   started          paged            (cleared: history, no longer addressable)
    page     paged (notified) paged (re-page)  -
    clear    cleared STOP     cleared STOP     -
    remove   cleared REMOVED  cleared REMOVED  -

Re-paging a paged session pages the guest again (a change, a recorded page) but keeps the first
``notified`` time, so statistics count each guest once. Clearing straight from ``started`` is
allowed (the guest left, or was seated without a page); such a session never counts as served.
Nothing pages by itself when the goal elapses: a page is always somebody's request.

Every session change (create, update, action) takes the next value of the station's
``global_seq`` (the wire's ``globalSessionSequence``) and stamps it on the session as its
``session_seq``. Settings and statistics changes do not count.

Time. The station keeps its own wall clock, ``clock_offset_ms`` ahead of UTC: the device has a
settable local clock without a zone. Every timestamp here is *station-local* milliseconds
(``local_ms``), rendered without zone or fraction. Callers pass ``now_ms`` (UTC); nothing here
reads a clock or makes randomness (uuids come in as hex).

Statistics count sessions created and guests paged since the last reset: an explicit one, or the
daily ``stats_clear_mark`` hour of station-local time (0..23; 24 means never).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sessionhub.core.errors import IllegalTransition, InvalidInput

NUMBER_MIN, NUMBER_MAX = 1, 9999
GOAL_MIN, GOAL_MAX = 1, 86_400
"""Goals are seconds, up to a day."""
PARTY_MIN, PARTY_MAX = 1, 999
LABEL_MAX = 64
MESSAGE_MAX = 64
SYSTEM_ID_MAX = 255
CLEAR_MARK_NEVER = 24
DEFAULT_GOAL_S = 300
PAGE_MODES = ("Flash1Sec", "Flash30Sec", "Flash5Min", "Glow15Times", "Vibe1")
"""The documented (Flash30Sec, Vibe1) and corroborated (the rest) page modes; others are refused."""
DEFAULT_PAGE_MODE = "Flash30Sec"
DEFAULT_STATION = "default"
"""The station of an account named by no one: the only one before stations had names (migration 0007)."""
STATION_NAME_MAX = 32
"""Station names are short: they appear in topics, lock keys and every --coap address."""
STATION_PATTERN = f"^[a-z0-9][a-z0-9-]{{0,{STATION_NAME_MAX - 1}}}$"
"""``check_station``'s rule as a regular expression (for documents such as OpenAPI)."""

_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class State(enum.StrEnum):
    STARTED = "started"
    PAGED = "paged"
    CLEARED = "cleared"


class Action(enum.StrEnum):
    PAGE = "page"
    CLEAR = "clear"
    REMOVE = "remove"


class ClearType(enum.StrEnum):
    STOP = "STOP"
    REMOVED = "REMOVED"


class Keep(enum.Enum):
    """'Leave this field as it is' (distinct from None, which sets a label to null)."""

    KEEP = 0


KEEP = Keep.KEEP


@dataclass(frozen=True, slots=True)
class StationSettings:
    system_id: int = 0
    default_goal_s: int = DEFAULT_GOAL_S
    stats_clear_mark: int = CLEAR_MARK_NEVER


@dataclass(frozen=True, slots=True)
class Counters:
    """Statistics since ``since_ms`` (station-local): the raw counts the wire figures derive from."""

    since_ms: int
    num_sessions: int = 0
    served: int = 0
    late: int = 0
    served_total_s: int = 0


@dataclass(frozen=True, slots=True)
class Statistics:
    """The wire's statistics object."""

    guests_served: int
    percent_late: int
    percent_on_time: int
    average_time_served: int
    num_sessions: int


@dataclass(frozen=True, slots=True)
class Station:
    account_id: int
    global_seq: int
    next_id: int
    clock_offset_ms: int
    settings: StationSettings
    counters: Counters
    name: str = DEFAULT_STATION
    """The station's name within its account (``check_station``)."""


@dataclass(frozen=True, slots=True)
class GuestSession:
    id: int
    uuid: str
    number: int
    party_size: int
    goal_s: int
    label: str | None
    state: State
    created_ms: int
    notified_ms: int | None = None
    cleared_ms: int | None = None
    clear_type: ClearType | None = None
    session_seq: int = 0
    page_mode: str | None = None

    @property
    def active(self) -> bool:
        return self.state is not State.CLEARED


@dataclass(frozen=True, slots=True)
class Fields:
    """Session fields a create or update names; KEEP leaves one unchanged (or default on create)."""

    goal_s: int | Keep = KEEP
    label: str | None | Keep = KEEP
    party_size: int | Keep = KEEP


@dataclass(frozen=True, slots=True)
class Page:
    """A page the station sent (no radio here: it is recorded and published)."""

    number: int
    page_mode: str
    system_id: int
    message: str | None
    at_ms: int
    session_id: int | None = None


@dataclass(frozen=True, slots=True)
class Written:
    """What a session write decided: the station and session after it, and what happened."""

    station: Station
    session: GuestSession
    created: bool
    page: Page | None


@dataclass(frozen=True, slots=True)
class StationEvent:
    """A change as observers see it: the station after it and, for a session change, the session.

    ``kind`` is ``"session"`` or ``"settings"``; ``at_ms`` is station-local.
    """

    kind: str
    station: Station
    at_ms: int
    session: GuestSession | None = None


# validation ------------------------------------------------------------------------------------


def check_station(name: str) -> str:
    """``name`` if it is a station name: 1..STATION_NAME_MAX of ``a-z``, ``0-9`` and ``-``, starting with a
    letter or digit (it is a path segment of topics and of ``--coap ADDR=ACCOUNT/STATION``).

    Raises:
        InvalidInput: anything else.
    """
    if not (0 < len(name) <= STATION_NAME_MAX and name.isascii() and name[0] != "-"
            and all(c.isdigit() or "a" <= c <= "z" or c == "-" for c in name)):
        raise InvalidInput(f"a station name is 1 to {STATION_NAME_MAX} of a-z, 0-9 and -, not starting with -",
                           "station")
    return name


def check_number(number: int, field: str = "number") -> int:
    if not NUMBER_MIN <= number <= NUMBER_MAX:
        raise InvalidInput(f"{field} must be between {NUMBER_MIN} and {NUMBER_MAX}", field)
    return number


def _check_range(value: int, low: int, high: int, field: str) -> int:
    if not low <= value <= high:
        raise InvalidInput(f"{field} must be between {low} and {high}", field)
    return value


def check_page_mode(mode: str | None) -> str:
    if mode is None:
        return DEFAULT_PAGE_MODE
    if mode not in PAGE_MODES:
        raise InvalidInput(f"pageMode must be one of {', '.join(PAGE_MODES)}", "pageMode")
    return mode


def check_action(action: str | None) -> Action | None:
    if action is None:
        return None
    try:
        return Action(action)
    except ValueError:
        raise InvalidInput("action must be one of page, clear, remove", "action") from None


def _check_fields(f: Fields) -> None:
    if not isinstance(f.goal_s, Keep):
        _check_range(f.goal_s, GOAL_MIN, GOAL_MAX, "goal")
    if not isinstance(f.party_size, Keep):
        _check_range(f.party_size, PARTY_MIN, PARTY_MAX, "partySize")
    if isinstance(f.label, str) and len(f.label) > LABEL_MAX:
        raise InvalidInput(f"label must be at most {LABEL_MAX} characters", "label")


# time ------------------------------------------------------------------------------------------


def local_now(station: Station, now_ms: int) -> int:
    """The station's wall clock, in station-local ms."""
    return now_ms + station.clock_offset_ms


def local_iso(local_ms: int) -> str:
    """Station-local time as the device writes it: ``2018-03-15T11:50:27`` (no zone, no fraction)."""
    return f"{datetime.fromtimestamp(local_ms // 1000, UTC):%Y-%m-%dT%H:%M:%S}"


def parse_local(text: str, field: str = "datetime") -> int:
    """Parse a station-local ``YYYY-MM-DDTHH:MM:SS`` (a fraction is dropped) to local ms.

    Raises:
        InvalidInput: not such a date-time, carries a zone, or lies outside 2000..2099.
    """
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{field} must be a local date-time like 2018-03-15T12:35:33", field) from None
    if dt.tzinfo is not None:
        raise InvalidInput(f"{field} is the station's local time and takes no zone", field)
    if not 2000 <= dt.year <= 2099:
        raise InvalidInput(f"{field} must lie in the years 2000 to 2099", field)
    return int((dt.replace(tzinfo=UTC, microsecond=0) - _EPOCH).total_seconds()) * 1000


def uuid4(hex32: str) -> str:
    """A UUID v4 string from 32 random hex digits (version and variant bits set here)."""
    h = hex32.lower()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[0:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


# station ---------------------------------------------------------------------------------------


def new_station(account_id: int, now_ms: int, utc_offset_ms: int, name: str = DEFAULT_STATION) -> Station:
    """A fresh station whose clock starts at the host's local time (``utc_offset_ms`` ahead of UTC)."""
    local = now_ms + utc_offset_ms
    return Station(account_id, 0, 1, utc_offset_ms, StationSettings(), Counters(local), check_station(name))


def last_mark(local_ms: int, mark: int) -> int | None:
    """The latest daily clear mark at or before ``local_ms`` (None when the mark is 24: never)."""
    if mark >= CLEAR_MARK_NEVER:
        return None
    at = local_ms - local_ms % _DAY_MS + mark * _HOUR_MS
    return at if at <= local_ms else at - _DAY_MS


def next_mark(local_ms: int, mark: int) -> int | None:
    """The first daily clear mark after ``local_ms`` (None: never)."""
    last = last_mark(local_ms, mark)
    return None if last is None else last + _DAY_MS


def counters_now(station: Station, local_ms: int) -> Counters:
    """The station's counters as of ``local_ms``: zeroed when a clear mark passed since they began."""
    mark = last_mark(local_ms, station.settings.stats_clear_mark)
    if mark is not None and station.counters.since_ms < mark:
        return Counters(mark)
    return station.counters


def statistics(station: Station, local_ms: int) -> Statistics:
    """The wire's statistics as of ``local_ms``. Percentages are whole numbers summing to 100
    once anyone was served (both 0 before); the average is whole seconds from creation to page."""
    c = counters_now(station, local_ms)
    if not c.served:
        return Statistics(0, 0, 0, 0, c.num_sessions)
    late = round(100 * c.late / c.served)
    return Statistics(c.served, late, 100 - late, round(c.served_total_s / c.served), c.num_sessions)


def reset_statistics(station: Station, local_ms: int) -> Station:
    """Start counting afresh; session ids keep counting."""
    return replace(station, counters=Counters(local_ms))


def update_settings(
    station: Station, now_ms: int, *, datetime_ms: int | None = None, system_id: int | None = None,
    default_goal_s: int | None = None, stats_clear_mark: int | None = None,
) -> Station:
    """Apply a partial settings change. ``datetime_ms`` (station-local) sets the station clock."""
    s = station.settings
    if system_id is not None:
        s = replace(s, system_id=_check_range(system_id, 0, SYSTEM_ID_MAX, "systemId"))
    if default_goal_s is not None:
        s = replace(s, default_goal_s=_check_range(default_goal_s, GOAL_MIN, GOAL_MAX, "defaultTargetGoal"))
    if stats_clear_mark is not None:
        s = replace(s, stats_clear_mark=_check_range(stats_clear_mark, 0, CLEAR_MARK_NEVER, "statisticsClearMark"))
    offset = station.clock_offset_ms if datetime_ms is None else datetime_ms - now_ms
    return replace(station, settings=s, clock_offset_ms=offset)


# sessions --------------------------------------------------------------------------------------


def _bump(station: Station, session: GuestSession, counters: Counters) -> tuple[Station, GuestSession]:
    """Count one session change: the next global sequence, stamped on the session."""
    seq = station.global_seq + 1
    return replace(station, global_seq=seq, counters=counters), replace(session, session_seq=seq)


def open_session(
    station: Station, existing: GuestSession | None, number: int, fields: Fields, action: Action | None,
    page_mode: str | None, uuid_hex: str, now_ms: int,
) -> Written:
    """Create a session on ``number``, or update ``existing`` (the active one there): an upsert.

    An ``action`` is applied after the create or update; the whole request is one change.

    Raises:
        InvalidInput: a number, field or page mode out of range.
    """
    check_number(number)
    if existing is not None:
        return update_session(station, existing, fields, action, page_mode, now_ms)
    _check_fields(fields)
    mode = check_page_mode(page_mode)
    local = local_now(station, now_ms)
    counters = counters_now(station, local)
    session = GuestSession(
        id=station.next_id, uuid=uuid4(uuid_hex), number=number,
        party_size=PARTY_MIN if isinstance(fields.party_size, Keep) else fields.party_size,
        goal_s=station.settings.default_goal_s if isinstance(fields.goal_s, Keep) else fields.goal_s,
        label=None if isinstance(fields.label, Keep) else fields.label, state=State.STARTED, created_ms=local,
    )
    counters = replace(counters, num_sessions=counters.num_sessions + 1)
    page = None
    if action is not None:
        session, counters, page = _apply(session, counters, action, mode, station.settings.system_id, local)
    station, session = _bump(replace(station, next_id=station.next_id + 1), session, counters)
    return Written(station, session, True, page)


def update_session(
    station: Station, session: GuestSession, fields: Fields, action: Action | None, page_mode: str | None,
    now_ms: int,
) -> Written:
    """Change an active session's fields, then apply ``action`` if any; the whole request is one change.

    A request that changes no field and names no action changes nothing and counts no change.

    Raises:
        InvalidInput: a field out of range, or an unknown page mode.
        IllegalTransition: the session is no longer active.
    """
    _check_fields(fields)
    mode = check_page_mode(page_mode)
    if not session.active:
        raise IllegalTransition("the session is already cleared", str(session.number))
    local = local_now(station, now_ms)
    counters = counters_now(station, local)
    changed = replace(
        session,
        goal_s=session.goal_s if isinstance(fields.goal_s, Keep) else fields.goal_s,
        label=session.label if isinstance(fields.label, Keep) else fields.label,
        party_size=session.party_size if isinstance(fields.party_size, Keep) else fields.party_size,
    )
    page = None
    if action is not None:
        changed, counters, page = _apply(changed, counters, action, mode, station.settings.system_id, local)
    if changed == session and page is None:
        return Written(station, session, False, None)
    station, changed = _bump(station, changed, counters)
    return Written(station, changed, False, page)


def act(station: Station, session: GuestSession, action: Action, page_mode: str | None, now_ms: int) -> Written:
    """Apply ``page``, ``clear`` or ``remove`` to an active session (see the table above).

    Raises:
        IllegalTransition: the session is no longer active.
    """
    return update_session(station, session, Fields(), action, page_mode, now_ms)


def _apply(
    session: GuestSession, counters: Counters, action: Action, page_mode: str, system_id: int, local: int,
) -> tuple[GuestSession, Counters, Page | None]:
    if action is not Action.PAGE:
        kind = ClearType.STOP if action is Action.CLEAR else ClearType.REMOVED
        return replace(session, state=State.CLEARED, cleared_ms=local, clear_type=kind), counters, None
    if session.state is State.STARTED:
        waited_s = max(0, (local - session.created_ms) // 1000)
        counters = replace(
            counters, served=counters.served + 1, served_total_s=counters.served_total_s + waited_s,
            late=counters.late + (waited_s > session.goal_s),
        )
        session = replace(session, state=State.PAGED, notified_ms=local)
    page = Page(session.number, page_mode, system_id, None, local, session.id)
    return replace(session, page_mode=page_mode), counters, page


def remove_all(station: Station, sessions: list[GuestSession], now_ms: int) -> tuple[Station, list[GuestSession]]:
    """Remove every active session (each one change, in id order)."""
    out = []
    for s in sorted(sessions, key=lambda s: s.id):
        written = act(station, s, Action.REMOVE, None, now_ms)
        station = written.station
        out.append(written.session)
    return station, out


def standalone_page(
    station: Station, number: int, page_mode: str | None, message: str | None, system_id: int | None, now_ms: int,
) -> Page:
    """A page without session bookkeeping (``POST /v1/page``); it touches no session.

    Raises:
        InvalidInput: a number, page mode, system id or message out of range.
    """
    check_number(number)
    mode = check_page_mode(page_mode)
    sid = station.settings.system_id if system_id is None else _check_range(system_id, 0, SYSTEM_ID_MAX, "systemId")
    if message is not None and len(message) > MESSAGE_MAX:
        raise InvalidInput(f"message must be at most {MESSAGE_MAX} characters", "message")
    return Page(number, mode, sid, message, local_now(station, now_ms))
