from __future__ import annotations

import msgspec
import pytest

from sessionhub.core.errors import InvalidInput
from sessionhub.service.decoding import decode


class Scan(msgspec.Struct):
    barcode: str | None = None
    count: int = 0


def test_a_float_before_malformed_json_is_invalid_input_not_a_crash() -> None:
    with pytest.raises(InvalidInput, match="malformed JSON"):  # the typed pass fails on the float first
        decode(b'{"barcode": 1.5, "count": 2 "x"}', Scan)
    assert decode(b'{"count": 3.0}', Scan).count == 3
