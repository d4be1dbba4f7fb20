"""The repository methods PostgreSQL does its own way; everything else is written once (db.py).

The change log's seqs come from the one row of ``change_counter``. The first change a transaction
appends locks that row (``UPDATE ... RETURNING``) until the transaction commits or rolls back, so:

- seqs are handed out in commit order: a reader that sees seq N committed also sees every seq
  below N (whoever held N-1 committed before N could be allocated), and never skips one that
  commits later — the hazard of a plain SEQUENCE, whose values are taken before commit;
- a rollback returns its seqs with the counter (no gaps);
- writers of different objects still run in parallel up to their first change; only the tail of
  each transaction (its last writes and the commit) is serialised. See docs/postgres.md.

Passings are ingested with COPY, several times faster than one INSERT per row (docs/postgres.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from sessionhub.core.timing import Passing, TimingSession
from sessionhub.store.accounts import Accounts
from sessionhub.store.postgres_db import PgDb
from sessionhub.store.timing import PASSING_COLUMNS, Timing

_APPEND_CHANGE = (
    "WITH next AS (UPDATE change_counter SET last_seq = last_seq + 1 RETURNING last_seq)"
    " INSERT INTO changes (seq, account_id, topic, at_ms, data) SELECT last_seq, $1, $2, $3, $4 FROM next"
    " RETURNING seq"
)
_NEXT_SEQ = "SELECT last_seq + 1 FROM change_counter FOR UPDATE"
_LAST_SEQ = "SELECT last_seq FROM change_counter"

PASSINGS_IN = (
    "CREATE TEMP TABLE passings_in (num_passing bigint, ts_ms bigint, bib text, chip text, participant_id text,"
    " latitude text, longitude text, status text, timezone text, gender text) ON COMMIT DELETE ROWS"
)
"""The staging table of ``add_passings``: created once per pooled connection (postgres.py), emptied
by every commit."""
_INSERT_STAGED = (
    f"WITH moved AS (DELETE FROM passings_in RETURNING *) INSERT INTO passings ({', '.join(PASSING_COLUMNS)})"
    " SELECT $1, $2, $3, * FROM moved ON CONFLICT (session_id, num_passing) DO NOTHING"
)


class PgAccounts(Accounts):
    """The change counter on PostgreSQL (see the module docstring for why it is a locked row)."""

    def __init__(self, db: PgDb) -> None:
        super().__init__(db)
        self.max_seq = 0
        """The highest seq this unit of work appended (0: none), for its one notification."""

    async def append_change(self, account_id: int, topic: str, now_ms: int, data: bytes | None = None) -> int:
        seq = int(await self._db.value(_APPEND_CHANGE, account_id, topic, now_ms, data))
        self.max_seq = max(self.max_seq, seq)
        return seq

    async def next_seq(self) -> int:
        """Locks the counter row now (as the append would), so no other transaction can take it first."""
        return int(await self._db.value(_NEXT_SEQ))

    async def last_seq(self) -> int:
        return int(await self._db.value(_LAST_SEQ))


class PgTiming(Timing):
    """Timing with PostgreSQL's ingest path."""

    def __init__(self, db: PgDb) -> None:
        super().__init__(db)
        self._pg = db

    async def add_passings(self, session: TimingSession, passings: Sequence[Passing], seq: int = 0) -> int:
        """Only inside a unit of work. A batch whose numbers are all new (the usual case) is COPYed
        (binary) straight into ``passings`` inside a savepoint. When a number is already stored the
        COPY is refused whole, and the batch takes the duplicate-skipping path: COPY into the
        connection's staging table, then one ``INSERT ... ON CONFLICT DO NOTHING`` moving it out
        (``DELETE ... RETURNING``). Rates per path are in docs/postgres.md."""
        rows = [(session.id, session.device_id, seq, *p) for p in passings]
        if await self._pg.copy_unless_duplicate("passings", PASSING_COLUMNS, rows):
            return len(rows)
        await self._pg.copy_in("passings_in", passings)
        return await self._pg.run(_INSERT_STAGED, session.id, session.device_id, seq)
