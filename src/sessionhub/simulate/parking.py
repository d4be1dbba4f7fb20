"""Cars at a gated garage over the Coord Parking Access API.

Cars arrive at random (a Poisson process at ``rate``/2 a second). Each driver gets a ticket: a
pending session with a barcode (``POST /v1/access/parking/{loc}/session`` with
``"redemption": "barcode"``); a few seconds later the entry gate scans it (``.../gate/scan``
``entry``), the car stays for an exponential dwell (a few short stops, a long tail), and the exit
gate scans it again (``exit``), which ends and bills the stay. A driver now and then tries the
exit first, which the garage refuses (counted, as an attendant would see it). Cars still parked
when the run ends stay inside.
"""

from __future__ import annotations

import random
import uuid
from functools import partial

from sessionhub.simulate.clients import Http, Refused, Tally
from sessionhub.simulate.schedule import Timetable

MEAN_DWELL_S = 90.0


class Garage:
    def __init__(self, http: Http, tally: Tally, rng: random.Random, rate: float, duration: float,
                 location_id: int) -> None:
        self.http, self.tally, self.rng = http, tally, rng
        self.rate, self.duration, self.location = rate, duration, location_id
        self.billed: dict[str, int] = {}
        self.drivers = uuid.uuid4()
        """Each run's drivers are new people (a car of an earlier run may still be parked, and a user has
        one active session at a time); everything else follows the seed."""

    def plan(self, table: Timetable) -> None:
        self.http.call("GET", f"/v1/access/parking/{self.location}/session?limit=1")  # the location exists
        t = 0.0
        arrivals = max(self.rate / 2, 0.01)
        while True:
            t += self.rng.expovariate(arrivals)
            if t > self.duration:
                return
            user = str(uuid.uuid5(self.drivers, str(self.rng.getrandbits(64))))
            dwell = self.rng.expovariate(1 / min(max(self.duration / 5, 1.0), MEAN_DWELL_S))
            wrong_way = self.rng.random() < 0.03
            table.at(t, partial(self._arrive, table, t, user, dwell, wrong_way))

    def _arrive(self, table: Timetable, now: float, user: str, dwell: float, wrong_way: bool) -> None:
        s = self.http.call("POST", f"/v1/access/parking/{self.location}/session",
                           {"user_id": user, "redemption": "barcode"})
        code = s["redemption_info"]["barcode"]
        self.tally.add("cars")
        if wrong_way:
            table.at(now + 1.0, lambda: self._scan(code, "exit", refused_ok=True))
        table.at(now + 1.5 + 2.5 * (dwell % 1), lambda: self._scan(code, "entry"))
        table.at(now + 4.0 + dwell, lambda: self._scan(code, "exit"))

    def _scan(self, code: str, direction: str, refused_ok: bool = False) -> None:
        try:
            s = self.http.call("POST", f"/v1/access/parking/{self.location}/gate/scan",
                               {"barcode": code, "direction": direction})
        except Refused as exc:
            if refused_ok and exc.status == "409":  # provoked: the garage's answer is the acknowledgement
                self.tally.refused -= 1
                self.tally.acked += 1
                self.tally.add("exits refused before entry")
                return
            raise
        self.tally.add("entries" if direction == "entry" else "exits")
        cost = s.get("billing_info", {}).get("cost")
        if cost:
            self.billed[cost["currency"]] = self.billed.get(cost["currency"], 0) + int(cost["amount"])
