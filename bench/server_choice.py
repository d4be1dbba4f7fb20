"""Which server front sessionhub: the raw ASGI reference on each candidate, same run, same machine.

uvicorn has no header-read timeout and no connection cap (issue 9 #1); the candidates are granian
(header-read timeout in Rust, no connection cap), hypercorn (h11, read timeout) and uvicorn behind
sessionhub's own guard (http/guard.py). Candidates that are not installed are skipped.

    python -m bench.server_choice [--seconds 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
from pathlib import Path

from bench.harness import PY, free_port, pin, process, wrk


def candidates(port: int) -> dict[str, list[str]]:
    out = {
        "uvicorn (httptools, uvloop)": [PY, "-m", "uvicorn", "bench.raw_asgi:app", "--port", str(port),
                                        "--log-level", "warning", "--no-access-log", "--http", "httptools",
                                        "--loop", "uvloop"],
        "uvicorn + sessionhub guard": [PY, "-m", "bench.guarded_raw", str(port)],
    }
    if importlib.util.find_spec("granian"):
        out["granian (asgi, 1 worker)"] = [PY, "-m", "granian", "--interface", "asgi", "--port", str(port),
                                           "--workers", "1", "--log-level", "warning", "--no-ws",
                                           "--http1-header-read-timeout", "10000", "bench.raw_asgi:app"]
    if importlib.util.find_spec("hypercorn"):
        out["hypercorn (h11, uvloop)"] = [PY, "-m", "hypercorn", "--bind", f"127.0.0.1:{port}", "--worker-class",
                                          "uvloop", "--log-level", "warning", "bench.raw_asgi:app"]
    return out


def main(seconds: int, rounds: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="sessionhub-server-choice-"))
    runs: dict[str, list[float]] = {}
    for _ in range(rounds):  # interleaved, so drift on a shared machine hits all alike
        for name in candidates(0):
            port = free_port()
            with process(pin(0, candidates(port)[name]), port, tmp / "server.log"):
                runs.setdefault(name, []).append(wrk(f"http://127.0.0.1:{port}/", seconds))
    result = {name: statistics.median(values) for name, values in runs.items()}
    ref = result["uvicorn (httptools, uvloop)"]
    print("\n| raw ASGI function on | req/s (median) | vs uvicorn |\n|---|---|---|")
    for name, value in result.items():
        print(f"| {name} | {value:,.0f} | {value / ref:.2f}x |")
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    main(a.seconds, a.rounds)
