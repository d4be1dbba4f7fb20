"""Endpoint verification (``coap.sources``), sans-I/O: Echo values, probes, the bounded table."""

from __future__ import annotations

import itertools

from sessionhub.coap.sources import ECHO_WINDOW, PROBE_TIMEOUT, Sources

A = ("10.0.0.1", 5683)
B = ("10.0.0.2", 5683)


def sources(**kw: float) -> Sources:
    mids = itertools.count(0x1234)
    return Sources(b"k" * 32, lambda: next(mids), **kw)  # type: ignore[arg-type]


def test_an_echo_value_verifies_its_endpoint_only_and_goes_stale() -> None:
    s = sources()
    value = s.echo(A, 100.0)
    assert len(value) == 8 and not s.is_verified(A, 100.0)
    assert not s.check_echo(B, value, 100.0)  # minted for A
    assert not s.check_echo(A, value, 100.0 + 2 * ECHO_WINDOW + 1)  # too old
    assert s.check_echo(A, value, 100.0 + ECHO_WINDOW) and s.is_verified(A, 101.0)
    assert s.verified_now == [A]


def test_a_probe_is_answered_once_with_its_mid_and_a_wrong_guess_fails_it() -> None:
    s = sources()
    probe = s.probe(A, 0.0)
    assert probe == bytes((0x40, 0, 0x12, 0x34))
    assert s.probe(A, 1.0) is None  # one outstanding per endpoint
    assert not s.answer(A, 0x9999, 1.0) and not s.probing(A)  # a wrong guess spends the probe
    probe = s.probe(A, 1.0)
    assert probe is not None and not s.answer(A, 0x1235, 1.0 + PROBE_TIMEOUT)  # too late
    probe = s.probe(A, 20.0)
    assert probe is not None and s.answer(A, probe[2] << 8 | probe[3], 20.1) and s.is_verified(A, 20.2)


def test_verification_is_remembered_for_a_bounded_time_in_a_bounded_table() -> None:
    s = sources(ttl=60.0, max_verified=2)
    s.verify(A, 0.0)
    assert s.is_verified(A, 59.0) and not s.is_verified(A, 61.0)
    s.verify(A, 100.0)
    s.verify(B, 100.0)
    s.verify(("10.0.0.3", 1), 100.0)
    assert len(s) == 2 and not s.is_verified(A, 100.0)  # the oldest went first
