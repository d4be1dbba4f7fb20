"""Console fixtures: an ASGI client per operator (each with its own cookie jar) and a signed-in one."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from sessionhub.http import create_app
from sessionhub.runtime import Runtime
from sessionhub.web import pages

Browser = Callable[[], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def browsers(runtime: Runtime) -> AsyncIterator[Browser]:
    """Makes clients of one app, each with its own cookies (a browser each)."""
    app = create_app(runtime, lifespan=False, pages=pages(runtime))
    made: list[httpx.AsyncClient] = []

    async def make() -> httpx.AsyncClient:
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        made.append(c)
        return c

    yield make
    for c in made:
        await c.aclose()


async def sign_in(c: httpx.AsyncClient, key: str) -> str:
    """Sign in with ``key``; return the page's CSRF token."""
    r = await c.post("/console/signin", data={"key": key})
    assert r.status_code == 303, r.text
    return csrf_of((await c.get("/console/")).text)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)
