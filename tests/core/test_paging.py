from __future__ import annotations

import pytest

from sessionhub.core import changes
from sessionhub.core import paging as P
from sessionhub.core.errors import IllegalTransition, InvalidInput

T0 = 1_521_114_279_000  # 2018-03-15T11:44:39Z
HEX = "0123456789abcdef0123456789abcdef"


def station(offset: int = 0) -> P.Station:
    return P.new_station(7, T0, offset)


def created(st: P.Station | None = None, number: int = 23, **kw: object) -> P.Written:
    return P.open_session(st or station(), None, number, P.Fields(**kw), None, None, HEX, T0)  # type: ignore[arg-type]


def test_create_uses_defaults_and_counts_one_change() -> None:
    w = created()
    s = w.session
    assert w.created and w.page is None
    assert (s.id, s.number, s.party_size, s.goal_s, s.label, s.state) == (1, 23, 1, 300, None, P.State.STARTED)
    assert s.session_seq == w.station.global_seq == 1
    assert w.station.next_id == 2 and w.station.counters.num_sessions == 1
    assert s.uuid == "01234567-89ab-4def-8123-456789abcdef"


def test_upsert_updates_the_active_session_and_keeps_its_id() -> None:
    w = created(goal_s=60, label="Sarah", party_size=4)
    again = P.open_session(w.station, w.session, 23, P.Fields(label="Tom"), None, None, HEX, T0 + 1000)
    assert not again.created
    assert (again.session.id, again.session.label, again.session.goal_s) == (1, "Tom", 60)
    assert again.station.global_seq == 2 and again.station.counters.num_sessions == 1


def test_an_update_that_changes_nothing_counts_no_change() -> None:
    w = created(label="Sarah")
    same = P.update_session(w.station, w.session, P.Fields(label="Sarah"), None, None, T0)
    assert same.station.global_seq == 1 and same.session == w.session


def test_page_then_clear_updates_statistics() -> None:
    w = created(goal_s=60)
    paged = P.act(w.station, w.session, P.Action.PAGE, "Vibe1", T0 + 90_000)  # 90 s: late
    s = paged.session
    assert s.state is P.State.PAGED and s.notified_ms == T0 + 90_000 and s.page_mode == "Vibe1"
    assert paged.page == P.Page(23, "Vibe1", 0, None, T0 + 90_000, 1)
    stats = P.statistics(paged.station, T0 + 100_000)
    assert stats == P.Statistics(1, 100, 0, 90, 1)
    cleared = P.act(paged.station, s, P.Action.CLEAR, None, T0 + 120_000)
    assert cleared.session.state is P.State.CLEARED and cleared.session.clear_type is P.ClearType.STOP
    assert cleared.session.cleared_ms == T0 + 120_000 and cleared.station.global_seq == 3
    with pytest.raises(IllegalTransition):
        P.act(cleared.station, cleared.session, P.Action.PAGE, None, T0)


def test_repaging_pages_again_but_counts_the_guest_once() -> None:
    w = created()
    first = P.act(w.station, w.session, P.Action.PAGE, None, T0 + 10_000)
    second = P.act(first.station, first.session, P.Action.PAGE, None, T0 + 20_000)
    assert second.page is not None and second.session.notified_ms == T0 + 10_000
    assert second.station.counters.served == 1 and second.station.global_seq == 3


def test_remove_from_started_is_removed_and_not_served() -> None:
    w = created()
    removed = P.act(w.station, w.session, P.Action.REMOVE, None, T0 + 5_000)
    assert removed.session.clear_type is P.ClearType.REMOVED
    assert P.statistics(removed.station, T0 + 6_000) == P.Statistics(0, 0, 0, 0, 1)


def test_create_with_an_action_is_one_change() -> None:
    w = P.open_session(station(), None, 5, P.Fields(), P.Action.PAGE, "Flash5Min", HEX, T0)
    assert w.created and w.session.state is P.State.PAGED and w.station.global_seq == 1


def test_remove_all_counts_one_change_per_session() -> None:
    a = created(number=1)
    b = created(a.station, number=2)
    st, removed = P.remove_all(b.station, [b.session, a.session], T0)
    assert [s.number for s in removed] == [1, 2] and st.global_seq == 4
    assert [s.session_seq for s in removed] == [3, 4]


@pytest.mark.parametrize("kw", [{"goal_s": 0}, {"goal_s": 86_401}, {"party_size": 0}, {"party_size": 1000},
                                {"label": "x" * 65}])
