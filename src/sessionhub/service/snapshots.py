"""Change snapshots: the ``data`` a service stores with a change, so streams can replay it.

A stream resumed with ``Last-Event-ID`` must deliver every change it missed exactly once, and the
current rows only show the latest state (a parking session that started and ended while the client
was away shows only "ended"). So each change of an object a stream follows carries the object as it
was right after the change, encoded here (msgspec JSON of the core dataclass), written in the same
unit of work as the change and the rows. Passings are not copied: a timing change names the range
of numbers its batch stored, and the passing rows carry the change's seq (``passings.seq``).

Which changes carry what (docs/live.md):

- ``parking/session/<id>`` and the ``parking/location/<id>`` change made with it: the ParkingSession.
- ``timing/session/<token>`` and the ``timing/device/<id>`` change made with it: a TimingChange (the
  TimingSession, and ``first``/``last`` of the passings batch when the change stored passings).
- ``paging/<account>/<station>/session/<number>``: a StationEvent of kind ``session`` (the station
  and the guest session after the change); ``paging/<account>/<station>/station`` when settings
  changed: a StationEvent of kind ``settings``. CoAP notifications and the paging stream render from it.
- Anything else, and deletions: None.

Retention (one policy for every domain): snapshots are kept for the last ``2 x replay_retention``
changes and then pruned (``ReplayService.prune``: ``data`` set to NULL, the change's row stays, so
topic versions and ETags are unchanged). Replay is promised for the last ``replay_retention``
changes only (older cursors get a reset), so a replay never needs a pruned snapshot unless it falls
another ``replay_retention`` changes behind while it reads.
"""

from __future__ import annotations

import msgspec

from sessionhub.core.paging import StationEvent
from sessionhub.core.parking import ParkingSession
from sessionhub.core.timing import TimingSession

_encode = msgspec.json.Encoder().encode


class TimingChange(msgspec.Struct, frozen=True):
    session: TimingSession
    first: int | None = None
    """Lowest ``num_passing`` the change stored (None: it stored no passings)."""
    last: int | None = None
    batch: int = 0
    """The seq the stored passings carry (that of the session's change; the device's change made
    with it has the next seq)."""


def parking(session: ParkingSession) -> bytes:
    return _encode(session)


def read_parking(data: bytes) -> ParkingSession:
    return msgspec.json.decode(data, type=ParkingSession)


def timing(session: TimingSession, first: int | None = None, last: int | None = None, batch: int = 0) -> bytes:
    return _encode(TimingChange(session, first, last, batch))


def read_timing(data: bytes) -> TimingChange:
    return msgspec.json.decode(data, type=TimingChange)


_read_paging = msgspec.json.Decoder(StationEvent).decode


def paging(event: StationEvent) -> bytes:
    return _encode(event)


def read_paging(data: bytes) -> StationEvent:
    """A paging change's StationEvent (one written before stations had names is the station "default")."""
    return _read_paging(data)
