"""Race events: what a timing company runs (RUFUS §7), its timing points and its participants.

Theory of operation. An account owns *events* (a race: name, edition, place, dates, status). An
event's *timing points* are devices of the account, each with a name (``START``, ``KM10``,
``FINISH``). Its *participants* are the competitors, each known by a ``participant_id`` (given, or
made up here), a ``bib`` and optionally a ``chip``; within one event each of the three is unique.

A passing belongs to a participant when, in an event one of whose points recorded it, its
``participant_id``, else its ``chip``, else its ``bib`` names that participant (that order: the
identifier a reader is surest of first). A passing is counted for an event when its time lies in the
event's window (``start_ms``..``end_ms``, either end open). Results per point: each participant's
passings there (in time order), their number (laps: each crossing of a point completes one) and
the latest time.

What is not allowed: two participants of one event sharing an id, a bib or a chip; a device that is
not the account's as a point; a window that ends before it starts. What this module does not do:
storage, ids (passed in), the clock, wire formats.
"""

from __future__ import annotations

import enum
import string
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from sessionhub.core.errors import InvalidInput, ParticipantExists, PayloadTooLarge
from sessionhub.core.timing import StoredPassing

TOKEN_BYTES = 32
"""An event_token is 64 uppercase hex characters, like RUFUS's deviceid and token_session."""
MAX_PARTICIPANTS = 100_000
"""Participants of one event (RUFUS speaks of plan limits; this is the one plan)."""
MAX_BATCH = 10_000
"""Participants in one create request."""
MAX_EVENT_PAGE = 1000
"""``limit`` of the events list (RUFUS: 1..1000, default 1000)."""
MAX_PARTICIPANT_PAGE = 5000
MAX_RESULT_PASSINGS = 200_000
"""Passings one results read looks at; beyond it the answer says it is ``truncated``."""
ID_ALPHABET = string.ascii_uppercase + string.digits
PARTICIPANT_ID_LENGTH = 8
"""Made-up participant ids are 8 capitals and digits, like RUFUS's example ``XB123AR8``."""


