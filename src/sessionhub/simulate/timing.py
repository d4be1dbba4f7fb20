"""A race over the RUFUS v0 API: N runners with a realistic pace spread crossing K timing mats.

Each mat is a device (bound once per seed: its serial number names the seed) with a session of its
own. A runner's pace is log-normal around the field's median (the fast ones well ahead, a long tail
behind); the race is compressed to fit the run. Each mat reads the chips it sees and posts them in
batches (``POST /v0/passings``) about every second; a few chips are read twice (the repeat comes
back as ``duplicate_count``), and one batch per mat is held back and sent
late, after newer ones, as a reader that lost its uplink for a moment does.
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sessionhub.simulate.clients import Http, Refused, Tally
from sessionhub.simulate.schedule import Timetable

MATS = ("Start", "Halfway", "Finish")
DOUBLE_READ = 0.04
BATCH_S = 1.0


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class Race:
    def __init__(self, http: Http, tally: Tally, rng: random.Random, rate: float, duration: float, seed: int,
                 clock_ms: Any) -> None:
        self.http, self.tally, self.rng = http, tally, rng
        self.rate, self.duration, self.seed, self.clock_ms = rate, duration, seed, clock_ms
        self.tokens: list[str] = []
        self.pending: list[list[dict[str, Any]]] = [[] for _ in MATS]
        self.numbers = [0 for _ in MATS]
        self.late_done = [False for _ in MATS]

    def _device(self, name: str) -> str:
        serial = f"SIM-{self.seed}-{name.upper()}"
        try:
            got = self.http.call("POST", "/v0/devices", {"model": "sessionhub simulate", "serial_number": serial,
                                                         "type": "CUSTOM", "alias": f"{name} mat"})
        except Refused as exc:
            if exc.status != "409":
                raise
            self.tally.refused -= 1  # an answer, not a failure: the serial number is bound already
            self.tally.acked += 1
            got = json.loads(exc.body)  # bound before: the conflict names the deviceid
        return str(got["deviceid"])

    def plan(self, table: Timetable) -> None:
        for name in MATS:
            got = self.http.call("POST", "/v0/sessions", {"deviceid": self._device(name),
                                                          "alias": f"Simulated race (seed {self.seed})"})
            self.tokens.append(got["token_session"])
        reads = max(1, int(self.rate * self.duration * 0.8))
        runners = max(1, reads // len(MATS))
        span = self.duration * 0.8  # the race fits in the run, the last runner finishing near its end
        paces = sorted(math.exp(self.rng.gauss(0, 0.18)) for _ in range(runners))
        slowest = paces[-1]
        for n, pace in enumerate(paces):
            bib = str(self.rng.randint(1, 1999) * 10 + n % 10)
            wave = self.rng.uniform(0, span * 0.08)  # runners cross the start over a few seconds
            for k in range(len(MATS)):
                at = wave + (span * 0.9 - wave) * (k / (len(MATS) - 1)) * (pace / slowest)
                table.at(at + self.rng.uniform(0, 0.3), partial(self._read, k, bib))
        t = BATCH_S
        while t <= self.duration + BATCH_S:
            for k in range(len(MATS)):
                table.at(t + k * 0.05, partial(self._flush, k, t, table))
            t += BATCH_S

    def _read(self, k: int, bib: str) -> None:
        self.numbers[k] += 1
        read = {"bib": bib, "num_passing": self.numbers[k], "timestamp": _iso(self.clock_ms()),
                "chip": f"CH{bib}"}
        self.pending[k].append(read)
        self.tally.add("passings")
        if self.rng.random() < DOUBLE_READ:
            self.pending[k].append(dict(read))  # the same read again: the server counts it as a duplicate

    def _flush(self, k: int, now: float, table: Timetable) -> None:
        batch, self.pending[k] = self.pending[k], []
        if not batch:
            return
        if not self.late_done[k] and self.numbers[k] > 20 and self.rng.random() < 0.2:
            self.late_done[k] = True
            table.at(now + 3.0, lambda: self._send(k, batch, late=True))
            return
        self._send(k, batch)

    def _send(self, k: int, batch: list[dict[str, Any]], late: bool = False) -> None:
        got = self.http.call("POST", "/v0/passings", {"token_session": self.tokens[k], "passings_list": batch})
        self.tally.add("batches")
        self.tally.add("late batches", int(late))
        self.tally.add("inserted", int(got.get("inserted_count", 0)))
        self.tally.add("duplicates", int(got.get("duplicate_count", 0)))
