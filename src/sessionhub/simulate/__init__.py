"""``sessionhub simulate``: clients that bring a server to life through its real APIs.

Not a layer of the server: each scenario is a client over real sockets in its dialect's own wire
format — a race over RUFUS v0 (HTTP), cars at a gated garage over Coord Parking Access (HTTP),
parties at a host stand over the LRS CoAP API (UDP) — against any running ``sessionhub serve``.
With ``--seed`` a run is deterministic: the same runners, cars and parties in the same order (only
the server's ids and the wall-clock stamps differ). A progress line goes to stderr while it runs;
the summary of what was sent and acknowledged goes to stdout at the end. Nothing of the server's
code is used: a simulator is exactly as foreign to the server as a real client.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from sessionhub.simulate.clients import Coap, Http, Refused, Tally
from sessionhub.simulate.paging import HostStand
from sessionhub.simulate.parking import Garage
from sessionhub.simulate.schedule import Timetable
from sessionhub.simulate.timing import Race

SCENARIOS = ("timing", "parking", "paging")


@dataclass(frozen=True, slots=True)
class Plan:
    which: tuple[str, ...]
    url: str
    coap: tuple[str, int]
    key: str | None
    location_id: int
    rate: float
    duration: float
    seed: int


@dataclass
class Outcome:
    tally: Tally
    errors: list[str]
    extra: str = ""


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _scenario(name: str, plan: Plan, seed: int, tally: Tally) -> tuple[Callable[[Timetable], None], Callable[[], str],
                                                                     Callable[[], None]]:
    rng = random.Random(f"{plan.seed}/{name}")
    if name == "paging":
        coap = Coap(plan.coap[0], plan.coap[1], tally, seed)
        stand = HostStand(coap, tally, rng, plan.rate, plan.duration)
        return stand.plan, lambda: "", coap.close
    if plan.key is None:
        raise ValueError(f"the {name} simulator needs a key: --key KEY or SESSIONHUB_KEY")
    # each dialect's own way to send the key: RUFUS a header, Coord the access_key query parameter
    http = Http(plan.url, {"api_key": plan.key} if name == "timing" else {}, tally,
                query={} if name == "timing" else {"access_key": plan.key})
    if name == "timing":
        race = Race(http, tally, rng, plan.rate, plan.duration, plan.seed, _wall_ms)
        return race.plan, lambda: "", http.close
    garage = Garage(http, tally, rng, plan.rate, plan.duration, plan.location_id)

    def billed() -> str:
        return ", ".join(f"billed {a // 100}.{a % 100:02d} {c}" for c, a in sorted(garage.billed.items()))

    return garage.plan, billed, http.close


def _run_one(name: str, plan: Plan, stop: threading.Event, out: Outcome) -> None:
    try:
        setup, extra, close = _scenario(name, plan, plan.seed, out.tally)
    except (ValueError, OSError, Refused) as exc:
        out.errors.append(f"cannot start: {exc}")
        return
    try:
        table = Timetable(stop)
        try:
            setup(table)
        except (OSError, Refused, KeyError, ValueError) as exc:
            out.errors.append(f"cannot start: {exc}")
            return

        def failed(exc: Exception) -> None:
            if len(out.errors) < 5:
                out.errors.append(f"{type(exc).__name__}: {exc}")

        table.run(plan.duration + 5.0, failed)
        out.extra = extra()
    finally:
        close()


def _line(plan: Plan, outcomes: dict[str, Outcome], started: float) -> str:
    parts = [f"{n}: {o.tally.acked}/{o.tally.sent} ok" + (f", {o.tally.refused + o.tally.failed} failed"
                                                          if o.tally.refused + o.tally.failed else "")
             for n, o in outcomes.items()]
    return f"[{min(time.monotonic() - started, plan.duration):5.0f}/{plan.duration:.0f}s] " + " | ".join(parts)


def run(plan: Plan, progress: TextIO = sys.stderr, report: TextIO = sys.stdout) -> int:
    """Run the scenarios of ``plan`` side by side; print progress and a summary. 0 when every request
    was acknowledged (refusals the scenario provokes on purpose are not failures), else 1."""
    stop = threading.Event()
    outcomes = {name: Outcome(Tally(), []) for name in plan.which}
    threads = [threading.Thread(target=_run_one, args=(n, plan, stop, outcomes[n]), name=f"simulate-{n}",
                                daemon=True) for n in plan.which]
    started = time.monotonic()
    for t in threads:
        t.start()
    tty = progress.isatty()
    try:
        while any(t.is_alive() for t in threads):
            alive = next(t for t in threads if t.is_alive())
            alive.join(1.0 if tty else 5.0)
            progress.write(("\r" if tty else "") + _line(plan, outcomes, started) + ("" if tty else "\n"))
            progress.flush()
    except KeyboardInterrupt:
        stop.set()
        for t in threads:
            t.join(10)
    if tty:
        progress.write("\n")
    ok = True
    for name, o in outcomes.items():
        tally = o.tally
        details = ", ".join(f"{k} {v}" for k, v in tally.extra.items())
        report.write(f"{name}: sent {tally.sent}, acknowledged {tally.acked}, refused {tally.refused}, "
                     f"failed {tally.failed}" + (f"; {details}" if details else "")
                     + (f"; {o.extra}" if o.extra else "") + "\n")
        for e in o.errors:
            report.write(f"  {name}: {e}\n")
        ok = ok and not o.errors and tally.refused == 0 and tally.failed == 0
    return 0 if ok else 1