def test_fields_out_of_range_are_refused(kw: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        created(**kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("number", [0, -1, 10_000])
def test_numbers_out_of_range_are_refused(number: int) -> None:
    with pytest.raises(InvalidInput) as e:
        created(number=number)
    assert e.value.field == "number"


def test_unknown_page_modes_and_actions_are_refused() -> None:
    with pytest.raises(InvalidInput):
        P.check_page_mode("Vibe9")
    with pytest.raises(InvalidInput):
        P.check_action("notify")
    assert P.check_action("clear") is P.Action.CLEAR and P.check_page_mode(None) == "Flash30Sec"


def test_station_clock_and_timestamps() -> None:
    st = station(offset=3_600_000)
    assert P.local_iso(P.local_now(st, T0)) == "2018-03-15T12:44:39"
    set_to = P.parse_local("2018-03-15T12:35:33")
    moved = P.update_settings(st, T0, datetime_ms=set_to, system_id=5)
    assert P.local_iso(P.local_now(moved, T0)) == "2018-03-15T12:35:33" and moved.settings.system_id == 5
    for bad in ("2018-03-15T12:35:33Z", "yesterday", "1999-01-01T00:00:00"):
        with pytest.raises(InvalidInput):
            P.parse_local(bad)


@pytest.mark.parametrize("kw", [{"system_id": 256}, {"default_goal_s": 0}, {"stats_clear_mark": 25}])
def test_settings_out_of_range_are_refused(kw: dict[str, int]) -> None:
    with pytest.raises(InvalidInput):
        P.update_settings(station(), T0, **kw)


def test_statistics_reset_at_the_clear_mark_hour() -> None:
    st = P.update_settings(station(), T0, stats_clear_mark=13)  # local 11:44 -> reset at 13:00
    w = created(st)
    assert P.statistics(w.station, T0 + 3_600_000).num_sessions == 1  # 12:44
    assert P.statistics(w.station, T0 + 2 * 3_600_000).num_sessions == 0  # 13:44
    assert P.next_mark(T0, 13) == T0 + 75 * 60_000 + 21_000  # 13:00:00
    assert P.last_mark(T0, 24) is None


def test_percentages_round_and_sum_to_100() -> None:
    st = station()
    for number, wait in ((1, 10), (2, 400), (3, 20)):
        w = created(st, number=number)
        st = P.act(w.station, w.session, P.Action.PAGE, None, T0 + wait * 1000).station
    assert P.statistics(st, T0 + 500_000) == P.Statistics(3, 33, 67, 143, 3)
    assert P.statistics(P.reset_statistics(st, T0 + 1), T0 + 2) == P.Statistics(0, 0, 0, 0, 0)


def test_standalone_page_validates() -> None:
    assert P.standalone_page(station(), 66, None, None, 3, T0) == P.Page(66, "Flash30Sec", 3, None, T0)
    bad: list[dict[str, object]] = [{"number": 0}, {"system_id": 256}, {"message": "m" * 65}]
    for kw in bad:
        args: dict[str, object] = {"number": 66, "page_mode": None, "message": None, "system_id": None, **kw}
        with pytest.raises(InvalidInput):
            P.standalone_page(station(), now_ms=T0, **args)  # type: ignore[arg-type]


# station names and their topics --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "north", "site-2", "7", "a" * P.STATION_NAME_MAX])
def test_station_names(name: str) -> None:
    assert P.check_station(name) == name
    assert P.new_station(1, 0, 0, name).name == name


@pytest.mark.parametrize("name", ["", "North", "a_b", "-a", "a/b", "a b", "caf\u00e9", "\u0663",
                                  "a" * (P.STATION_NAME_MAX + 1)])
def test_a_bad_station_name_is_invalid_input(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        P.check_station(name)
    assert caught.value.field == "station"
    with pytest.raises(InvalidInput):
        P.new_station(1, 0, 0, name)


def test_paging_topics_name_their_station_and_parse_back() -> None:
    session, station = changes.paging_session_topic(7, "north", 23), changes.paging_station_topic(7, "north")
    assert changes.parse_paging_topic(session) == changes.PagingTopic(7, "north", 23)
    assert changes.parse_paging_topic(station) == changes.PagingTopic(7, "north", None)
    prefix = changes.paging_station_prefix(7, "north")
    assert session.startswith(prefix) and station.startswith(prefix)
    assert not changes.paging_session_topic(7, "north-2", 23).startswith(prefix)  # a prefix ends with "/"
    assert not changes.paging_session_topic(70, "north", 23).startswith(prefix)
    assert session.startswith(changes.paging_prefix())
    # the topics before stations had names, and other domains' topics, are no paging topic
    for other in ("paging/session/7/23", "paging/station/7", "paging/7/north/session/x", "paging/7/north",
                  "timing/device/AB", "paging/\u0667/north/station", "paging/7/north/station/1"):
        assert changes.parse_paging_topic(other) is None, other


def test_the_station_pattern_says_what_check_station_checks() -> None:
    import re

    for name in ["default", "site-2", "a" * 32, "", "-a", "A", "a_b", "a" * 33, "caf\u00e9", "a\n"]:
        ok = True
        try:
            P.check_station(name)
        except InvalidInput:
            ok = False
        assert (re.fullmatch(P.STATION_PATTERN.strip("^$"), name, re.ASCII) is not None) == ok, name
