"""Race timing: devices, their sessions, and the passings recorded into them.

Theory of operation. A *device* (an RFID reader, a phone app) belongs to one account. It owns
*sessions*; at most one session of a device is active, and opening a session closes the device's
other active one. A closed session stays readable forever and accepts no more passings. A
*passing* is identified within its session by ``num_passing``: a repeat of a number already
stored, or repeated inside one batch, is counted as a duplicate and never stored twice (the first
copy wins). Unbinding a device deletes its sessions and passings.

What this module decides: which session a batch may go to, the deduplication inside a batch, the
paging windows of the list endpoints. What it does not: storage, ids (passed in), the clock
(``now_ms`` passed in), wire formats.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

from sessionhub.core.clock import iso_ms
from sessionhub.core.errors import InvalidInput, SessionNotActive, StaleTelemetry

PAGE_SIZE = 5000
"""Passings per page on every passings list (RUFUS's documented maximum)."""

MAX_PAGE = 1_000_000
"""Pages beyond this are refused as absurd rather than scanned."""

MAX_BATCH = 50_000
"""Passings in one insert request; more is refused (the body limit would stop it soon after)."""

_HEX64 = re.compile(r"[0-9A-Fa-f]{64}")

PLANNED_LENGTH_MS = 2 * 3600 * 1000
"""An active session's ``duration`` is creation + 2 h, as in RUFUS's example; closed: its close time."""


@dataclass(frozen=True, slots=True)
class Telemetry:
    """A device's latest health report (RUFUS §8); ``at_ms`` is when the device took it (None in a
    report that does not say: it is then timed on arrival, see ``check_telemetry``)."""

    at_ms: int | None = None
    device_status: str | None = None
    battery_percentage: int | None = None
    charging: bool | None = None
    latitude: float | None = None
    longitude: float | None = None
    temperature: float | None = None
    """Degrees Celsius."""


MAX_CLOCK_AHEAD_MS = 5 * 60 * 1000
"""A report timed further ahead of the server's clock than this is refused: a device whose clock
runs ahead would otherwise make every correct later report look stale."""


@dataclass(frozen=True, slots=True)
class Device:
    id: int
    account_id: int
    deviceid: str
    type: str
    model: str
    serial_number: str
    alias: str
    firmware: str | None
    created_ms: int
    last_seen_ms: int | None
    seq: int = 0
    telemetry: Telemetry | None = None


@dataclass(frozen=True, slots=True)
class DeviceStats:
    """A device with the counts its detail and list views show."""

    device: Device
    sessions: int
    passings: int


@dataclass(frozen=True, slots=True)
class TimingSession:
    id: int
    account_id: int
    device_id: int
    deviceid: str
    token: str
    alias: str
    created_ms: int
    closed_ms: int | None
    passings: int
    first_ms: int | None
    last_ms: int | None
    seq: int = 0

    @property
    def active(self) -> bool:
        return self.closed_ms is None

    @property
    def duration_ms(self) -> int:
        return self.closed_ms if self.closed_ms is not None else self.created_ms + PLANNED_LENGTH_MS


class Passing(NamedTuple):
    """One detection, in the column order the stores write it."""

    num_passing: int
    ts_ms: int
    bib: str
    chip: str | None = None
    participant_id: str | None = None
    latitude: str | None = None
    longitude: str | None = None
    status: str | None = None
    timezone: str | None = None
    gender: str | None = None


class StoredPassing(NamedTuple):
    """A passing as read back, with the session and device it belongs to."""

    token_session: str
    deviceid: str
    passing: Passing


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch ready to store: unique numbers, how many repeats were dropped, its time span."""

    passings: list[Passing]
    repeats: int
    first_ms: int
    last_ms: int


def new_session(device: Device, alias: str, token: str, now_ms: int) -> TimingSession:
    """The session ``open`` creates; the caller closes the device's other active session with it."""
    return TimingSession(
        id=0, account_id=device.account_id, device_id=device.id, deviceid=device.deviceid, token=token,
        alias=alias, created_ms=now_ms, closed_ms=None, passings=0, first_ms=None, last_ms=None,
    )


def close(session: TimingSession, now_ms: int) -> TimingSession:
    """Close ``session``. Closing a closed session changes nothing (idempotent)."""
    return session if not session.active else replace(session, closed_ms=now_ms)


def prepare_batch(session: TimingSession | None, token: str, passings: Sequence[Passing]) -> Batch:
    """Check that ``session`` takes passings and drop repeats of a number inside the batch.

    Raises:
        SessionNotActive: the session is missing (for this account) or closed.
        InvalidInput: the batch is empty or over MAX_BATCH.
    """
    if session is None or not session.active:
        raise SessionNotActive("Session not found or closed", token)
    if not passings:
        raise InvalidInput("passings_list must hold at least one passing", "passings_list")
    if len(passings) > MAX_BATCH:
        raise InvalidInput(f"passings_list holds more than {MAX_BATCH} passings", "passings_list")
    seen: set[int] = set()
    unique: list[Passing] = []
    for p in passings:
        if p.num_passing not in seen:
            seen.add(p.num_passing)
            unique.append(p)
    stamps = [p.ts_ms for p in unique]
    return Batch(unique, len(passings) - len(unique), min(stamps), max(stamps))


def page_window(page: int | None, size: int = PAGE_SIZE) -> tuple[int, int]:
    """(offset, limit) of a 1-based ``page`` (default 1). Raises InvalidInput when out of range."""
    if page is None:
        page = 1
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput(f"page must be between 1 and {MAX_PAGE}", "page")
    if not 1 <= size <= PAGE_SIZE:
        raise InvalidInput(f"limit must be between 1 and {PAGE_SIZE}", "limit")
    return (page - 1) * size, size


def check_range(low: int | None, high: int | None, low_name: str, high_name: str) -> None:
    """Refuse a window whose lower bound is above its upper bound."""
    if low is not None and high is not None and low > high:
        raise InvalidInput(f"{low_name} must not be after {high_name}", low_name)


def check_telemetry(device: Device, report: Telemetry, now_ms: int) -> Telemetry:
    """``report`` (timed ``now_ms`` if it carries no time) if it may replace the stored telemetry.

    Raises:
        InvalidInput: the report is timed more than MAX_CLOCK_AHEAD_MS ahead of ``now_ms``.
        StaleTelemetry: it is timed at or before the stored report (a late or repeated delivery).
    """
    at = now_ms if report.at_ms is None else report.at_ms
    if at > now_ms + MAX_CLOCK_AHEAD_MS:
        raise InvalidInput("timestamp is in the future: check the device's clock", "timestamp")
    stored = device.telemetry
    if stored is not None and stored.at_ms is not None and at <= stored.at_ms:
        raise StaleTelemetry(f"the device already reported telemetry timed {iso_ms(stored.at_ms)}", device.deviceid)
    return replace(report, at_ms=at)


def parse_id(value: str, name: str) -> str:
    """A deviceid or token_session: 64 hex characters (every RUFUS example), answered in upper case.

    Raises:
        InvalidInput: anything else, naming ``name``.
    """
    if not _HEX64.fullmatch(value):
        raise InvalidInput(f"{name} must be 64 hexadecimal characters", name)
    return value.upper()


def replace_seq(session: TimingSession, seq: int) -> TimingSession:
    """``session`` stamped with the seq of the change that wrote it."""
    return replace(session, seq=seq)
