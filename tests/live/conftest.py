"""A real server in this process (uvicorn on a free port, so streams go over a socket while the test
can look at the hub), and a small Server-Sent Events reader."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from sessionhub.config import Settings
from sessionhub.http import create_app
from sessionhub.http.guard import ConnectionGuard, ConnectionLimits, Front, guarded_protocol
from sessionhub.runtime import Runtime, build
from tests.conftest import free_port


@dataclass
class Live:
    runtime: Runtime
    base_url: str
    http: httpx.AsyncClient
    server: uvicorn.Server


@contextlib.asynccontextmanager
async def serve_live(settings: Settings, guarded: bool = False) -> AsyncIterator[Live]:
    """A migrated runtime for ``settings`` served by uvicorn on a free port in this process;
    ``guarded``: behind the guarded protocol ``serve`` uses (http/guard.py), whose stream requests
    get their frames written directly (http/streamlane.py), else on uvicorn's plain protocol."""
    runtime = build(settings)
    await runtime.store.apply_migrations()
    port = free_port()
    app = create_app(runtime)
    front = app if isinstance(app, Front) else None  # as ``serve`` does: the protocol lane on
    http: Any = guarded_protocol(ConnectionGuard(ConnectionLimits()), front) if guarded else "auto"
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on",
                                           log_level="warning", access_log=False, http=http))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=20) as http:
        try:
            yield Live(runtime, base, http, server)
        finally:
            runtime.hub.close_all()
            server.should_exit = True
            await asyncio.wait_for(task, 20)


@pytest.fixture
async def live(db_url: str) -> AsyncIterator[Live]:
    async with serve_live(Settings(db=db_url)) as served:
        yield served


@dataclass
class Event:
    id: int | None
    event: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


class EventReader:
    """Reads events from an open text/event-stream response (comments are counted, not returned)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()
        self.comments = 0
        self.retry: int | None = None

    async def next(self, timeout: float = 10) -> Event:
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> Event:
        fields: dict[str, str] = {}
        async for line in self.lines:
            if line == "":
                if "data" in fields:
                    raw_id = fields.get("id")
                    return Event(None if raw_id is None else int(raw_id), fields.get("event"), fields["data"])
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "retry":
                self.retry = int(value)
            else:
                fields[name] = fields[name] + "\n" + value if name == "data" and "data" in fields else value
        raise EOFError("stream ended")

    async def take(self, n: int, timeout: float = 10) -> list[Event]:
        return [await self.next(timeout) for _ in range(n)]
