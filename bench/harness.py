"""Shared pieces of the benchmarks: temporary servers pinned to a core, wrk, RSS, figure tables.

Every figure is printed beside a reference measured in the same run on the same machine, because
these machines are shared and noisy and absolute numbers drift. Servers run on core 0 and load
generators on core 1 (``taskset``) when the machine has two cores or more.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def pin(core: int, argv: Sequence[str]) -> list[str]:
    """``argv`` pinned to ``core`` when taskset exists and the machine has that core."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > core:
        return ["taskset", "-c", str(core), *argv]
    return list(argv)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@contextmanager
def process(argv: Sequence[str], port: int, log: Path, env: dict[str, str] | None = None) -> Iterator[int]:
    """Run a server process until the block ends; yield its pid once ``port`` accepts."""
    with log.open("ab") as out:
        proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, **(env or {})})
    try:
        wait_port(port, proc)
        yield proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


BENCH_LIMITS = ("--rate-per-key", "1e9", "--rate-per-address", "1e9", "--max-connections-per-address", "100000",
                "--max-streams-per-address", "100000", "--max-streams-per-account", "100000")
"""A load generator is one client address with one key: the limits are still checked on every
request (their cost is in every figure) but set where they never bite (docs/limits.md)."""


def sessionhub(db: str, port: int, log: Path, *extra: str) -> AbstractContextManager[int]:
    argv = pin(0, [PY, "-m", "sessionhub", "serve", "--db", db, "--http", f"127.0.0.1:{port}", *BENCH_LIMITS,
                   *extra])
    return process(argv, port, log)


def raw_asgi(port: int, log: Path) -> AbstractContextManager[int]:
    """The reference app on the same server software (uvicorn with httptools and uvloop)."""
    argv = pin(0, [PY, "-m", "uvicorn", "bench.raw_asgi:app", "--port", str(port), "--log-level", "warning",
                   "--no-access-log", "--http", "httptools", "--loop", "uvloop"])
    return process(argv, port, log)


def cli(db: str, *args: str) -> str:
    out = subprocess.run([PY, "-m", "sessionhub", *args, "--db", db], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def wrk(url: str, seconds: int = 8, connections: int = 64, headers: Sequence[str] = ()) -> float:
    """Requests/s of ``wrk -t1 -c{connections}`` on core 1 (non-2xx answers make it fail)."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for h in headers:
        argv += ["-H", h]
    out = subprocess.run(pin(1, [*argv, url]), check=True, capture_output=True, text=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"no figure in wrk output:\n{out}")
    return float(match.group(1))


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children (a taskset wrapper execs, so it is the server)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    reference: str
    ref_value: float
    target: str
    ok: bool


def print_figures(title: str, figures: list[Figure]) -> None:
    print(f"\n## {title}\n")
    print("| figure | value | reference (same run) | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    for f in figures:
        ratio = f"{f.value / f.ref_value:.2f}x" if f.ref_value else "-"
        print(f"| {f.name} | {f.value:,.0f} {f.unit} | {f.reference}: {f.ref_value:,.0f} | {ratio} | {f.target} | "
              f"{'yes' if f.ok else 'NO'} |")
    sys.stdout.flush()
