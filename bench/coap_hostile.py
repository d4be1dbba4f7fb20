"""CoAP under hostile traffic (issue 9): amplification toward an unverified source, datagrams per
change with silent observers, and HTTP ingest latency during a CoAP PUT flood.

    python -m bench.coap_hostile [--quick]

(a) The same requests (the session list of 40 sessions, history, settings, an Observe
    registration followed by 3 changes) from a socket that never answers anything (a spoofed
    source: the victim never asked) and, as the same-run reference, from a verified socket:
    bytes received / bytes sent.
(b) N verified observers that never acknowledge (16 per loopback address, the per-host cap),
    then changes: datagrams the server sends them per change; reference: N acknowledging observers.
(c) ``POST /v0/passings`` (batches of 100, one client, sequential) p50 latency without and with a
    CoAP PUT flood (``bench.coapload``, 16 ports x 8 in flight, on core 1) in the same run,
    interleaved. Target: flooded p50 <= 2x unflooded.
"""

from __future__ import annotations

import argparse
import random
import selectors
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.coap_bench import _call, _free_udp_port, _request, _server
from bench.harness import PY, Figure, cli, free_port, pin, print_figures
from bench.http_bench import seed_timing


def _wait_http(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def _drain(s: socket.socket, seconds: float, answer_probes: bool, ack: bool) -> list[bytes]:
    out: list[bytes] = []
    end = time.monotonic() + seconds
    s.settimeout(0.05)
    while time.monotonic() < end:
        try:
            data, addr = s.recvfrom(65536)
        except TimeoutError:
            continue
        out.append(data)
        if data[0] >> 4 & 3 == 0 and (answer_probes if data[1] == 0 else ack):
            s.sendto(bytes((0x70 if data[1] == 0 else 0x60, 0)) + data[2:4], addr)
    return out


def amplification(port: int) -> tuple[float, float]:
    """(ratio toward an unverified source, ratio toward a verified one) for the same requests."""
    requests = [_request(1, 1, b"\x01", ["v1", "sessions"]), _request(1, 2, b"\x02", ["v1", "sessions", "history"]),
                _request(1, 3, b"\x03", ["v1", "settings"]), _request(1, 4, b"\x04", ["v1", "notify"], observe=True)]
    ratios = []
    for verified in (False, True):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            if verified:
                _call(port, 1, ["v1", "settings"], sock=s)
            sent = sum(len(r) for r in requests)
            for r in requests:
                s.sendto(r, ("127.0.0.1", port))
            got = _drain(s, 1.5, answer_probes=False, ack=verified)
            for n in range(3):  # changes an observer would be told about
                _call(port, 2, ["v1", "sessions"], f'{{"number":{200 + n}}}'.encode())
            got += _drain(s, 1.0, answer_probes=False, ack=verified)
            ratios.append(sum(len(d) for d in got) / sent)
    return ratios[0], ratios[1]


def observers_per_change(port: int, count: int, ack: bool, first: int) -> list[int]:
    """Datagrams sent to ``count`` observers per change, for 3 changes (silent ones unless ``ack``)."""
    socks = []
    for n in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((f"127.0.0.{2 + n // 16}", 0))
        _call(port, 1, ["v1", "settings"], sock=s)  # verified
        s.sendto(_request(1, random.randrange(65536), b"\x09", ["v1", "notify"], observe=True), ("127.0.0.1", port))
        socks.append(s)
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)

    def drain(seconds: float) -> int:
        got, end = 0, time.monotonic() + seconds
        while time.monotonic() < end:
            for key, _ in sel.select(0.05):
                s = key.fileobj
                assert isinstance(s, socket.socket)
                while True:
                    try:
                        data, addr = s.recvfrom(65536)
                    except BlockingIOError:
                        break
                    got += 1
                    if ack and data[0] >> 4 & 3 == 0:
                        s.sendto(bytes((0x60, 0)) + data[2:4], addr)
        return got

    try:
        drain(1.0)  # the registrations' answers
        counts = []
        for n in range(3):
            _call(port, 2, ["v1", "sessions"], f'{{"number":{first + n}}}'.encode())  # a new session: a change
            counts.append(drain(4.0))  # past the first notification's timeout (3 s)
        return counts
    finally:
        sel.close()
        for s in socks:
            s.close()


