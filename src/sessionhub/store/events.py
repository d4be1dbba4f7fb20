"""Race events: tables ``timing_events``, ``timing_points``, ``participants``. Written once (see db.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sessionhub.core.events import Event, Participant, TimingPoint
from sessionhub.store.db import Db, Row

_EVENT_COLS = "id, account_id, token, name, edition, location, start_ms, end_ms, status, created_ms, seq"
_EVENT = f"SELECT {_EVENT_COLS} FROM timing_events WHERE token = $1 AND account_id = $2"
_EVENTS = f"SELECT {_EVENT_COLS} FROM timing_events WHERE account_id = $1 ORDER BY id LIMIT $2 OFFSET $3"
_EVENT_COUNT = "SELECT count(*) FROM timing_events WHERE account_id = $1"
_INSERT_EVENT = (
    "INSERT INTO timing_events (account_id, token, name, edition, location, start_ms, end_ms, status, created_ms,"
    " seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id"
)
_SET_EVENT_SEQ = "UPDATE timing_events SET seq = $1 WHERE id = $2"
_EVENTS_OF_DEVICE = (
    "SELECT e.id, e.account_id, e.token, e.name, e.edition, e.location, e.start_ms, e.end_ms, e.status,"
    " e.created_ms, e.seq, p.event_id, p.device_id, d.deviceid, p.name FROM timing_points p"
    " JOIN timing_events e ON e.id = p.event_id JOIN devices d ON d.id = p.device_id"
    " WHERE p.device_id = $1 ORDER BY e.id"
)

_POINTS = (
    "SELECT p.event_id, p.device_id, d.deviceid, p.name FROM timing_points p JOIN devices d ON d.id = p.device_id"
    " WHERE p.event_id = $1 ORDER BY p.name, d.deviceid"
)
_SAVE_POINT = (
    "INSERT INTO timing_points (event_id, device_id, name) VALUES ($1, $2, $3)"
    " ON CONFLICT (event_id, device_id) DO UPDATE SET name = excluded.name"
)

_PARTICIPANT_COLS = "id, event_id, participant_id, bib, chip, first_name, last_name, gender, category, created_ms"
_PARTICIPANT = f"SELECT {_PARTICIPANT_COLS} FROM participants WHERE event_id = $1 AND participant_id = $2"
_PARTICIPANTS = f"SELECT {_PARTICIPANT_COLS} FROM participants WHERE event_id = $1 ORDER BY id LIMIT $2 OFFSET $3"
_ALL_PARTICIPANTS = f"SELECT {_PARTICIPANT_COLS} FROM participants WHERE event_id = $1 ORDER BY id"
_PARTICIPANT_COUNT = "SELECT count(*) FROM participants WHERE event_id = $1"
_INSERT_PARTICIPANT = (
    "INSERT INTO participants (event_id, participant_id, bib, chip, first_name, last_name, gender, category,"
    " created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
_UPDATE_PARTICIPANT = (
    "UPDATE participants SET bib = $1, chip = $2, first_name = $3, last_name = $4, gender = $5, category = $6"
    " WHERE id = $7"
)


def _event(row: Row | None) -> Event | None:
    return None if row is None else Event(*row)


def _participant(row: Row | None) -> Participant | None:
    return None if row is None else Participant(*row)


class Events:
    """Events, their timing points and participants. Points and participants are reached only
    through an event the caller got from an account-checked lookup."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def event(self, account_id: int, token: str) -> Event | None:
        return _event(await self._db.one(_EVENT, token, account_id))

    async def events(self, account_id: int, offset: int, limit: int) -> tuple[list[Event], int]:
        """A page of the account's events by id, and how many it has."""
        total = await self._db.value(_EVENT_COUNT, account_id)
        return [Event(*r) for r in await self._db.all(_EVENTS, account_id, limit, offset)], int(total)

    async def insert_event(self, e: Event) -> Event:
        new_id = await self._db.value(_INSERT_EVENT, e.account_id, e.token, e.name, e.edition, e.location,
                                      e.start_ms, e.end_ms, e.status, e.created_ms, e.seq)
        return replace(e, id=int(new_id))

    async def set_event_seq(self, event_id: int, seq: int) -> None:
        await self._db.run(_SET_EVENT_SEQ, seq, event_id)

    async def events_of_device(self, device_id: int) -> list[tuple[Event, TimingPoint]]:
        """The events the device is a timing point of, by id, with that point."""
        rows = await self._db.all(_EVENTS_OF_DEVICE, device_id)
        return [(Event(*r[:11]), TimingPoint(*r[11:])) for r in rows]

    async def points(self, event_id: int) -> list[TimingPoint]:
        return [TimingPoint(*r) for r in await self._db.all(_POINTS, event_id)]

    async def save_point(self, p: TimingPoint) -> None:
        """Make the device a point of the event, or rename it."""
        await self._db.run(_SAVE_POINT, p.event_id, p.device_id, p.name)

    async def participant(self, event_id: int, participant_id: str) -> Participant | None:
        return _participant(await self._db.one(_PARTICIPANT, event_id, participant_id))

    async def participants(self, event_id: int, offset: int, limit: int) -> tuple[list[Participant], int]:
        total = await self._db.value(_PARTICIPANT_COUNT, event_id)
        return [Participant(*r) for r in await self._db.all(_PARTICIPANTS, event_id, limit, offset)], int(total)

    async def all_participants(self, event_id: int) -> list[Participant]:
        return [Participant(*r) for r in await self._db.all(_ALL_PARTICIPANTS, event_id)]

    async def insert_participants(self, batch: Sequence[Participant]) -> None:
        await self._db.run_many(_INSERT_PARTICIPANT, [
            (p.event_id, p.participant_id, p.bib, p.chip, p.first_name, p.last_name, p.gender, p.category,
             p.created_ms) for p in batch])

    async def update_participant(self, p: Participant) -> None:
        await self._db.run(_UPDATE_PARTICIPANT, p.bib, p.chip, p.first_name, p.last_name, p.gender, p.category, p.id)
