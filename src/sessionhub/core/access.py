"""Keys and what they may do.

An *account* owns keys and every object (devices, timing sessions, parking locations, paging
stations). A key has one access type, RUFUS's: ``READ`` (reads), ``WRITE`` (creates and changes),
``READ_WRITE`` (both), and an ``unbind`` flag that allows deletions; the flag exists only on keys
that may write. The raw key is shown once and only its SHA-256 is kept.

An *admin* key (``keys create --admin``) may also manage its own account: issue, list and revoke
the account's keys, create locations and change their rates (``Operation.ADMIN``). The flag is only
for READ_WRITE keys: an administrator sees what it manages and changes it. It never reaches another
account.

What is not allowed: a READ key with ``unbind``; an admin key that is not READ_WRITE; any operation
on another account's objects (the service answers those exactly as a missing object).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from sessionhub.core.errors import Forbidden, InvalidInput, Unauthorized

KEY_PREFIX = "shk_"


class Access(enum.StrEnum):
    READ = "READ"
    WRITE = "WRITE"
    READ_WRITE = "READ_WRITE"


class Operation(enum.Enum):
    """What a call does, as the access rules see it."""

    READ = "read"
    WRITE = "write"
    DELETE = "delete"
    ADMIN = "admin"
    """Manage the account itself: its keys, its locations and their rates."""


@dataclass(frozen=True, slots=True)
class Key:
    """An issued, unrevoked key as the service sees it (never the raw key)."""

    id: int
    account_id: int
    access: Access
    unbind: bool
    alias: str = ""
    is_test_account: bool = False
    admin: bool = False


def new_key(token: str) -> str:
    """Format a raw key from ``token`` (random hex from the caller)."""
    return KEY_PREFIX + token


def key_hash(raw: str) -> str:
    """The stored form of a raw key. Lookups are by this hash, so no raw key is ever compared."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def check_new_key(access: str, unbind: bool, admin: bool = False) -> Access:
    """Validate the settings of a key about to be issued.

    Raises:
        InvalidInput: an unknown access type, ``unbind`` on a READ key, ``admin`` on a key that is
            not READ_WRITE.
    """
    try:
        parsed = Access(access)
    except ValueError:
        raise InvalidInput(f"access must be one of {', '.join(a.value for a in Access)}", "access") from None
    if unbind and parsed is Access.READ:
        raise InvalidInput("the unbind flag is only for WRITE or READ_WRITE keys", "unbind")
    if admin and parsed is not Access.READ_WRITE:
        raise InvalidInput("the admin flag is only for READ_WRITE keys", "admin")
    return parsed


IMPORTED_MIN, IMPORTED_MAX = 16, 256


def check_imported_key(raw: str) -> str:
    """Validate a key value carried over from another system (``keys import``), e.g. RUFUS's
    ``ror-`` + 20 hex. Clients send it in a header or a query parameter, so it must be visible
    ASCII without spaces; shorter than IMPORTED_MIN characters is too guessable to serve.

    Raises:
        InvalidInput: anything else.
    """
    if not IMPORTED_MIN <= len(raw) <= IMPORTED_MAX:
        raise InvalidInput(f"an imported key must be {IMPORTED_MIN} to {IMPORTED_MAX} characters", "key")
    if not all("!" <= c <= "~" for c in raw):
        raise InvalidInput("an imported key must be visible ASCII characters, without spaces", "key")
    return raw


def authorize(key: Key | None, op: Operation) -> Key:
    """Return ``key`` if it may perform ``op``.

    Raises:
        Unauthorized: ``key`` is None (no key, an unknown key, or a revoked one).
        Forbidden: the key's access type does not cover ``op``.
    """
    if key is None:
        raise Unauthorized("missing or unknown api key")
    if op is Operation.READ:
        ok = key.access is not Access.WRITE
    elif op is Operation.WRITE:
        ok = key.access is not Access.READ
    elif op is Operation.ADMIN:
        if not (key.admin and key.access is Access.READ_WRITE):
            raise Forbidden("managing the account (keys, locations, rates) needs an admin key (keys create --admin)")
        return key
    else:
        ok = key.unbind and key.access is not Access.READ
    if not ok:
        raise Forbidden(f"the key's access type {key.access.value} does not allow this {op.value}")
    return key