def ingest_p50(base: str, key: str, token: str, seconds: float, first: int) -> tuple[float, int]:
    """(p50 ms, passings sent) of sequential 100-passing POSTs for ``seconds``."""
    lat: list[float] = []
    n = first
    with httpx.Client(base_url=base, headers={"api_key": key}, timeout=30) as c:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            body = {"token_session": token, "passings_list": [
                {"bib": str(i % 5000), "num_passing": i, "timestamp": "2023-02-03T16:08:18.263Z"}
                for i in range(n, n + 100)]}
            t0 = time.perf_counter()
            c.post("/v0/passings", json=body).raise_for_status()
            lat.append(time.perf_counter() - t0)
            n += 100
    return statistics.median(lat) * 1000, n


def main(quick: bool = False) -> list[Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="sessionhub-coap-hostile-"))
    db = f"sqlite:///{tmp / 'bench.db'}"
    cli(db, "migrate")
    key = cli(db, "keys", "create", "--account", "bench", "--access", "READ_WRITE")
    port, http_port = _free_udp_port(), free_port()
    base = f"http://127.0.0.1:{http_port}"
    serve = pin(0, [PY, "-m", "sessionhub", "serve", "--db", db, "--http", f"127.0.0.1:{http_port}",
                    "--coap", f"127.0.0.1:{port}"])  # the defaults: rate limit and observer cap on
    figures: list[Figure] = []
    with _server(serve, port, tmp / "server.log"):
        _wait_http(http_port)
        for n in range(1, 41):
            _call(port, 2, ["v1", "sessions"], f'{{"number":{n},"label":"table {n}"}}'.encode())
        unverified, verified = amplification(port)
        print(f"amplification: unverified {unverified:.2f}x, verified {verified:.1f}x")
        figures.append(Figure("CoAP bytes out / bytes in toward an unverified (spoofed) source", unverified, "x",
                              "the same requests from a verified source", verified, "<= 3x", unverified <= 3))
        count = 64 if quick else 256
        silent = observers_per_change(port, count, ack=False, first=300)
        acked = observers_per_change(port, count, ack=True, first=400)
        print(f"{count} silent observers, datagrams per change: {silent}; {count} acknowledging: {acked}")
        figures.append(Figure(f"datagrams per change to {count} silent observers (1st, 2nd, 3rd change)",
                              float(silent[0]), f"datagrams ({silent[1]}, {silent[2]} after)",
                              f"{count} acknowledging observers", float(acked[0]), "<= N, then 0",
                              silent[0] <= count and silent[1] == silent[2] == 0))

        _, token = seed_timing(base, key, 1)
        seconds = 3.0 if quick else 6.0
        calm, flooded, first = [], [], 10_000
        flood_argv = pin(1, [PY, "-m", "bench.coapload", "127.0.0.1", str(port), "v1/sessions", "number=1",
                             "--method", "PUT", "--payload", '{"label":"flood"}', "--ports", "16",
                             "--seconds", str(seconds + 1.5), "--json"])
        for _ in range(1 if quick else 2):  # interleaved: drift hits both alike
            p50, first = ingest_p50(base, key, token, seconds, first)
            calm.append(p50)
            flood = subprocess.Popen(flood_argv, stdout=subprocess.PIPE, text=True)
            time.sleep(0.5)
            p50, first = ingest_p50(base, key, token, seconds, first)
            flooded.append(p50)
            out, _ = flood.communicate(timeout=60)
            print(f"flood: {out.strip()}")
        calm_p50, flood_p50 = statistics.median(calm), statistics.median(flooded)
        figures.append(Figure("POST /v0/passings (100 per batch) p50 during a CoAP PUT flood", flood_p50, "ms",
                              "the same, unflooded", calm_p50, "<= 2x", flood_p50 <= 2 * calm_p50))
    print_figures("CoAP under hostile traffic", figures)
    return figures


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    main(ap.parse_args().quick)
