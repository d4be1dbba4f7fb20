"""Revoked keys lose their open streams and long-polls.

A stream or a long-poll is authorized once, when it starts; after that it only waits on its hub
subscription. So when a key is revoked (here, by the CLI in another process, or on another server
of the same PostgreSQL database: the change feed carries topic ``keys`` either way), every
subscription held by that key is closed: streams end, long-polls answer as a request with that
key now does (401). The check runs once per ``keys`` change, for the keys that hold subscriptions
(one read of the key table), and at most one check runs at a time: changes that arrive during a
check cause one more check after it, so a burst of revocations costs two reads, not one per key.
"""

from __future__ import annotations

import asyncio
import logging

from sessionhub.core.changes import Change, keys_topic
from sessionhub.live.hub import ChangeHub
from sessionhub.service.access import AccessService

log = logging.getLogger(__name__)


class Revocations:
    """A change-hub watcher that closes the subscriptions of revoked keys."""

    def __init__(self, hub: ChangeHub, access: AccessService) -> None:
        self._hub, self._access = hub, access
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self.closed = 0
        """Subscriptions closed because their key was revoked (a counter for /metrics)."""

    def on_change(self, change: Change) -> None:
        if change.topic != keys_topic() or not self._hub.key_ids:
            return
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._check(), name="key-revocations")

    async def _check(self) -> None:
        while True:
            self._again = False
            try:
                revoked = await self._access.revoked_among(self._hub.key_ids)
            except Exception:  # the store went away: the next keys change checks again
                log.exception("checking revoked keys failed")
                return
            closed = self._hub.close_keys(revoked)
            if closed:
                self.closed += closed
                log.info("closed %d stream(s) and long-poll(s) of %d revoked key(s)", closed, len(revoked))
            if not self._again:
                return

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
