from __future__ import annotations

import pytest

from sessionhub.core import shares
from sessionhub.core.errors import InvalidInput, NotFound
from sessionhub.core.shares import Kind, Share


def test_a_token_is_exactly_what_was_issued_else_a_missing_link() -> None:
    good = "0123456789abcdef" * 2
    assert shares.check_token(good) == good
    for bad in ("", good[:-1], good + "0", good.upper(), "g" * 32, "0" * 31 + "/", "０" * 32):
        with pytest.raises(NotFound):
            shares.check_token(bad)
    assert shares.token_hash(good) != good and len(shares.token_hash(good)) == 64


def test_refs_name_one_object_and_its_topic() -> None:
    assert shares.topic(Share(1, 9, Kind.PARKING, shares.parking_ref(42), 0)) == "parking/session/42"
    ref = shares.timing_ref("TOK", "7/b")
    assert shares.parse_timing(ref) == ("TOK", "7/b")
    assert shares.topic(Share(1, 9, Kind.TIMING, ref, 0)) == "timing/session/TOK"
    assert shares.parse_paging(shares.paging_ref(5, 104, "bar-2")) == (5, 104, "bar-2")
    assert shares.topic(Share(1, 9, Kind.PAGING, shares.paging_ref(5, 104, "default"), 0)) == (
        "paging/9/default/session/104")
    for bib in ("", "x" * 65, "a\nb"):
        with pytest.raises(InvalidInput):
            shares.check_bib(bib)
    with pytest.raises(InvalidInput):
        shares.parse_kind("keys")


def test_an_object_has_a_bounded_number_of_live_links() -> None:
    shares.check_room(shares.MAX_PER_OBJECT - 1)
    with pytest.raises(InvalidInput):
        shares.check_room(shares.MAX_PER_OBJECT)
