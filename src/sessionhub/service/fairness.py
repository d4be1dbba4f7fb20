"""Fair writes: a bounded number of writes per tenant ahead of the store's single writer.

The store commits one unit of work at a time, first come first served. Without a bound, one
tenant's flood (a station hammered with PUTs) fills that queue and every other tenant's write
waits behind all of it. ``WriteGate`` admits at most ``per_key`` writes of one key (a station, an
account) to the store at once; up to ``queue`` more of that key wait here, in order, outside the
store's queue; beyond that a write is refused at once with ``StoreUnavailable`` (busy: retry), so
a flood costs its own tenant, not the others. Another key's write therefore waits behind at most
``per_key`` writes of each busy key.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sessionhub.core.errors import StoreUnavailable


@dataclass(slots=True)
class _Key:
    running: int = 0
    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)


class WriteGate:
    def __init__(self, per_key: int = 2, queue: int = 64) -> None:
        self.per_key, self.queue = per_key, queue
        self._keys: dict[Hashable, _Key] = {}
        self.refused = 0
        """Writes refused because their key's queue was full."""

    @asynccontextmanager
    async def slot(self, key: Hashable) -> AsyncIterator[None]:
        """Hold one of ``key``'s write slots for the block.

        Raises:
            StoreUnavailable: ``key`` has ``per_key`` writes running and ``queue`` waiting.
        """
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _Key()
        if state.running < self.per_key:
            state.running += 1
        elif len(state.waiting) >= self.queue:
            self.refused += 1
            raise StoreUnavailable("too many writes in progress for this station or account; retry shortly")
        else:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            state.waiting.append(future)
            try:
                await future  # resolved by a finishing write, which hands its slot over
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._release(key, state)  # the slot was handed over just as we were cancelled
                elif future in state.waiting:
                    state.waiting.remove(future)
                raise
        try:
            yield
        finally:
            self._release(key, state)

    def _release(self, key: Hashable, state: _Key) -> None:
        while state.waiting:
            future = state.waiting.popleft()
            if not future.done():
                future.set_result(None)  # the slot passes to the next writer of this key
                return
        state.running -= 1
        if state.running == 0:
            del self._keys[key]

    def __len__(self) -> int:
        """Keys with writes running."""
        return len(self._keys)
