"""The raw ASGI reference (bench/raw_asgi.py) on uvicorn behind sessionhub's connection guard.

    python -m bench.guarded_raw PORT
"""

from __future__ import annotations

import sys

import uvicorn

from bench.raw_asgi import app
from sessionhub.http.guard import ConnectionGuard, ConnectionLimits, connection_cap, guarded_protocol


def main(port: int) -> None:
    guard = ConnectionGuard(ConnectionLimits(max_connections=connection_cap(0, 512)))
    uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", access_log=False, loop="uvloop",
                                  http=guarded_protocol(guard))).run()


if __name__ == "__main__":
    main(int(sys.argv[1]))
