"""Share links (core/shares.py): table ``share_links``. Written once for every engine (see db.py)."""

from __future__ import annotations

from sessionhub.core.shares import Kind, Share
from sessionhub.store.db import Db, Row

_COLS = "id, account_id, kind, ref, created_ms, revoked_ms"
_INSERT = (
    "INSERT INTO share_links (account_id, token_hash, kind, ref, created_ms) VALUES ($1, $2, $3, $4, $5)"
    " RETURNING id"
)
_LIVE_BY_HASH = f"SELECT {_COLS} FROM share_links WHERE token_hash = $1 AND revoked_ms IS NULL"
_LIVE_BY_ID = f"SELECT {_COLS} FROM share_links WHERE id = $1 AND revoked_ms IS NULL"
_OF_OBJECT = (
    f"SELECT {_COLS} FROM share_links WHERE account_id = $1 AND kind = $2 AND ref = $3 ORDER BY id DESC LIMIT $4"
)
_LIVE_OF_OBJECT = (
    "SELECT count(*) FROM share_links WHERE account_id = $1 AND kind = $2 AND ref = $3 AND revoked_ms IS NULL"
)
_REVOKE = "UPDATE share_links SET revoked_ms = $1 WHERE id = $2 AND account_id = $3 AND revoked_ms IS NULL"


def _share(r: Row | None) -> Share | None:
    return None if r is None else Share(r[0], r[1], Kind(r[2]), r[3], r[4], r[5])


class Shares:
    """Share links, on a driver's read side or inside a unit of work."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def insert(self, account_id: int, token_hash: str, kind: Kind, ref: str, now_ms: int) -> Share:
        new_id = await self._db.value(_INSERT, account_id, token_hash, kind.value, ref, now_ms)
        return Share(int(new_id), account_id, kind, ref, now_ms)

    async def live(self, token_hash: str) -> Share | None:
        """The unrevoked share whose token has this hash."""
        return _share(await self._db.one(_LIVE_BY_HASH, token_hash))

    async def live_by_id(self, share_id: int) -> Share | None:
        return _share(await self._db.one(_LIVE_BY_ID, share_id))

    async def of_object(self, account_id: int, kind: Kind, ref: str, limit: int) -> list[Share]:
        """The object's shares ever made (revoked ones too), newest first, at most ``limit``."""
        return [s for r in await self._db.all(_OF_OBJECT, account_id, kind.value, ref, limit)
                if (s := _share(r)) is not None]

    async def live_of_object(self, account_id: int, kind: Kind, ref: str) -> int:
        """How many unrevoked shares the object has."""
        return int(await self._db.value(_LIVE_OF_OBJECT, account_id, kind.value, ref) or 0)

    async def revoke(self, account_id: int, share_id: int, now_ms: int) -> bool:
        """Revoke the account's live share ``share_id``; False when the account has no such live share."""
        return await self._db.run(_REVOKE, now_ms, share_id, account_id) > 0
