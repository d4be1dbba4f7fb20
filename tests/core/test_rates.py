"""Token buckets (core/rates.py): bursts, refill, Retry-After, no limit, bounded table."""

from __future__ import annotations

from sessionhub.core.rates import TokenBuckets


def test_a_burst_is_admitted_then_refused_with_the_seconds_to_wait() -> None:
    b = TokenBuckets(rate=2.0, burst=3)
    assert [b.take("k", 0.0) for _ in range(3)] == [0, 0, 0]
    assert b.take("k", 0.0) == 1  # half a second to the next token: rounded up to whole seconds
    assert b.take("k", 0.5) == 0  # it came back
    assert b.take("other", 0.5) == 0  # names do not share


def test_refill_never_passes_the_burst_and_a_slow_rate_waits_longer() -> None:
    b = TokenBuckets(rate=0.1, burst=2)
    assert b.take("k", 0.0) == 0 and b.take("k", 0.0) == 0
    assert b.take("k", 0.0) == 10
    assert [b.take("k", 1000.0) for _ in range(3)] == [0, 0, 10]


def test_empty_takes_nothing() -> None:
    b = TokenBuckets(rate=1.0, burst=1)
    assert b.empty("k", 0.0) == 0 and b.take("k", 0.0) == 0
    assert b.empty("k", 0.0) == 1 and b.empty("k", 1.0) == 0 and b.take("k", 1.0) == 0


def test_rate_zero_is_no_limit() -> None:
    b = TokenBuckets(rate=0, burst=1)
    assert all(b.take("k", 0.0) == 0 for _ in range(10_000)) and len(b) == 0


def test_the_table_is_bounded_and_keeps_debtors_while_it_can() -> None:
    b = TokenBuckets(rate=1.0, burst=1, max_names=100)
    assert b.take("debtor", 0.0) == 0  # now empty
    for n in range(1000):
        b.take(n, 0.0 + n * 10)  # each refills long before the next arrives
        assert len(b) <= 100
    assert len(b) <= 100
