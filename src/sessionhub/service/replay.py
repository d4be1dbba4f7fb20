"""Replay: "the changes of this topic after seq N", for streams that resume or fall behind.

Every SSE stream is a cursor on the change log (webhooks keep a durable one of their own:
service/webhooks.py): it shows the changes of one topic of one account in seq order, each from
the snapshot stored with it (service/snapshots.py).
This service is what such a cursor asks; the adapters only render what it returns.

Retention. The log keeps every change's row, but replay is promised only for the last
``retention`` changes (``Settings.replay_retention``); snapshots older than twice that are pruned
(``prune``; the second ``retention`` is the margin a replay may fall behind while it reads). A cursor
outside what can be replayed exactly gets a ``Gap`` instead of a partial replay:

- ``after`` older than the retained window (``after < head - retention``): ``Gap.RETENTION``;
- ``after`` beyond the log's head (the client saw a log this database no longer has: a restored
  backup, another deployment; also any id >= 2**63): ``Gap.AHEAD``;
- a subscriber that fell more than its allowance behind (its inbox overflowed): ``Gap.BEHIND``.

The caller then sends the full current document (an SSE ``reset`` event) and follows on from its
seq. A cursor exactly at the window's edge (``after == head - retention``) still replays in full.

device2's rules (a batch per change, in whichever session; a session's opening is an empty answer,
its closing nothing, the first answer pages through the cursor ``token_session``/``last``) live here
too, so the HTTP stream only renders them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sessionhub.core.access import Key
from sessionhub.core.changes import Change
from sessionhub.core.timing import PAGE_SIZE, StoredPassing, TimingSession
from sessionhub.service import snapshots
from sessionhub.service.ports import Publisher, Store
from sessionhub.service.timing import Resumed, TimingService

MAX_SEQ = 2**63 - 1
"""The largest seq either engine stores (a signed 64-bit integer); a cursor beyond it is ahead."""
PRUNE_BATCH = 2000
"""Snapshots dropped per unit of work: short enough not to hold SQLite's one writer for long."""


class Gap(enum.Enum):
    """Why a cursor cannot be replayed exactly (the stream sends a reset instead)."""

    RETENTION = "retention"
    AHEAD = "ahead"
    BEHIND = "behind"


@dataclass(frozen=True, slots=True)
class TimingBatch:
    """A timing change as a stream shows it: the session after it and the passings it stored."""

    session: TimingSession
    passings: list[StoredPassing]
    first: int | None
    """Lowest ``num_passing`` of the batch (None: the change stored none: an opening or a closing)."""


class Gone:
    """The followed object was deleted."""


GONE = Gone()


class ReplayService:
    def __init__(self, store: Store, live: Publisher, timing: TimingService, retention: int) -> None:
        if retention < 1:
            raise ValueError("replay retention must be at least 1 change")
        self._store, self._live, self._timing, self.retention = store, live, timing, retention
        self.resets: dict[Gap, int] = dict.fromkeys(Gap, 0)
        """Resets sent, by reason (counters for /metrics)."""
        self.pruned_upto = 0
        """Every snapshot of a change at or below this seq was dropped (by this process)."""

    # the cursor ------------------------------------------------------------------------------------

    async def gap(self, after: int) -> Gap | None:
        """Whether the changes after ``after`` can be replayed exactly (None) or not (why)."""
        if after > MAX_SEQ:
            return Gap.AHEAD
        head = self._live.last_seq
        if after > head:  # maybe committed by another process and not yet published here
            head = max(head, await self._store.reads.accounts.last_seq())
            if after > head:
                return Gap.AHEAD
        if after < head - self.retention:
            return Gap.RETENTION
        return None

    async def prune(self) -> bool:
        """Drop the next batch (``PRUNE_BATCH`` seqs) of snapshots older than ``2 x retention`` changes;
        True while older ones are left (call again), False when caught up. A process starts from seq 0:
        on a log pruned before, its batches find nothing to drop and move on."""
        cut = self._live.last_seq - 2 * self.retention
        if cut <= self.pruned_upto:
            return False
        upto = min(cut, self.pruned_upto + PRUNE_BATCH)
        async with self._store.unit_of_work() as uow:
            await uow.accounts.prune_data(self.pruned_upto, upto)
        self.pruned_upto = upto
        return upto < cut

    def count_reset(self, why: Gap) -> None:
        self.resets[why] += 1

    async def version(self, account_id: int, topic: str) -> int:
        """The seq of the topic's latest committed change (0: none)."""
        return await self._store.reads.accounts.last_change_seq(account_id, topic)

    async def changes_after(self, account_id: int, topic: str, after: int, limit: int) -> list[Change]:
        """Up to ``limit`` changes of the topic after ``after``, in seq order (check ``gap`` first)."""
        return await self._store.reads.accounts.changes_of(account_id, topic, after, limit)

    async def change_at(self, account_id: int, topic: str, seq: int) -> Change | None:
        """The topic's change ``seq`` itself (None: not a change of that topic)."""
        return await self._store.reads.accounts.change_at(account_id, topic, seq)

    # timing ----------------------------------------------------------------------------------------

    async def timing_batch(self, change: Change) -> TimingBatch | Gone:
        """A timing session's (or its device's) change: the session and the batch it stored."""
        if change.data is None:
            return GONE
        got = snapshots.read_timing(change.data)
        rows = [] if got.first is None or got.last is None else await self._store.reads.timing.passings_of_change(
            got.session.id, got.first, got.last, got.batch)
        return TimingBatch(got.session, rows, got.first)

    async def device2_from(self, key: Key, deviceid: str, token: str | None, last: int | None) -> list[Resumed]:
        """device2's answers from the cursor up to now, page by page (none: the device has no session
        yet). Raises DeviceNotFound as the GET does."""
        reads = self._store.reads
        device = await reads.timing.device(key.account_id, deviceid)
        if device is None or await reads.timing.latest_session(device.id) is None:
            await self._timing.device(key, deviceid)  # DeviceNotFound in the dialect's words
            return []
        pages: list[Resumed] = []
        while True:
            got = await self._timing.resume_device(key, deviceid, None, None, token, last, None)
            pages.append(got)
            if len(got.passings) < PAGE_SIZE:
                return pages
            token, last = got.session.token, got.passings[-1].passing.num_passing

    async def device2_step(self, account_id: int, deviceid: str, change: Change) -> TimingBatch | Gone | None:
        """What a device's change means to device2: a batch (or an opened session, with no passings),
        nothing (a closing, a bind, a batch of repeats), or the device's deletion."""
        if change.data is None:
            if await self._store.reads.timing.device(account_id, deviceid) is None:
                return GONE
            return None
        got = await self.timing_batch(change)
        if isinstance(got, Gone) or (got.first is None and got.session.closed_ms is not None):
            return None  # device2 moves on only when the next session opens
        return got
