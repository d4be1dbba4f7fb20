"""CPU time per request of the server process under wrk: a figure that a loaded machine distorts far
less than requests/s (other processes take wall time from the server, not its CPU per request).

    python -m bench.cpu_per_request [--seconds 4] [--rounds 3]

Prints microseconds of server CPU (user + system, from /proc) per answered request for the polled
GETs of sessionhub and for the raw ASGI function on uvicorn, same run.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.harness import cli, free_port, pin, raw_asgi, sessionhub
from bench.http_bench import seed_parking, seed_timing

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def run(pid: int, url: str, seconds: int, headers: Sequence[str] = ()) -> tuple[float, float]:
    """(requests/s, server CPU µs per request) of one wrk run."""
    argv = ["wrk", "-t1", "-c64", f"-d{seconds}s"]
    for h in headers:
        argv += ["-H", h]
    before = cpu_s(pid)
    out = subprocess.run(pin(1, [*argv, url]), check=True, capture_output=True, text=True).stdout
    used = cpu_s(pid) - before
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return rate, used / done * 1e6


def main(seconds: int = 4, rounds: int = 3) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="sessionhub-cpu-"))
    db = f"sqlite:///{tmp / 'b.db'}"
    cli(db, "migrate")
    key = cli(db, "keys", "create", "--account", "bench", "--access", "READ_WRITE")
    port, raw_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    with sessionhub(db, port, tmp / "s.log") as pid, raw_asgi(raw_port, tmp / "r.log") as raw_pid:
        _, token = seed_timing(base, key)
        parking = seed_parking(base, db, key)
        got: dict[str, list[tuple[float, float]]] = {"timing": [], "parking": [], "raw": []}
        for _ in range(rounds):
            got["timing"].append(run(pid, f"{base}/v0/sessions/{token}", seconds, [f"api_key: {key}"]))
            got["parking"].append(run(pid, f"{base}{parking}", seconds))
            got["raw"].append(run(raw_pid, f"http://127.0.0.1:{raw_port}/", seconds))
    ref = statistics.median(c for _, c in got["raw"])
    print("\n| GET (wrk -c64) | req/s | server CPU µs/request | vs raw ASGI on uvicorn (CPU per request) |")
    print("|---|---|---|---|")
    labels = (("timing", "GET /v0/sessions/{token}"), ("parking", "GET /v1/access/parking/{loc}/session/{id}"),
              ("raw", "raw ASGI function, uvicorn (reference)"))
    for name, label in labels:
        rate = statistics.median(r for r, _ in got[name])
        cpu = statistics.median(c for _, c in got[name])
        print(f"| {label} | {rate:,.0f} | {cpu:.1f} | {ref / cpu:.2f}x |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    main(a.seconds, a.rounds)
