"""HTTP figures: polled GETs against a raw ASGI function, passings ingest, memory after 5 M passings.

    python -m bench.http_bench [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

import httpx

from bench.harness import PY, Figure, cli, free_port, pin, print_figures, raw_asgi, rss_mb, sessionhub, wrk

TARGET_TOTAL = 5_000_000


def post_load(base: str, key: str, token: str, batches: int, first: int = 0) -> float:
    argv = pin(1, [PY, "-m", "bench.post_load", base, key, token, str(batches), "--first", str(first)])
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return float(out.split()[0].split("=")[1])


def seed_timing(base: str, key: str, passings: int = 31) -> tuple[str, str]:
    """A device and a session with ``passings`` passings; (deviceid, token)."""
    with httpx.Client(base_url=base, headers={"api_key": key}) as c:
        deviceid = c.post("/v0/devices", json={"model": "Bench", "serial_number": "B-1"}).json()["deviceid"]
        token = c.post("/v0/sessions", json={"deviceid": deviceid, "alias": "START-5K"}).json()["token_session"]
        c.post("/v0/passings", json={"token_session": token, "passings_list": [
            {"bib": str(n), "num_passing": n, "timestamp": "2023-02-03T16:08:18.263Z"} for n in range(1, passings + 1)
        ]}).raise_for_status()
    return deviceid, token


def seed_parking(base: str, db: str, key: str) -> str:
    """A started parking session; the path of its GET, key included."""
    location = cli(db, "locations", "create", "--account", "bench", "--name", "Bench garage", "--rate", "350",
                   "--currency", "USD", "--daily-max", "2400")
    with httpx.Client(base_url=base, params={"access_key": key}) as c:
        r = c.post(f"/v1/access/parking/{location}/session", json={"user_id": "00000000-0000-4000-8000-000000000001"})
        r.raise_for_status()
        return f"/v1/access/parking/{location}/session/{r.json()['id']}?access_key={key}"


def main(quick: bool = False) -> list[Figure]:
    seconds = 4 if quick else 8
    rounds = 1 if quick else 3
    tmp = Path(tempfile.mkdtemp(prefix="sessionhub-bench-"))
    db = f"sqlite:///{tmp / 'bench.db'}"
    cli(db, "migrate")
    key = cli(db, "keys", "create", "--account", "bench", "--access", "READ_WRITE")
    port, raw_port, bare_port = free_port(), free_port(), free_port()
    base, raw = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{raw_port}"
    bare = f"http://127.0.0.1:{bare_port}"  # the same server without metrics (--no-metrics), same database
    figures: list[Figure] = []
    with sessionhub(db, port, tmp / "server.log") as pid, raw_asgi(raw_port, tmp / "raw.log"), \
            sessionhub(db, bare_port, tmp / "bare.log", "--no-metrics"):
        idle = rss_mb(pid)
        _, token = seed_timing(base, key)
        parking = seed_parking(base, db, key)
        ours, park, ref, unmetered = [], [], [], []
        for _ in range(rounds):  # interleaved, so drift on a shared machine hits all alike
            ours.append(wrk(f"{base}/v0/sessions/{token}", seconds, headers=[f"api_key: {key}"]))
            park.append(wrk(f"{base}{parking}", seconds))
            ref.append(wrk(f"{raw}/", seconds))
            unmetered.append(wrk(f"{bare}/v0/sessions/{token}", seconds, headers=[f"api_key: {key}"]))
        get, get_ref = statistics.median(ours), statistics.median(ref)
        figures.append(Figure("GET /v0/sessions/{token} (key, rate limits, ETag checked)", get, "req/s",
                              "raw ASGI, uvicorn", get_ref, ">= 1.0x", get >= get_ref))
        without = statistics.median(unmetered)
        figures.append(Figure("the same GET, Prometheus metrics on (the default)", get, "req/s",
                              "the same server with --no-metrics", without, ">= 0.95x", get >= 0.95 * without))
        get = statistics.median(park)
        figures.append(Figure("GET /v1/access/parking/{loc}/session/{id}?access_key=", get, "req/s",
                              "raw ASGI, uvicorn", get_ref, ">= 1.0x", get >= get_ref))

        _, ingest_token = seed_timing(base, key, 1)
        batches = 100 if quick else 300
        stored = post_load(base, key, ingest_token, batches, first=10)
        ceiling = post_load(raw, key, ingest_token, batches, first=10)
        figures.append(Figure("POST /v0/passings, batches of 1000, durable", stored, "passings/s",
                              "same bodies to raw ASGI (HTTP ceiling)", ceiling, ">= 100,000/s", stored >= 100_000))

        if not quick:
            done = batches * 1000
            while done < TARGET_TOTAL:
                chunk = min(500, (TARGET_TOTAL - done) // 1000)
                post_load(base, key, ingest_token, chunk, first=10 + done)
                done += chunk * 1000
            with httpx.Client(base_url=base, headers={"api_key": key}) as c:
                count = c.get(f"/v0/sessions/{ingest_token}").json()["result"][0]["passings"]
                for page in (1, 500, 999):
                    c.get(f"/v0/passings/session/{ingest_token}", params={"page": page}).raise_for_status()
            rss = rss_mb(pid)
            figures.append(Figure(f"server RSS after {count:,} passings stored", rss, "MB",
                                  "RSS of the same server just after start", idle, "<= 200 MB", rss <= 200))
    print_figures("HTTP (SQLite store, server on one core)", figures)
    return figures


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="shorter runs, no 5 M ingest")
    main(ap.parse_args().quick)
