"""Operations figures: what the access log costs on the hot GET.

    python -m bench.ops_bench [--quick]

Three ``sessionhub serve`` processes on one database, each pinned to core 0 in turn: ``--access-log off``
(the default: the access-log wrapper is not installed at all), ``plain`` and ``json`` (lines written to a
file, as a journal would take them). wrk on core 1 polls the same RUFUS session GET on each, interleaved
rounds, median. Targets: ``off`` within noise of itself (it is the code path without the feature), and
the log's cost printed beside it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench.harness import Figure, cli, free_port, print_figures, sessionhub, wrk
from bench.http_bench import seed_timing


def main(quick: bool = False) -> list[Figure]:
    seconds, rounds = (3, 1) if quick else (6, 3)
    tmp = Path(tempfile.mkdtemp(prefix="sessionhub-ops-bench-"))
    db = f"sqlite:///{tmp / 'bench.db'}"
    cli(db, "migrate")
    key = cli(db, "keys", "create", "--account", "bench", "--access", "READ_WRITE")
    results: dict[str, list[float]] = {"off": [], "plain": [], "json": []}
    token = ""
    for _ in range(rounds):  # interleaved, so drift on a shared machine hits all alike
        for mode in results:
            port = free_port()
            with sessionhub(db, port, tmp / f"server-{mode}.log", "--coap", "off", "--access-log", mode):
                if not token:
                    _, token = seed_timing(f"http://127.0.0.1:{port}", key)
                results[mode].append(wrk(f"http://127.0.0.1:{port}/v0/sessions/{token}", seconds,
                                         headers=[f"api_key: {key}"]))
    off = statistics.median(results["off"])
    figures = [Figure(f"GET /v0/sessions/{{token}}, --access-log {mode}", statistics.median(results[mode]), "req/s",
                      "--access-log off", off, ">= 0.90x" if mode != "off" else "1x",
                      statistics.median(results[mode]) >= 0.9 * off) for mode in results]
    print_figures("Access log (server on one core, wrk on the other)", figures)
    return figures


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    main(ap.parse_args().quick)
