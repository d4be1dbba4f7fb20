"""Read deadlines on one timer (http/deadlines.py): never early, disarmed ones never fire, the expired
are handled a slice per turn of the loop, and one armed again while it waits for its slice is spared."""

from __future__ import annotations

import asyncio

from sessionhub.http.deadlines import Deadlines


class Conn:
    def __init__(self, deadlines: Deadlines, log: list[tuple[str, float]]) -> None:
        self.deadlines, self.log, self.name = deadlines, log, f"c{len(log)}"

        self.then: Conn | None = None  # armed again when this one expires

    def expired(self) -> None:
        self.log.append((self.name, asyncio.get_running_loop().time()))
        if self.then is not None:
            self.deadlines.arm(self.then, 60)


async def test_a_deadline_fires_once_not_early_and_a_disarmed_one_never() -> None:
    deadlines, log = Deadlines(tick=0.02), []  # type: ignore[var-annotated]
    loop = asyncio.get_running_loop()
    kept, dropped = Conn(deadlines, log), Conn(deadlines, log)
    dropped.name = "dropped"
    start = loop.time()
    deadlines.arm(kept, 0.05)
    deadlines.arm(dropped, 0.05)
    deadlines.disarm(dropped)
    await asyncio.sleep(0.2)
    assert [name for name, _ in log] == [kept.name]
    assert 0.05 <= log[0][1] - start < 0.15
    assert len(deadlines) == 0 and deadlines._timer is None  # nothing armed: no timer left ticking


async def test_the_expired_are_handled_a_slice_per_turn_and_a_rearmed_one_is_spared() -> None:
    deadlines, log = Deadlines(tick=0.01, slice_size=2), []  # type: ignore[var-annotated]
    conns = [Conn(deadlines, log) for _ in range(5)]
    for n, c in enumerate(conns):
        c.name = f"c{n}"
        deadlines.arm(c, 0)
    conns[0].then = conns[4]  # c4 is armed again while it waits for its slice
    turns: list[int] = []

    async def count_turns() -> None:
        while len(log) < 4:
            turns.append(len(log))
            await asyncio.sleep(0)

    await asyncio.wait_for(count_turns(), 1)
    await asyncio.sleep(0.05)
    assert [name for name, _ in log] == ["c0", "c1", "c2", "c3"]
    assert 2 in turns  # the loop ran between the first slice and the next
    assert len(deadlines) == 1
