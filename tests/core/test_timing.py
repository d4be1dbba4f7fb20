"""The timing rules, as plain functions: no fixtures, no I/O."""

from __future__ import annotations

import pytest

from sessionhub.core import timing
from sessionhub.core.errors import InvalidInput, SessionNotActive
from sessionhub.core.timing import Device, Passing, TimingSession

DEVICE = Device(1, 7, "D" * 64, "CUSTOM", "X1", "S-1", "", None, 0, None)


def session(closed: int | None = None) -> TimingSession:
    return TimingSession(3, 7, 1, "D" * 64, "T" * 64, "START-5K", 1000, closed, 0, None, None)


def test_new_session_is_active_and_empty() -> None:
    s = timing.new_session(DEVICE, "START-5K", "T" * 64, 5000)
    assert s.active and s.passings == 0 and s.first_ms is None and s.created_ms == 5000
    assert s.duration_ms == 5000 + timing.PLANNED_LENGTH_MS


def test_close_sets_the_close_time_once() -> None:
    closed = timing.close(session(), 9000)
    assert not closed.active and closed.closed_ms == 9000 and closed.duration_ms == 9000
    assert timing.close(closed, 12000) is closed


def test_batch_drops_repeats_inside_the_batch_first_copy_wins() -> None:
    batch = timing.prepare_batch(session(), "T", [Passing(1, 50, "a"), Passing(2, 10, "b"), Passing(1, 99, "c")])
    assert [p.bib for p in batch.passings] == ["a", "b"]
    assert batch.repeats == 1 and (batch.first_ms, batch.last_ms) == (10, 50)


@pytest.mark.parametrize("target", [None, session(closed=2000)])
def test_batch_needs_an_active_session(target: TimingSession | None) -> None:
    with pytest.raises(SessionNotActive) as caught:
        timing.prepare_batch(target, "T" * 64, [Passing(1, 1, "a")])
    assert caught.value.ident == "T" * 64 and caught.value.message == "Session not found or closed"


def test_batch_bounds() -> None:
    with pytest.raises(InvalidInput, match="at least one"):
        timing.prepare_batch(session(), "T", [])
    with pytest.raises(InvalidInput, match="more than"):
        timing.prepare_batch(session(), "T", [Passing(i, 1, "a") for i in range(timing.MAX_BATCH + 1)])


@pytest.mark.parametrize(("page", "size", "window"),
                         [(None, 5000, (0, 5000)), (1, 10, (0, 10)), (3, 5000, (10000, 5000))])
def test_page_window(page: int | None, size: int, window: tuple[int, int]) -> None:
    assert timing.page_window(page, size) == window


@pytest.mark.parametrize(("page", "size", "field"), [(0, 10, "page"), (timing.MAX_PAGE + 1, 10, "page"),
                                                      (1, 0, "limit"), (1, 5001, "limit")])
def test_page_window_refuses_absurd_values(page: int, size: int, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        timing.page_window(page, size)
    assert caught.value.field == field


def test_range_must_not_be_inverted() -> None:
    timing.check_range(1, 1, "first", "last")
    timing.check_range(None, 5, "first", "last")
    with pytest.raises(InvalidInput) as caught:
        timing.check_range(5, 1, "from", "to")
    assert caught.value.field == "from"
