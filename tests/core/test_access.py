from __future__ import annotations

import pytest

from sessionhub.core.access import Access, Key, Operation, authorize, check_new_key, key_hash
from sessionhub.core.errors import Forbidden, InvalidInput, Unauthorized


def key(access: Access, unbind: bool = False, admin: bool = False) -> Key:
    return Key(1, 1, access, unbind, admin=admin)


ALLOWED = {
    (Access.READ, False): {Operation.READ},
    (Access.WRITE, False): {Operation.WRITE},
    (Access.READ_WRITE, False): {Operation.READ, Operation.WRITE},
    (Access.WRITE, True): {Operation.WRITE, Operation.DELETE},
    (Access.READ_WRITE, True): {Operation.READ, Operation.WRITE, Operation.DELETE},
}


@pytest.mark.parametrize(("setting", "allowed"), ALLOWED.items())
def test_access_matrix(setting: tuple[Access, bool], allowed: set[Operation]) -> None:
    k = key(*setting)
    for op in Operation:
        if op in allowed:
            assert authorize(k, op) is k
        else:
            with pytest.raises(Forbidden):
                authorize(k, op)


def test_only_an_admin_read_write_key_may_manage_the_account() -> None:
    assert authorize(key(Access.READ_WRITE, admin=True), Operation.ADMIN).admin
    for k in (key(Access.READ_WRITE), key(Access.READ_WRITE, True), key(Access.READ, admin=True),
              key(Access.WRITE, True, admin=True)):
        with pytest.raises(Forbidden, match="admin key"):
            authorize(k, Operation.ADMIN)
    # the flag adds ADMIN and takes nothing away
    assert {op for op in Operation if op is not Operation.ADMIN
            if authorize(key(Access.READ_WRITE, True, True), op)} == {Operation.READ, Operation.WRITE, Operation.DELETE}


def test_no_key_is_unauthorized() -> None:
    with pytest.raises(Unauthorized):
        authorize(None, Operation.READ)


def test_new_key_settings() -> None:
    assert check_new_key("READ_WRITE", True) is Access.READ_WRITE
    with pytest.raises(InvalidInput) as caught:
        check_new_key("READ", True)
    assert caught.value.field == "unbind"
    with pytest.raises(InvalidInput):
        check_new_key("ADMIN", False)
    assert check_new_key("READ_WRITE", False, admin=True) is Access.READ_WRITE
    for access in ("READ", "WRITE"):
        with pytest.raises(InvalidInput) as caught:
            check_new_key(access, False, admin=True)
        assert caught.value.field == "admin"


def test_keys_are_stored_as_sha256() -> None:
    assert key_hash("shk_x") != "shk_x" and len(key_hash("shk_x")) == 64
