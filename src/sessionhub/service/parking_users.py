"""Parking end users: who a request acts for, and the JWTs that name them.

A partner (a key holder) acts for its end users. A request names its user either by ``user_id``
(a UUID) or by a bearer JWT this server issued (``POST /v1/users/create_jwt``): HS256, valid one
hour, subject = the user id derived from (account, external_uid) by ``core.parking.user_for``, and
an ``acct`` claim binding it to the issuing account, so another account's token is refused.

The signing secret is ``Settings.jwt_secret`` when set; otherwise a random one generated once and
kept in the database, so tokens survive restarts and every process sharing the database accepts
them. The HMAC key is SHA-256 of the secret: always 32 bytes, whatever the operator configured.
"""

from __future__ import annotations

import hashlib
import uuid

import jwt

from sessionhub.core import parking
from sessionhub.core.access import Key
from sessionhub.core.errors import InvalidInput, Unauthorized
from sessionhub.service.ports import Clock, Ids, Store

TOKEN_SECONDS = 3600
ISSUER = "sessionhub"
_SECRET_NAME = "parking_jwt_hs256"


class UserTokens:
    def __init__(self, store: Store, clock: Clock, ids: Ids, secret: str | None = None) -> None:
        self._store, self._clock, self._ids = store, clock, ids
        self._key: bytes | None = None if secret is None else hashlib.sha256(secret.encode()).digest()

    async def _signing_key(self) -> bytes:
        if self._key is None:
            stored = await self._store.reads.parking.secret(_SECRET_NAME)
            if stored is None:
                async with self._store.unit_of_work() as uow:
                    stored = await uow.parking.ensure_secret(_SECRET_NAME, self._ids.hex_token(32))
            self._key = hashlib.sha256(stored.encode()).digest()
        return self._key

    async def issue(self, key: Key, external_uid: str) -> str:
        """A JWT for the account's user ``external_uid``, valid TOKEN_SECONDS from now."""
        now = self._clock.now_ms() // 1000
        claims = {
            "iss": ISSUER, "sub": parking.user_for(key.account_id, external_uid), "acct": key.account_id,
            "ext": external_uid, "iat": now, "exp": now + TOKEN_SECONDS,
        }
        return jwt.encode(claims, await self._signing_key(), algorithm="HS256")

    async def user(self, key: Key, bearer: str | None, user_id: str | None) -> str | None:
        """The user a request names: the bearer token's, else ``user_id``; None when neither.

        Raises:
            Unauthorized: the token is malformed, forged, expired, or another account's.
            InvalidInput: ``user_id`` is not a UUID, or disagrees with the token's user.
        """
        named = None if user_id is None else _uuid(user_id)
        if bearer is None:
            return named
        try:
            claims = jwt.decode(
                bearer, await self._signing_key(), algorithms=["HS256"], issuer=ISSUER,
                options={"require": ["sub", "acct", "exp"], "verify_exp": False, "verify_iat": False,
                         "verify_nbf": False},
            )
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid bearer token: {exc}") from None
        exp = claims["exp"]
        if not isinstance(exp, int | float) or exp * 1000 <= self._clock.now_ms():
            raise Unauthorized("the bearer token has expired: get a new one from POST /v1/users/create_jwt")
        if claims["acct"] != key.account_id:
            raise Unauthorized("the bearer token was issued for another account")
        subject = _uuid(str(claims["sub"]))
        if named is not None and named != subject:
            raise InvalidInput("user_id does not match the user of the bearer token", "user_id")
        return subject


def _uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise InvalidInput("user_id must be a UUID", "user_id") from None
