"""Accounts and keys: issue, list, revoke, and authenticate a raw key on every request.

Authentication is on the hot path of every call, so known keys are cached in memory by hash and
the cache is dropped whole on any change of topic ``keys`` (an issue or a revocation, from this
process or, through the change feed, from the CLI). Unknown keys are cached too, so a flood of
bad keys costs a dict lookup; that part is bounded.

The CLI manages every account's keys (``create_key``, ``list_keys``, ``revoke_key``); an admin key
manages its own account's (``issue_key``, ``keys_of``, ``revoke_key_id``: the console's admin pages),
through the same rules (``core.access``) and the same repository.
"""

from __future__ import annotations

from dataclasses import dataclass

from sessionhub.core import access
from sessionhub.core.access import Key, Operation, authorize
from sessionhub.core.changes import Change, keys_topic
from sessionhub.core.errors import AlreadyExists, InvalidInput, NotFound
from sessionhub.service.ports import Clock, Ids, Publisher, Store

_MAX_CACHED = 50_000
MAX_KEYS_LISTED = 1000
"""An account's keys shown to its admin, oldest first (revoked ones included)."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: int
    account: str
    access: str
    unbind: bool
    alias: str
    created_ms: int
    revoked_ms: int | None
    admin: bool = False


class AccessService:
    def __init__(self, store: Store, live: Publisher, clock: Clock, ids: Ids) -> None:
        self._store, self._live, self._clock, self._ids = store, live, clock, ids
        self._cache: dict[str, Key | None] = {}

    def on_change(self, change: Change) -> None:
        """Change-feed hook: forget every cached key when any key changes."""
        if change.topic == keys_topic():
            self._cache.clear()

    async def authenticate(self, raw: str | None) -> Key | None:
        """The live key for ``raw``, or None when it is absent, unknown or revoked."""
        if not raw:
            return None
        return await self.authenticate_digest(access.key_hash(raw))

    async def authenticate_digest(self, digest: str) -> Key | None:
        """The live key whose stored hash is ``digest`` (the console's session cookie holds the hash,
        never the raw key); None when unknown or revoked. Same cache as ``authenticate``."""
        try:
            return self._cache[digest]
        except KeyError:
            pass
        key = await self._store.reads.accounts.key(digest)
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
        self._cache[digest] = key
        return key

    async def server_secret(self, name: str) -> str:
        """The server secret ``name``: generated once, kept in the database, shared by every process
        (the console signs its cookies and sign-in links with one)."""
        stored = await self._store.reads.parking.secret(name)
        if stored is None:
            async with self._store.unit_of_work() as uow:
                stored = await uow.parking.ensure_secret(name, self._ids.hex_token(32))
        return stored

    async def create_key(
        self, account: str, access_type: str, unbind: bool = False, alias: str = "", *,
        test_account: bool = False, replace_alias: bool = False, admin: bool = False,
    ) -> str:
        """Issue a key for ``account`` (created if new) and return the raw key, shown only this once.

        With ``replace_alias`` the account's other live keys of the same alias are revoked; ``admin``
        mints a key that may manage the account (READ_WRITE only).
        """
        if not account.strip():
            raise InvalidInput("account name must not be empty", "account")
        return await self._issue(account, access_type, unbind, alias, admin, test_account, replace_alias)

    async def issue_key(self, key: Key | None, access_type: str, unbind: bool = False, alias: str = "",
                        admin: bool = False) -> str:
        """An admin key issues a key of its own account; the raw key is returned, shown only this once.

        Raises:
            Unauthorized, Forbidden: no key, or one without the admin flag.
            InvalidInput: the new key's settings (``core.access.check_new_key``), an alias over 100 characters.
        """
        key = authorize(key, Operation.ADMIN)
        if len(alias) > 100:
            raise InvalidInput("an alias is at most 100 characters", "alias")
        return await self._issue(key.account_id, access_type, unbind, alias, admin)

    async def _issue(self, account: str | int, access_type: str, unbind: bool, alias: str, admin: bool,
                     test_account: bool = False, replace_alias: bool = False) -> str:
        parsed = access.check_new_key(access_type, unbind, admin)
        raw = access.new_key(self._ids.hex_token(16).lower())
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            account_id = (account if isinstance(account, int)
                          else await uow.accounts.ensure_account(account, test_account, now))
            if replace_alias:
                await uow.accounts.revoke_alias(account_id, alias, now)
            await uow.accounts.add_key(account_id, access.key_hash(raw), parsed, unbind, alias, now, admin)
            await uow.accounts.append_change(account_id, keys_topic(), now)
        await self._live.catch_up()
        return raw

    async def import_key(
        self, account: str, access_type: str, raw: str, unbind: bool = False, alias: str = "", *,
        test_account: bool = False,
    ) -> None:
        """Issue an existing key value (moving off RUFUS Cloud or Coord: the clients in the field keep
        the key they store). It is kept hashed like every key.

        Raises:
            InvalidInput: a value too short, too long, or not visible ASCII.
            AlreadyExists: the value is already a key here, live or revoked (a revoked one stays revoked).
        """
        if not account.strip():
            raise InvalidInput("account name must not be empty", "account")
        parsed = access.check_new_key(access_type, unbind)
        digest = access.key_hash(access.check_imported_key(raw))
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            if await uow.accounts.key_issued(digest):
                raise AlreadyExists("this key is already issued (or was, and is revoked)", None)
            account_id = await uow.accounts.ensure_account(account, test_account, now)
            await uow.accounts.add_key(account_id, digest, parsed, unbind, alias, now)
            await uow.accounts.append_change(account_id, keys_topic(), now)
        await self._live.catch_up()

    async def ensure_account(self, name: str, test_account: bool = False) -> int:
        async with self._store.unit_of_work() as uow:
            return await uow.accounts.ensure_account(name, test_account, self._clock.now_ms())

    async def list_keys(self) -> list[KeyInfo]:
        return [KeyInfo(*row) for row in await self._store.reads.accounts.keys()]

    async def revoked_among(self, key_ids: set[int]) -> set[int]:
        """Which of ``key_ids`` are revoked (or gone): their holders must lose their streams."""
        if not key_ids:
            return set()
        live = {info.id for info in await self.list_keys() if info.revoked_ms is None}
        return key_ids - live

    async def keys_of(self, key: Key | None) -> list[KeyInfo]:
        """The admin key's account's keys (never the keys themselves), oldest first, at most
        MAX_KEYS_LISTED. Raises Unauthorized or Forbidden (not an admin key)."""
        key = authorize(key, Operation.ADMIN)
        return [KeyInfo(*row) for row in await self._store.reads.accounts.keys_of(key.account_id, MAX_KEYS_LISTED)]

    async def revoke_key_id(self, key: Key | None, key_id: int) -> None:
        """An admin key revokes a key of its own account by id (the admin's own key too: it is then
        signed out). Raises Unauthorized, Forbidden, or NotFound (no such live key in the account)."""
        key = authorize(key, Operation.ADMIN)
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            if not await uow.accounts.revoke_key_id(key.account_id, key_id, now):
                raise NotFound(f"no live key {key_id} in this account", str(key_id))
            await uow.accounts.append_change(key.account_id, keys_topic(), now)
        await self._live.catch_up()

    async def revoke_key(self, raw: str) -> None:
        """Revoke a key. Raises NotFound when no live key matches."""
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            if not await uow.accounts.revoke_key(access.key_hash(raw), now):
                raise NotFound("no live key matches", None)
            await uow.accounts.append_change(0, keys_topic(), now)
        await self._live.catch_up()
