"""PostgreSQL for the tests: where it is, whether it is reachable, and a fresh schema per test.

The server is ``SESSIONHUB_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/test``). Where
none answers, PostgreSQL tests skip with a message saying so, unless ``SESSIONHUB_REQUIRE_PG=1``
(``.ci/run`` sets it): then they fail. Each test gets its own schema (``CREATE SCHEMA`` + a
``search_path`` in the URL it hands out), dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import pytest

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"

_reachable: dict[str, str | None] = {}


def base_url() -> str:
    return os.environ.get("SESSIONHUB_TEST_PG") or DEFAULT_PG


def with_search_path(url: str, schema: str) -> str:
    """``url`` with ``search_path=schema`` (asyncpg passes unknown query parameters as settings)."""
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "search_path"]
    query.append(("search_path", schema))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


async def _probe(url: str) -> str | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(url, timeout=3)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


async def require_pg() -> str:
    """The base URL of the test server; skips (or fails, with SESSIONHUB_REQUIRE_PG=1) without one."""
    url = base_url()
    if url not in _reachable:
        _reachable[url] = await _probe(url)
    error = _reachable[url]
    if error is not None:
        message = (f"no PostgreSQL reachable at {url} ({error}); set SESSIONHUB_TEST_PG to a server "
                   "(trust auth) to run the PostgreSQL tests")
        if os.environ.get("SESSIONHUB_REQUIRE_PG") == "1":
            pytest.fail(message + " [SESSIONHUB_REQUIRE_PG=1]", pytrace=False)
        pytest.skip(message)
    return url


async def create_schema(prefix: str = "t") -> str:
    """A new empty schema on the test server; returns a database URL whose search_path is it."""
    import asyncpg

    url = await require_pg()
    schema = f"{prefix}_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    return with_search_path(url, schema)


async def drop_schema(url: str) -> None:
    import asyncpg

    parts = urllib.parse.urlsplit(url)
    schema = dict(urllib.parse.parse_qsl(parts.query))["search_path"]
    conn = await asyncpg.connect(base_url())
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@asynccontextmanager
async def fresh_schema(prefix: str = "t") -> AsyncIterator[str]:
    """A new empty schema for the duration of the block (see ``create_schema``)."""
    url = await create_schema(prefix)
    try:
        yield url
    finally:
        await drop_schema(url)


@contextmanager
def fresh_schema_sync(prefix: str = "t") -> Iterator[str]:
    """``fresh_schema`` for synchronous fixtures (subprocess tests); runs outside any event loop."""
    url = asyncio.run(create_schema(prefix))
    try:
        yield url
    finally:
        asyncio.run(drop_schema(url))
