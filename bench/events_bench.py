"""Live results of a race event: what one results read costs, beside reading the same passings.

    python -m bench --only events          (or: python -m bench.events_bench [--quick])

An event with one timing point (a finish mat), ``PARTICIPANTS`` participants and ``LAPS`` passings
each, on an embedded SQLite store, through the services as the HTTP handlers call them. The
reference is the same run's bare read of those passings (``reads.timing.passings_of_device``, page
by page): the results' own cost (linking each passing to its participant, sorting the standings)
is the difference. No target: the figure says how big an event one results poll can serve.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.harness import Figure, print_figures
from sessionhub.config import Settings
from sessionhub.core.events import Participant
from sessionhub.core.timing import PAGE_SIZE, Passing
from sessionhub.runtime import build


async def _run(participants: int, laps: int) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        rt = build(Settings(db=f"sqlite:///{Path(tmp) / 'bench.db'}"))
        await rt.start()
        try:
            key = await rt.access.authenticate(await rt.access.create_key("bench", "READ_WRITE"))
            deviceid = await rt.timing.bind_device(key, model="mat", serial_number="FIN", type=None, alias=None,
                                                   firmware=None)
            token = await rt.events.create_event("bench", "Bench race")
            await rt.events.add_point("bench", token, deviceid, "FINISH")
            roster = [Participant(0, 0, "", str(b)) for b in range(participants)]
            await rt.events.create_participants(key, token, roster)
            session = await rt.timing.open_session(key, deviceid, "FINISH")
            n = 0
            for lap in range(laps):
                batch = [Passing(n + b + 1, 1_700_000_000_000 + lap * 600_000 + b, str(b)) for b in range(participants)]
                n += participants
                await rt.timing.record_passings(key, session, batch)
            device = await rt.store.reads.timing.device(key.account_id if key else 0, deviceid)
            assert device is not None

            async def raw() -> None:
                offset = 0
                while True:
                    page = await rt.store.reads.timing.passings_of_device(device.id, None, None, offset, PAGE_SIZE)
                    offset += len(page)
                    if len(page) < PAGE_SIZE:
                        return

            async def results() -> None:
                await rt.events.results(key, token)

            def ms(samples: list[float]) -> float:
                return statistics.median(samples) * 1000

            raw_t, res_t = [], []
            for _ in range(5):
                t0 = time.perf_counter()
                await raw()
                raw_t.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                await results()
                res_t.append(time.perf_counter() - t0)
        finally:
            await rt.stop()
    passings = participants * laps
    return [Figure(f"results of {participants:,} participants x {laps} laps ({passings:,} passings)", ms(res_t),
                   "ms", "reading those passings", ms(raw_t), "none (information)", True)]


def main(quick: bool = False) -> None:
    participants, laps = (1000, 5) if quick else (10_000, 5)
    print_figures("Event live results (SQLite, one timing point)", asyncio.run(_run(participants, laps)))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    main(ap.parse_args().quick)
