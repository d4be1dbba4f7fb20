"""The ``store`` fixture: every store implementation, opened on an empty, migrated database.

``sqlite`` always runs (a file in the test's tmp_path); ``postgres`` runs when a PostgreSQL server
is reachable (see tests/pg.py), each test in a fresh schema dropped afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sessionhub.store.sqlite import SqliteStore
from tests import pg

STORES = ["sqlite", "postgres"]


@pytest.fixture(params=STORES)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "sqlite":
        lite = SqliteStore(str(tmp_path / "contract.db"))
        lite.open(migrate=True)
        try:
            yield lite
        finally:
            lite.close()
        return
    async with pg.fresh_schema("contract") as url:
        from sessionhub.store.postgres import PostgresStore

        store = PostgresStore(url)
        assert await store.apply_migrations()
        await store.start()
        try:
            yield store
        finally:
            await store.stop()