class Status(enum.StrEnum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    account_id: int
    token: str
    name: str
    edition: str | None
    location: str | None
    start_ms: int | None
    end_ms: int | None
    status: str
    created_ms: int
    seq: int = 0

    def covers(self, ts_ms: int) -> bool:
        return (self.start_ms is None or self.start_ms <= ts_ms) and (self.end_ms is None or ts_ms <= self.end_ms)


@dataclass(frozen=True, slots=True)
class TimingPoint:
    event_id: int
    device_id: int
    deviceid: str
    name: str


@dataclass(frozen=True, slots=True)
class Participant:
    id: int
    event_id: int
    participant_id: str
    bib: str
    chip: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    gender: str | None = None
    category: str | None = None
    created_ms: int = 0


def _text(value: str | None, name: str, limit: int = 256, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise InvalidInput(f"{name} is required", name)
        return None
    value = value.strip()
    if (required and not value) or len(value) > limit:
        raise InvalidInput(f"{name} must be {'1' if required else '0'} to {limit} characters", name)
    return value or None


def new_event(
    account_id: int, token: str, name: str, edition: str | None, location: str | None, start_ms: int | None,
    end_ms: int | None, status: str, now_ms: int,
) -> Event:
    """A valid event (id 0 until stored). Raises InvalidInput."""
    if start_ms is not None and end_ms is not None and end_ms < start_ms:
        raise InvalidInput("the event ends before it starts", "end_date")
    try:
        parsed = Status(status)
    except ValueError:
        raise InvalidInput("status must be DRAFT or PUBLISHED", "status") from None
    return Event(0, account_id, token, _text(name, "name", required=True) or "", _text(edition, "edition"),
                 _text(location, "location"), start_ms, end_ms, parsed.value, now_ms)


def point_name(name: str) -> str:
    """A timing point's name: 1 to 64 characters."""
    return _text(name, "name", 64, required=True) or ""


def made_up_id(random_hex: str) -> str:
    """A participant id of PARTICIPANT_ID_LENGTH capitals and digits from random hex (>= 6 bytes)."""
    n, out = int(random_hex, 16), []
    for _ in range(PARTICIPANT_ID_LENGTH):
        n, r = divmod(n, len(ID_ALPHABET))
        out.append(ID_ALPHABET[r])
    return "".join(out)


@dataclass(slots=True)
class Roster:
    """An event's participants indexed by each identifier a passing may carry."""

    by_id: dict[str, Participant] = field(default_factory=dict)
    by_chip: dict[str, Participant] = field(default_factory=dict)
    by_bib: dict[str, Participant] = field(default_factory=dict)

    @classmethod
    def of(cls, participants: Iterable[Participant]) -> Roster:
        roster = cls()
        for p in participants:
            roster.add(p)
        return roster

    def add(self, p: Participant) -> None:
        self.by_id[p.participant_id] = p
        self.by_bib[p.bib] = p
        if p.chip is not None:
            self.by_chip[p.chip] = p

    def __len__(self) -> int:
        return len(self.by_id)

    def clash(self, p: Participant) -> str | None:
        """What ``p`` would share with a participant already here, or None."""
        if p.participant_id in self.by_id:
            return f"participant_id {p.participant_id}"
        if p.bib in self.by_bib:
            return f"bib {p.bib}"
        if p.chip is not None and p.chip in self.by_chip:
            return f"chip {p.chip}"
        return None

    def match(self, participant_id: str | None, chip: str | None, bib: str | None) -> Participant | None:
        """The participant a passing names: by participant_id, else chip, else bib."""
        found = None if participant_id is None else self.by_id.get(participant_id)
        if found is None and chip is not None:
            found = self.by_chip.get(chip)
        if found is None and bib is not None:
            found = self.by_bib.get(bib)
        return found


def prepare_participants(
    event: Event, roster: Roster, batch: Sequence[Participant], made_up: Iterator[str], now_ms: int
) -> list[Participant]:
    """The batch as it will be stored: ids made up where missing, each checked against the event's
    participants and the rest of the batch. All or nothing.

    Raises:
        InvalidInput: an empty or oversized batch.
        PayloadTooLarge: the event would pass MAX_PARTICIPANTS.
        AlreadyExists: a participant_id, bib or chip already taken (naming the batch entry).
    """
    if not batch:
        raise InvalidInput("participants_list must not be empty", "participants_list")
    if len(batch) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} participants per request", "participants_list")
    if len(roster) + len(batch) > MAX_PARTICIPANTS:
        raise PayloadTooLarge(f"an event holds at most {MAX_PARTICIPANTS} participants")
    seen = Roster()
    out = []
    for i, p in enumerate(batch):
        pid = p.participant_id or next(made_up)
        while not p.participant_id and (pid in roster.by_id or pid in seen.by_id):
            pid = next(made_up)
        q = Participant(0, event.id, pid, p.bib, p.chip, p.first_name, p.last_name, p.gender, p.category, now_ms)
        clash = roster.clash(q) or seen.clash(q)
        if clash is not None:
            raise ParticipantExists(f"participants_list[{i}]: {clash} is already taken in this event", pid)
        seen.add(q)
        out.append(q)
    return out


@dataclass(frozen=True, slots=True)
class Standing:
    """A participant at one timing point: their passings there, by time."""

    participant: Participant
    times_ms: list[int]

    @property
    def laps(self) -> int:
        return len(self.times_ms)

    @property
    def latest_ms(self) -> int:
        return self.times_ms[-1]


@dataclass(frozen=True, slots=True)
class PointResults:
    point: TimingPoint
    standings: list[Standing]
    """By laps (most first), then by latest time (earliest first): the order of a race's leaders."""
    unmatched: int
    """Passings at this point in the window that name no participant."""


def results(event: Event, roster: Roster, point: TimingPoint, passings: Iterable[StoredPassing]) -> PointResults:
    """Each participant's passings at ``point`` inside the event's window."""
    times: dict[str, list[int]] = {}
    unmatched = 0
    for sp in passings:
        p = sp.passing
        if not event.covers(p.ts_ms):
            continue
        who = roster.match(p.participant_id, p.chip, p.bib)
        if who is None:
            unmatched += 1
        else:
            times.setdefault(who.participant_id, []).append(p.ts_ms)
    standings = [Standing(roster.by_id[pid], sorted(ts)) for pid, ts in times.items()]
    standings.sort(key=lambda s: (-s.laps, s.latest_ms, s.participant.bib))
    return PointResults(point, standings, unmatched)


def checked_participant(p: Participant) -> Participant:
    """``p`` with its fields checked and trimmed. Raises InvalidInput naming the field."""
    pid = p.participant_id.strip()
    if len(pid) > 64 or (pid and not all("!" <= c <= "~" for c in pid)):
        raise InvalidInput("participant_id must be up to 64 visible ASCII characters", "participant_id")
    return Participant(
        p.id, p.event_id, pid, _text(p.bib, "bib", 64, required=True) or "", _text(p.chip, "chip", 64),
        _text(p.first_name, "first_name"), _text(p.last_name, "last_name"), _text(p.gender, "gender", 64),
        _text(p.category, "category", 64), p.created_ms,
    )
