"""The CoAP reference of the benchmarks: a minimal aiocoap server with one resource (``/v1/sessions``)
returning a constant body, run the way aiocoap's own examples run a server.

    python -m bench.aiocoap_ref PORT
"""

from __future__ import annotations

import asyncio
import sys

import aiocoap
import aiocoap.resource as resource

BODY = b'{"responseTypes":["sessions"],"globalSessionSequence":1,"deviceName":"T7470","sessions":[]}' + b" " * 200


class Constant(resource.Resource):  # type: ignore[misc]  # aiocoap is untyped
    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(payload=BODY, content_format=50)


async def serve(port: int) -> None:
    site = resource.Site()
    site.add_resource(["v1", "sessions"], Constant())
    await aiocoap.Context.create_server_context(site, bind=("127.0.0.1", port))
    await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
