"""The repositories of one connection, as the services see them: a store's read side
(``store.reads``) or one unit of work (``async with store.unit_of_work() as uow``)."""

from __future__ import annotations

from sessionhub.store.accounts import Accounts
from sessionhub.store.events import Events
from sessionhub.store.paging import Paging
from sessionhub.store.parking import Parking
from sessionhub.store.shares import Shares
from sessionhub.store.timing import Timing
from sessionhub.store.webhooks import Webhooks


class Repos:
    """One repository per domain, all on the same connection (and transaction)."""

    __slots__ = ("accounts", "events", "paging", "parking", "shares", "timing", "webhooks")

    def __init__(self, accounts: Accounts, timing: Timing, parking: Parking, paging: Paging, events: Events,
                 webhooks: Webhooks, shares: Shares) -> None:
        self.accounts = accounts
        self.shares = shares
        self.events = events
        self.timing = timing
        self.parking = parking
        self.paging = paging
        self.webhooks = webhooks
