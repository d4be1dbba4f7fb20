"""The RUFUS events layer's wire format (§7): request structs and response bodies.

RUFUS published only ``EventSummary`` and ``Pagination``; participants' and results' shapes are
decided here (docs/timing.md) in the same style: bare legacy envelope, ``YYYY-MM-DDTHH:mm:ss.sssZ``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from sessionhub.core.clock import iso_ms
from sessionhub.core.events import Event, Participant, PointResults, TimingPoint

Short = Annotated[str, Meta(max_length=64)]
Text = Annotated[str, Meta(max_length=256)]


class ParticipantIn(msgspec.Struct, forbid_unknown_fields=True):
    bib: Short
    participant_id: Short | None = None
    """Made up (8 capitals and digits) when absent."""
    chip: Short | None = None
    first_name: Text | None = None
    last_name: Text | None = None
    gender: Short | None = None
    category: Short | None = None


class CreateParticipants(msgspec.Struct, forbid_unknown_fields=True):
    participants_list: list[ParticipantIn]


def to_participants(body: CreateParticipants) -> list[Participant]:
    return [Participant(0, 0, p.participant_id or "", p.bib, p.chip, p.first_name, p.last_name, p.gender, p.category)
            for p in body.participants_list]


class Pagination(msgspec.Struct):
    page: int
    limit: int
    total: int
    has_more: bool


def pagination(page: int, limit: int, total: int) -> Pagination:
    return Pagination(page, limit, total, page * limit < total)


class EventSummary(msgspec.Struct):
    event_token: str
    name: str | None
    edition: str | None
    location: str | None
    start_date: str | None
    end_date: str | None
    status: str | None


class TimingPointOut(msgspec.Struct):
    deviceid: str
    name: str


class EventDetail(msgspec.Struct):
    event_token: str
    name: str | None
    edition: str | None
    location: str | None
    start_date: str | None
    end_date: str | None
    status: str | None
    timing_points: list[TimingPointOut]


class EventsList(msgspec.Struct):
    description: str
    result: list[EventSummary]
    pagination: Pagination


class EventOne(msgspec.Struct):
    description: str
    result: EventDetail


class ParticipantOut(msgspec.Struct):
    participant_id: str
    bib: str
    chip: str | None
    first_name: str | None
    last_name: str | None
    gender: str | None
    category: str | None
    creation_date: str


class ParticipantsList(msgspec.Struct):
    description: str
    result: list[ParticipantOut]
    pagination: Pagination


class ParticipantOne(msgspec.Struct):
    description: str
    result: ParticipantOut


class ParticipantsInserted(msgspec.Struct):
    description: str
    event_token: str
    inserted_count: int
    result: list[ParticipantOut]


class Standing(msgspec.Struct):
    participant_id: str
    bib: str
    chip: str | None
    first_name: str | None
    last_name: str | None
    laps: int
    """Passings at this point: each crossing completes a lap."""
    latest: str
    passings: list[str]
    """The participant's passing times at this point, earliest first."""


class PointOut(msgspec.Struct):
    deviceid: str
    name: str
    participants: list[Standing]
    """By laps (most first), then latest time (earliest first)."""
    unmatched: int
    """Passings here in the event's window that name no participant."""


class Results(msgspec.Struct):
    description: str
    event_token: str
    truncated: bool
    """True when the event has more passings than one results read looks at (200,000)."""
    result: list[PointOut]


def _iso(ms: int | None) -> str | None:
    return None if ms is None else iso_ms(ms)


def event_summary(e: Event) -> EventSummary:
    return EventSummary(e.token, e.name, e.edition, e.location, _iso(e.start_ms), _iso(e.end_ms), e.status)


def event_detail(e: Event, points: list[TimingPoint]) -> EventDetail:
    return EventDetail(e.token, e.name, e.edition, e.location, _iso(e.start_ms), _iso(e.end_ms), e.status,
                       [TimingPointOut(p.deviceid, p.name) for p in points])


def participant_out(p: Participant) -> ParticipantOut:
    return ParticipantOut(p.participant_id, p.bib, p.chip, p.first_name, p.last_name, p.gender, p.category,
                          iso_ms(p.created_ms))


def results_out(event: Event, points: list[PointResults], truncated: bool) -> Results:
    return Results("Success", event.token, truncated, [
        PointOut(r.point.deviceid, r.point.name, [
            Standing(s.participant.participant_id, s.participant.bib, s.participant.chip, s.participant.first_name,
                     s.participant.last_name, s.laps, iso_ms(s.latest_ms), [iso_ms(t) for t in s.times_ms])
            for s in r.standings], r.unmatched)
        for r in points])
