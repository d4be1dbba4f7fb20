"""Kept page boundaries: where deep pages of a device's passings start, remembered between reads.

Sans-I/O: a map from a *window* ``(device_id, low_ms, high_ms)`` to the keys ``(ts_ms, session_id,
num_passing)`` found at offsets of that window's order (time, then session, then number). A page at
``offset`` seeks its first row from the nearest kept boundary at or below ``offset`` instead of
walking the index from the window's start (timing.py), so paging a device in order, or polling its
last page again, walks at most one page of index entries.

Invariant: a kept boundary ``(offset, key)`` of a window means "``key`` is in the window and exactly
``offset`` of the window's rows sort below it" in the database the readers see. It holds while
nothing else changes the window, so the writer reports every committed change, and only committed
ones (a rolled-back write reports nothing):

- an inserted row with key ``k`` in a window (``low <= ts_ms <= high``) adds one row below every
  boundary whose key is above ``k``: those are dropped (``>=`` as well: a key already stored is a
  repeat the insert skipped, and dropping too much is always safe). Boundaries below ``k`` keep
  their offset: appends at the end of a device, the common case, keep every boundary;
- any delete of a device's passings drops the device's windows;
- a change the writer cannot describe (another process's commit, a failed commit) clears it all.

Bounded: at most ``WINDOWS`` windows (least recently used dropped first) and ``PER_WINDOW``
boundaries per window (likewise). Not allowed: keeping a boundary past a change it did not hear
of; the store that owns the map (the SQLite store: one process writes it) guarantees that.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sessionhub.core.timing import Passing

Key = tuple[int, int, int]
"""``(ts_ms, session_id, num_passing)``: a passing's place in a device's order."""
Window = tuple[int, int, int]
"""``(device_id, low_ms, high_ms)``, both ends inclusive."""

WINDOWS = 256
"""Windows kept (a device polled by several clients with different time filters has several)."""
PER_WINDOW = 64
"""Boundaries kept per window: paging in order needs the last one or two; 64 keep a few clients'
positions in one window."""


class PageBoundaries:
    """See the module docstring. ``version`` is the owner's opaque token of the database state the
    map describes; ``at(version)`` clears the map when the database moved on without telling it."""

    __slots__ = ("_windows", "version")

    def __init__(self, version: object = None) -> None:
        self._windows: dict[Window, dict[int, Key]] = {}
        self.version = version

    def __len__(self) -> int:
        """Boundaries kept, over every window."""
        return sum(len(b) for b in self._windows.values())

    def at(self, version: object) -> None:
        """The readers now see database state ``version``: clear the map unless it is the one it describes."""
        if version != self.version:
            self._windows.clear()
            self.version = version

    def nearest(self, window: Window, offset: int) -> tuple[int, Key] | None:
        """The kept boundary with the greatest offset at or below ``offset``, or None."""
        kept = self._windows.get(window)
        if not kept:
            return None
        self._windows[window] = self._windows.pop(window)  # most recently used last
        best = -1
        for at in kept:
            if best < at <= offset:
                best = at
        if best < 0:
            return None
        key = kept.pop(best)
        kept[best] = key
        return best, key

    def remember(self, window: Window, offset: int, key: Key) -> None:
        """``key`` is the key at ``offset`` of ``window`` (read from the database state the map describes)."""
        kept = self._windows.pop(window, None)
        if kept is None:
            kept = {}
            if len(self._windows) >= WINDOWS:
                del self._windows[next(iter(self._windows))]
        self._windows[window] = kept
        kept.pop(offset, None)
        if len(kept) >= PER_WINDOW:
            del kept[next(iter(kept))]
        kept[offset] = key

    def inserted(self, device_id: int, keys: Iterable[Key]) -> None:
        """Rows with ``keys`` were committed to the device: drop the boundaries they moved."""
        windows = [w for w in self._windows if w[0] == device_id]
        if not windows:
            return
        keys = list(keys)  # made only now: most batches are of devices nobody pages deep
        for window in windows:
            _, low, high = window
            lowest = min((k for k in keys if low <= k[0] <= high), default=None)
            if lowest is None:
                continue
            kept = self._windows[window]
            for at in [at for at, key in kept.items() if key >= lowest]:
                del kept[at]

    def deleted(self, device_id: int) -> None:
        """Passings of the device were deleted (committed): forget its windows."""
        for window in [w for w in self._windows if w[0] == device_id]:
            del self._windows[window]

    def clear(self) -> None:
        """Forget everything (a change the writer cannot describe)."""
        self._windows.clear()


class Written:
    """What one unit of work changed of the passings, told to a map only once it has committed
    (``tell``); a unit of work that rolls back is dropped untold. Cheap to fill: the batches are
    kept as they are, their keys made only for devices the map has windows of."""

    __slots__ = ("deleted", "inserted")

    def __init__(self) -> None:
        self.inserted: dict[int, list[tuple[int, Sequence[Passing]]]] = {}
        self.deleted: set[int] = set()

    def insert(self, device_id: int, session_id: int, passings: Sequence[Passing]) -> None:
        """``passings`` were (or may have been: repeats are skipped) stored in the device's session."""
        self.inserted.setdefault(device_id, []).append((session_id, passings))

    def delete(self, device_id: int) -> None:
        """Some or all of the device's passings were deleted."""
        self.deleted.add(device_id)

    def tell(self, boundaries: PageBoundaries) -> None:
        for device_id in self.deleted:
            boundaries.deleted(device_id)
        for device_id, batches in self.inserted.items():
            boundaries.inserted(device_id, ((p.ts_ms, sid, p.num_passing) for sid, ps in batches for p in ps))
