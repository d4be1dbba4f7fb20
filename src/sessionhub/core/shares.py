"""Share links: an end user's live view of one object, without signing in.

An operator makes a link for one object — a parking session ("your parking stay"), a bib in a
timing session ("your race"), a guest's session at the host stand ("your table") — and hands it
over (a QR code, a text message). The link carries a random token of ``TOKEN_BYTES`` (128 bits,
unguessable); only its SHA-256 is stored, as for keys, so the store never holds a working link.
A token opens exactly its one object of its one account, read-only, until revoked: the object is
named by the stored share, never by anything in the request, so no URL can point a token at
another object. A malformed, unknown or revoked token is answered as a missing object.

What the share names (``ref``), per kind:
    parking  the session id                          ``"42"``
    timing   the session token and the bib           ``"<token>/<bib>"`` (a bib is any text of 1..64)
    paging   the guest session's id, its pager and    ``"<id>/<number>/<station>"`` (a pager is reused: the id
             its station                             decides; a station name holds no "/")
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from sessionhub.core.changes import paging_session_topic, parking_session_topic, timing_session_topic
from sessionhub.core.errors import InvalidInput, NotFound

TOKEN_BYTES = 16
MAX_BIB = 64
MAX_PER_OBJECT = 20
"""Live links of one object: enough for a family, bounded against a loop."""


class Kind(enum.StrEnum):
    PARKING = "parking"
    TIMING = "timing"
    PAGING = "paging"


@dataclass(frozen=True, slots=True)
class Share:
    id: int
    account_id: int
    kind: Kind
    ref: str
    created_ms: int
    revoked_ms: int | None = None


def token_hash(token: str) -> str:
    """The stored form of a share token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_token(token: str) -> str:
    """A token as issued: 2 x TOKEN_BYTES lowercase hex. Raises NotFound otherwise (a bad link is a
    missing one: nothing tells a guesser which part was wrong)."""
    if len(token) != 2 * TOKEN_BYTES or not all(c in "0123456789abcdef" for c in token):
        raise NotFound("this link is not valid, or it was revoked", None)
    return token


def parse_kind(text: str) -> Kind:
    try:
        return Kind(text)
    except ValueError:
        raise InvalidInput(f"a share is of one of {', '.join(k.value for k in Kind)}", "kind") from None


def check_bib(bib: str) -> str:
    if not 1 <= len(bib) <= MAX_BIB or not bib.isprintable():
        raise InvalidInput(f"a bib is 1 to {MAX_BIB} printable characters", "bib")
    return bib


def parking_ref(session_id: int) -> str:
    return str(session_id)


def timing_ref(token: str, bib: str) -> str:
    return f"{token}/{check_bib(bib)}"


def paging_ref(session_id: int, number: int, station: str) -> str:
    return f"{session_id}/{number}/{station}"


def parse_parking(ref: str) -> int:
    return int(ref)


def parse_timing(ref: str) -> tuple[str, str]:
    """(session token, bib): the token never holds a "/", the bib may."""
    token, _, bib = ref.partition("/")
    return token, bib


def parse_paging(ref: str) -> tuple[int, int, str]:
    """(guest session id, pager number, station)."""
    session_id, number, station = ref.split("/", 2)
    return int(session_id), int(number), station


def check_room(live_links: int) -> None:
    """Raises InvalidInput when the object has MAX_PER_OBJECT live links already."""
    if live_links >= MAX_PER_OBJECT:
        raise InvalidInput(f"this has {MAX_PER_OBJECT} live links already; revoke one first", "ref")


def topic(share: Share) -> str:
    """The change topic its live view follows (the object's own: nothing of the account's else)."""
    if share.kind is Kind.PARKING:
        return parking_session_topic(parse_parking(share.ref))
    if share.kind is Kind.TIMING:
        return timing_session_topic(parse_timing(share.ref)[0])
    _, number, station = parse_paging(share.ref)
    return paging_session_topic(share.account_id, station, number)
