"""Pure tests of core.parking: billing edges, the transition table, the gate's pass rules."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from sessionhub.core import parking
from sessionhub.core.errors import IllegalTransition, InvalidInput
from sessionhub.core.parking import DAY_MS, MINUTE_MS, Barcode, Event, Location, ParkingSession, State

T0 = 1_700_000_000_000
SECOND = 1000
LOT = Location(7, 1, "Lot", rate_per_hour=400, currency="USD", increment_minutes=15)  # 100 per increment
CAPPED = replace(LOT, daily_max=2000)


def stay(minutes: float, location: Location = LOT) -> int:
    return parking.cost(location, T0, T0 + int(minutes * MINUTE_MS))


# billing --------------------------------------------------------------------------------------


def test_zero_minutes_cost_nothing() -> None:
    assert stay(0) == 0
    assert parking.cost(LOT, T0, T0 - 5 * MINUTE_MS) == 0  # a clock step backwards is not a refund


def test_exactly_one_increment_is_one_increment() -> None:
    assert stay(15) == 100


def test_one_second_over_starts_the_next_increment() -> None:
    assert parking.cost(LOT, T0, T0 + 15 * MINUTE_MS + SECOND) == 200
    assert parking.cost(LOT, T0, T0 + 1) == 100  # one ms in starts the first increment


def test_an_hour_is_the_hourly_rate() -> None:
    assert stay(60) == 400
    assert stay(61) == 500


def test_fractional_rate_per_increment_rounds_up_per_window() -> None:
    lot = replace(LOT, rate_per_hour=350)  # 87.5 per increment
    assert stay(15, lot) == 88
    assert stay(30, lot) == 175
    assert stay(45, lot) == 263


def test_daily_max_caps_each_24h_window() -> None:
    assert stay(4 * 60, CAPPED) == 1600
    assert stay(6 * 60, CAPPED) == 2000  # 2400 capped
    assert stay(24 * 60, CAPPED) == 2000
    assert stay(24 * 60 + 1, CAPPED) == 2100  # a second day starts: one increment of it
    assert stay(2 * 24 * 60 + 3 * 60, CAPPED) == 2000 + 2000 + 1200
    assert stay(3 * 24 * 60, CAPPED) == 3 * 2000


def test_multi_day_without_daily_max_is_plain_increments() -> None:
    assert parking.cost(LOT, T0, T0 + 2 * DAY_MS + 15 * MINUTE_MS) == (2 * 96 + 1) * 100


def test_daily_max_of_zero_makes_parking_free() -> None:
    assert stay(300, replace(LOT, daily_max=0)) == 0


def test_location_validation() -> None:
    ok = parking.new_location(1, " Lot ", 350, "USD", 15, 2400, T0)
    assert (ok.name, ok.increment_minutes, ok.daily_max) == ("Lot", 15, 2400)
    bad: list[dict[str, object]] = [
        dict(name=" "), dict(rate_per_hour=-1), dict(currency="usd"), dict(currency="DOLLAR"),
        dict(increment_minutes=0), dict(increment_minutes=7), dict(increment_minutes=1441), dict(daily_max=-5),
    ]
    for override in bad:
        args: dict[str, object] = dict(account_id=1, name="Lot", rate_per_hour=350, currency="USD",
                                       increment_minutes=15, daily_max=None)
        args.update(override)
        with pytest.raises(InvalidInput):
            parking.new_location(**args)  # type: ignore[arg-type]


# transitions ----------------------------------------------------------------------------------


def direct() -> ParkingSession:
    return replace(parking.new_session(LOT, "u", T0), id=1)


def pending() -> ParkingSession:
    return replace(parking.new_session(LOT, "u", T0, "00000000000000000001", started=False), id=2)


def test_new_sessions_start_or_wait() -> None:
    assert direct().state is State.STARTED and direct().start_ms == T0
    assert pending().state is State.PENDING and pending().start_ms is None
    started_pass = parking.new_session(LOT, "u", T0, "1", started=True)
    assert started_pass.state is State.STARTED and started_pass.barcode == "1"


def test_direct_session_ends_and_is_billed() -> None:
    ended = parking.fire(direct(), Event.END, LOT, T0 + 20 * MINUTE_MS)
    assert ended.state is State.ENDED
    assert (ended.end_ms, ended.cost, ended.currency) == (T0 + 20 * MINUTE_MS, 200, "USD")


def test_barcode_session_entry_then_exit() -> None:
    inside = parking.fire(pending(), Event.ENTRY, LOT, T0 + MINUTE_MS)
    assert inside.state is State.STARTED and inside.start_ms == T0 + MINUTE_MS
    out = parking.fire(inside, Event.EXIT, LOT, T0 + 31 * MINUTE_MS)
    assert out.state is State.ENDED and out.cost == 200


def test_redeem_makes_up_the_whole_stay() -> None:
    done = parking.fire(pending(), Event.REDEEM, LOT, T0, 90 * MINUTE_MS)
    assert (done.start_ms, done.end_ms, done.cost) == (T0, T0 + 90 * MINUTE_MS, 600)


@pytest.mark.parametrize(
    ("make", "event", "words"),
    [
        (direct, Event.ENTRY, "no barcode"),
        (direct, Event.EXIT, "no barcode"),
        (direct, Event.REDEEM, "no barcode"),
        (pending, Event.END, "gate"),
        (pending, Event.EXIT, "exit before entry"),
    ],
)
def test_illegal_moves_are_refused(make: object, event: Event, words: str) -> None:
    session = make()  # type: ignore[operator]
    with pytest.raises(IllegalTransition, match=words):
        parking.fire(session, event, LOT, T0)


def test_no_move_out_of_ended() -> None:
    ended = parking.fire(direct(), Event.END, LOT, T0)
    for event in Event:
        with pytest.raises(IllegalTransition):
            parking.fire(ended, event, LOT, T0)
    inside = parking.fire(pending(), Event.ENTRY, LOT, T0)
    with pytest.raises(IllegalTransition, match="already entered"):
        parking.fire(inside, Event.ENTRY, LOT, T0)
    with pytest.raises(IllegalTransition, match="gate"):
        parking.fire(inside, Event.END, LOT, T0)


def test_the_table_is_the_only_way() -> None:
    for has_barcode, make in ((False, direct), (True, pending)):
        for event in Event:
            allowed = (has_barcode, State.PENDING if has_barcode else State.STARTED, event) in parking.TRANSITIONS
            try:
                parking.fire(make(), event, LOT, T0)
            except IllegalTransition:
                assert not allowed
            else:
                assert allowed


# the gate and users ---------------------------------------------------------------------------


def test_user_pass_rules() -> None:
    card = Barcode("12345", 1, "u", None, None, T0)
    parking.pass_entry(card, None)
    inside = replace(parking.new_session(LOT, "u", T0, "12345"), id=9)
    with pytest.raises(IllegalTransition, match="second entry"):
        parking.pass_entry(card, inside)
    assert parking.pass_exit(card, inside, LOT.id) is inside
    with pytest.raises(IllegalTransition, match="exit before entry"):
        parking.pass_exit(card, None, LOT.id)
    with pytest.raises(IllegalTransition, match="exit before entry"):
        parking.pass_exit(card, inside, LOT.id + 1)
    assert parking.valid_at(card, 99)
    assert not parking.valid_at(replace(card, location_id=7), 8)


def test_one_active_session_per_user() -> None:
    parking.check_no_active("u", None)
    with pytest.raises(IllegalTransition, match="already has an active session"):
        parking.check_no_active("u", direct())


def test_barcodes_are_twenty_digits() -> None:
    assert parking.barcode_from("00" * 10) == "0" * 20
    code = parking.barcode_from("FF" * 10)
    assert len(code) == 20 and code.isdigit()


def test_user_ids_are_stable_per_account() -> None:
    a = parking.user_for(1, "alice")
    assert a == parking.user_for(1, "alice") and uuid.UUID(a).version == 5
    assert a != parking.user_for(2, "alice") and a != parking.user_for(1, "bob")


def test_simulated_minutes_range() -> None:
    assert parking.check_simulated_minutes(0) == 0
    assert parking.check_simulated_minutes(90) == 90 * MINUTE_MS
    for bad in (-1, parking.MAX_SIMULATED_MINUTES + 1):
        with pytest.raises(InvalidInput):
            parking.check_simulated_minutes(bad)


def test_the_examples_of_docs_parking_md() -> None:
    lot = Location(1, 1, "Demo", rate_per_hour=350, currency="USD", increment_minutes=15, daily_max=2400)
    examples = {0: 0, 15: 88, 15 + 1 / 60: 175, 60: 350, 8 * 60: 2400, 24 * 60: 2400, 24 * 60 + 1: 2488,
                2 * 24 * 60 + 3 * 60: 5850}
    for minutes, amount in examples.items():
        assert stay(minutes, lot) == amount, minutes
