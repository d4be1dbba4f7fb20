"""Load generator for ``POST /v0/passings``: pre-encoded batches sent over N keep-alive connections.

    python -m bench.post_load BASE_URL KEY TOKEN BATCHES [--size 1000] [--first 0] [--connections 4]

Prints ``passings/s=N requests/s=N``. Bodies are encoded before the clock starts, so the figure is
the server's, not the client's JSON encoder's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import httpx


def bodies(token: str, batches: int, size: int, first: int) -> list[bytes]:
    return [
        json.dumps({"token_session": token, "passings_list": [
            {"bib": str(n % 5000), "num_passing": n, "timestamp": "2023-02-03T16:08:18.263Z",
             "chip": f"{n:015d}", "latitude": "40.7128", "longitude": "-74.0060"}
            for n in range(first + b * size, first + (b + 1) * size)]}).encode()
        for b in range(batches)
    ]


async def send_all(base: str, key: str, todo: list[bytes], connections: int) -> float:
    async def worker(client: httpx.AsyncClient) -> None:
        while todo:
            r = await client.post("/v0/passings", content=todo.pop(), headers={"api_key": key})
            if not r.is_success:
                raise RuntimeError(r.text)

    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(connections)))
        return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("key")
    ap.add_argument("token")
    ap.add_argument("batches", type=int)
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--connections", type=int, default=4)
    a = ap.parse_args()
    todo = bodies(a.token, a.batches, a.size, a.first)
    seconds = asyncio.run(send_all(a.base, a.key, todo, a.connections))
    print(f"passings/s={a.batches * a.size / seconds:.0f} requests/s={a.batches / seconds:.1f}")


if __name__ == "__main__":
    main()
