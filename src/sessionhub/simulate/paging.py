"""Parties at a host stand over the LRS T7470 CoAP API (the station the server's CoAP port serves).

Parties arrive at random (a Poisson process at ``rate``/6 a second), each on the lowest free pager
from 100 up, with a name, a size (mostly twos and fours) and a quoted wait (in compressed minutes). The host pages each
when its table is ready — most near their quote, some late, so the stand shows overdue parties —
(``PUT /v1/sessions?number=N`` ``{"action": "page"}``), re-pages a few who do not come, and clears
the pager when the party is seated (``"clear"``); now and then a party leaves unseated and its
session is removed (``DELETE /v1/sessions?number=N``).
"""

from __future__ import annotations

import random
from functools import partial

from sessionhub.simulate.clients import Coap, Tally
from sessionhub.simulate.schedule import Timetable

NAMES = ("Garcia", "Nguyen", "Smith", "Okafor", "Kim", "Rossi", "Novak", "Haddad", "Silva", "Jensen",
         "Mehta", "Dubois", "Tanaka", "Kowalski", "Murphy", "Ahmed", "Larsen", "Costa", "Ivanova", "Brown")
FIRST_PAGER = 100
MINUTE_S = 10
"""A quoted minute lasts this many seconds: a dinner rush in a few minutes of watching."""


class HostStand:
    def __init__(self, coap: Coap, tally: Tally, rng: random.Random, rate: float, duration: float) -> None:
        self.coap, self.tally, self.rng = coap, tally, rng
        self.rate, self.duration = rate, duration
        self.in_use: set[int] = set()

    def plan(self, table: Timetable) -> None:
        self.coap.call("GET", "/v1/sessions/statistics")  # the station answers
        t = 0.0
        while True:
            t += self.rng.expovariate(max(self.rate / 6, 0.01))
            if t > self.duration:
                return
            size = self.rng.choice((2, 2, 2, 4, 4, 3, 1, 5, 6, 8))
            quote = self.rng.choice((2, 3, 5, 8)) * MINUTE_S
            ready = quote * self.rng.uniform(0.6, 1.5)
            fate = self.rng.random()
            label = self.rng.choice(NAMES)
            table.at(t, partial(self._arrive, table, t, label, size, quote, ready, fate))

    def _arrive(self, table: Timetable, now: float, label: str, size: int, quote: float, ready: float,
                fate: float) -> None:
        number = next(n for n in range(FIRST_PAGER, 10000) if n not in self.in_use)
        goal = max(1, int(quote))
        self.coap.call("POST", "/v1/sessions", body={"number": number, "label": label, "partySize": size,
                                                     "goal": goal})
        self.in_use.add(number)
        self.tally.add("parties")
        if fate < 0.05:  # gave up before a table was ready
            table.at(now + ready * 0.7, lambda: self._leave(number))
            return
        table.at(now + ready, lambda: self._act(number, "page"))
        seated = ready + 2 + 6 * (fate * 7 % 1)
        if fate < 0.2:  # did not come at the first page
            table.at(now + ready + 4, lambda: self._act(number, "page"))
            seated += 4
        table.at(now + seated, lambda: self._act(number, "clear", free=True))

    def _act(self, number: int, action: str, free: bool = False) -> None:
        self.coap.call("PUT", "/v1/sessions", [f"number={number}"], {"action": action})
        self.tally.add("pages" if action == "page" else "seated")
        if free:
            self.in_use.discard(number)

    def _leave(self, number: int) -> None:
        self.coap.call("DELETE", "/v1/sessions", [f"number={number}"])
        self.tally.add("removed")
        self.in_use.discard(number)
