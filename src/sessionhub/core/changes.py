"""The change feed's vocabulary.

Every committed write appends one *change* per object it touched, numbered by one global,
strictly increasing sequence (``seq``). A change names its object by a *topic*; the same seq is
stored on the object's row, so an object's version (its ETag) is the seq of its last change.
Subscribers, caches and resumable streams all key on topics and seqs, never on wall time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    account_id: int
    topic: str
    data: bytes | None = None
    """The changed object's snapshot right after the change (service.snapshots), None when there is
    nothing to replay (a deletion, a location's creation, a key change)."""


def timing_session_topic(token: str) -> str:
    return f"timing/session/{token}"


def device_topic(deviceid: str) -> str:
    return f"timing/device/{deviceid}"


def event_topic(token: str) -> str:
    """A race event: its fields, its timing points, its participants."""
    return f"timing/event/{token}"


def keys_topic() -> str:
    """Any key issued or revoked: key caches are dropped whole on it."""
    return "keys"


def webhooks_topic() -> str:
    """Any webhook subscription created, changed or deleted: delivery workers reload their list on it."""
    return "webhooks"


def parking_session_topic(session_id: int) -> str:
    return f"parking/session/{session_id}"


def parking_location_topic(location_id: int) -> str:
    """Any change of a location or of one of its sessions (a location's session list streams from it)."""
    return f"parking/location/{location_id}"


def paging_session_topic(account_id: int, station: str, number: int) -> str:
    """A guest session on pager ``number`` of the account's station ``station`` changed (created,
    updated, acted on)."""
    return f"paging/{account_id}/{station}/session/{number}"


def paging_station_topic(account_id: int, station: str) -> str:
    """The account's paging station ``station`` changed: settings, statistics reset, history cleared,
    a page sent."""
    return f"paging/{account_id}/{station}/station"


def paging_station_prefix(account_id: int, station: str) -> str:
    """Every change of one paging station: its sessions, settings and pages (and no other station's)."""
    return f"paging/{account_id}/{station}/"


@dataclass(frozen=True, slots=True)
class PagingTopic:
    """What a paging change's topic names."""

    account_id: int
    station: str
    number: int | None
    """The pager number of a session change; None for a change of the station itself."""


def parse_paging_topic(topic: str) -> PagingTopic | None:
    """The station (and pager number) a topic built above names; None for any other topic.

    The one parser of paging topics: what builds them is right above. Topics written before stations
    had names (``paging/session/<account>/<number>``) were rewritten by migration 0007.
    """
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != "paging" or not (parts[1].isascii() and parts[1].isdigit()):
        return None
    account_id, station = int(parts[1]), parts[2]
    if len(parts) == 4 and parts[3] == "station":
        return PagingTopic(account_id, station, None)
    if len(parts) == 5 and parts[3] == "session" and parts[4].isascii() and parts[4].isdigit():
        return PagingTopic(account_id, station, int(parts[4]))
    return None


def prefixes(topic: str) -> list[str]:
    """Every prefix of ``topic`` that ends with ``/``: the lists a change of ``topic`` belongs to.

    ``timing/device/AB`` -> ``["timing/", "timing/device/"]``. A resource that lists many objects
    (an account's devices, a station's sessions) watches such a prefix, so it changes with any of
    them, deletions included.
    """
    out, at = [], topic.find("/")
    while at != -1:
        out.append(topic[: at + 1])
        at = topic.find("/", at + 1)
    return out


def timing_devices_prefix() -> str:
    """Every device (and through it every session and passing) of an account."""
    return "timing/device/"


def parking_locations_prefix() -> str:
    """Every parking location of an account, and so every parking session (each session change
    also changes its location)."""
    return "parking/location/"


def paging_prefix() -> str:
    """Everything of the account's paging stations (all of them): their sessions, settings and pages."""
    return "paging/"
