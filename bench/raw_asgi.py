"""The reference: a raw ASGI function answering every request with a constant JSON body of the
size of a timing session's body. Served by the same server software as sessionhub."""

from __future__ import annotations

from typing import Any

BODY = (
    b'{"description":"Success","result":[{"token_session":"2A19294BB886C3D5C7783309BBC6E385515C843893A6BC126FECE3'
    b'904C6E2B25","alias":"START-5K","creation_date":"2023-02-03T15:08:12.000Z","duration":"2023-02-03T17:08:12.0'
    b'00Z","active":true,"passings":31,"first":"2023-02-03T16:08:18.263Z","last":"2023-12-22T09:20:25.130Z"}]}'
)
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["method"] == "POST":  # drain the body, as a real handler must
        while (await receive()).get("more_body"):
            pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
