"""Rendered GETs, kept until the sequence moves, and rendered once however many ask at once.

Every conditional GET (http/conditional.py) knows its resource's version (the seq of the latest
change of its topics) before it renders. A 200 rendered at version V is the answer to every later
request of the same *view* (account, path, query; never a request carrying a user's JWT, see
``view_of``) while the version is still V, so it is kept here under that view with V:

- a plain GET at an unchanged version costs the checks (key, access) and a dict lookup;
- requests that miss at the same version at the same time share ONE render: the first renders, the
  others await its result (if it fails, each renders for itself, so an error is always a request's
  own); only keys that may read share (http/conditional.py checks before it asks);
- the 200 long-polls woken by one change render the page once, not once each (issue 9 #3).

Only 200 answers are kept, and only ``Response`` objects with their body in hand. The store is
bounded by bytes (least recently used first out), so a flood of distinct query strings costs its
own renders and evicts, nothing more. The fast lanes (http/fastpath.py) answer from the same store,
so a fast answer is, byte for byte, the full stack's.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.responses import Response

View = tuple[int, str, bytes]
"""(account id, path, raw query string without ``wait``)."""

MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Rendered:
    version: int
    body: bytes
    media_type: bytes


class Renders:
    """The store of rendered views, and the renders in flight."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.renders = 0  # renders run (a test and the bench count them)
        self._kept: OrderedDict[View, Rendered] = OrderedDict()
        self._flying: dict[tuple[View, int], asyncio.Future[Response]] = {}

    def peek(self, view: View, version: int) -> Rendered | None:
        """The view as rendered at ``version``, if it is kept (no await: the fast lanes call it)."""
        hit = self._kept.get(view)
        if hit is None or hit.version != version:
            return None
        self._kept.move_to_end(view)
        return hit

    async def get(self, view: View, version: int, render: Callable[[], Awaitable[Response]]) -> Response:
        """The response to ``view`` at ``version``: kept, joined, or rendered by ``render`` now."""
        hit = self.peek(view, version)
        if hit is not None:
            return _response(hit)
        flying = self._flying.get((view, version))
        if flying is not None:
            try:
                return _copy(await asyncio.shield(flying))
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
            except Exception:  # noqa: S110 - the first asker's failure is its own: ask for ourselves
                pass
            self.renders += 1
            return await render()
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._flying[(view, version)] = future
        try:
            self.renders += 1
            response = await render()
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # retrieved: nobody may be waiting
            raise
        finally:
            del self._flying[(view, version)]
        future.set_result(response)
        self._keep(view, version, response)
        return response

    def _keep(self, view: View, version: int, response: Response) -> None:
        if response.status_code != 200 or type(response) is not Response or not isinstance(response.body, bytes):
            return
        body = response.body
        if len(body) > self.max_bytes // 4:
            return
        media = response.headers.get("content-type", "application/json").encode("latin-1")
        old = self._kept.pop(view, None)
        if old is not None:
            self.size -= len(old.body)
        self._kept[view] = Rendered(version, body, media)
        self.size += len(body)
        while self.size > self.max_bytes:
            _, evicted = self._kept.popitem(last=False)
            self.size -= len(evicted.body)


def _response(hit: Rendered) -> Response:
    return Response(hit.body, headers={"content-type": hit.media_type.decode("latin-1")})


def _copy(shared: Response) -> Response:
    """A response of its own for each waiter (headers are set on it afterwards)."""
    if type(shared) is Response and isinstance(shared.body, bytes):
        copy = Response(shared.body, shared.status_code)
        copy.raw_headers = [h for h in shared.raw_headers if h[0] != b"etag"]
        return copy
    return shared
