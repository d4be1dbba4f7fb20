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


def timing_session_topic(token: str) -> str:
    return f"timing/session/{token}"


def device_topic(deviceid: str) -> str:
    return f"timing/device/{deviceid}"


def keys_topic() -> str:
    """Any key issued or revoked: key caches are dropped whole on it."""
    return "keys"
