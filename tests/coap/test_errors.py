from __future__ import annotations

import json

from sessionhub.coap import lrs
from sessionhub.coap.errors import COAP_CODE, coap_code
from sessionhub.coap.numbers import dotted
from sessionhub.core import errors as E
from sessionhub.core.errors import error_classes


def test_every_error_class_has_a_coap_code() -> None:
    for cls in error_classes():
        assert cls in COAP_CODE, cls.__name__


def test_the_issue_s_codes_and_the_error_body() -> None:
    assert dotted(coap_code(E.InvalidInput("x"))) == "4.00"
    assert dotted(coap_code(E.SessionNotFound("x"))) == "4.04"
    assert dotted(coap_code(E.RouteNotFound("x"))) == "4.04"
    assert dotted(coap_code(E.MethodNotAllowed("x"))) == "4.05"
    assert dotted(coap_code(E.StoreUnavailable("x"))) == "5.03"
    assert dotted(coap_code(E.SessionhubError("x"))) == "5.00"
    assert json.loads(lrs.error_body(E.InvalidInput("number must be an integer", "number"))) == {
        "error": {"code": "invalid_input", "message": "number must be an integer"}}
