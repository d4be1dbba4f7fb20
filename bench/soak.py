"""Soak: realistic load, attackers and faults against a real ``sessionhub serve``, then a check that
nothing acknowledged was lost.

    python -m bench.soak [--seconds 600] [--streams 5000] [--store sqlite|postgres] [--short]

(``make soak`` runs the long version on SQLite, then on PostgreSQL when one is reachable at
``SESSIONHUB_TEST_PG``; ``tests/test_soak.py`` runs ``--short`` inside ``make test``.)

Legitimate clients, each from a loopback address of its kind (127.0.1.x), so per-address limits see them
as the separate clients they are:

- pollers: a RUFUS session GET or a Coord parking session GET, one a second each (an app on a screen);
- streams: Server-Sent Events of timing sessions; on a lost connection they come back with
  ``Last-Event-ID`` after a short back-off (a browser's EventSource);
- devices: timing devices posting a batch of passings a second, retrying the same batch until it is
  acknowledged (a reader on a flaky link);
- coap: the paging station's clients, ``GET /v1/sessions?number=N`` once a second (CON, retransmitted).

Attackers, from 127.0.2.x .. 127.0.9.x: slowloris (headers one byte at a time), herds (hundreds of
long-polls of one big page at once, then a write), floods (bad keys as fast as they are answered, CoAP
PUTs), bad bodies (malformed JSON, huge bodies, timestamps that cannot be rendered) on an account of
their own. Faults: SIGKILL of the server and a restart on the same ports; on PostgreSQL,
``pg_terminate_backend`` of the server's connections.

Printed: per legitimate kind, requests, success %, p50/p99 latency, 5xx, 429 and connection errors,
beside the targets of issue 9 (printed, not asserted); attackers' 5xx (a bug too); and the audit: every
acknowledged passing read back after the run, none twice, none that was never sent. Every loop is
bounded by the run's deadline; every wait has a timeout; all traffic stays on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import random
import secrets
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path

from bench import coapload

PY = sys.executable
ROOT = Path(__file__).resolve().parents[1]
LEGIT_NET = "127.0.1."
ATTACK_NETS = [f"127.0.{n}." for n in range(2, 10)]
TIMESTAMP = "2023-02-03T16:08:18.263Z"
CLIENTS_PER_KEY = 20  # an app's key polls once a second per screen: a few screens share one


def is_probe(data: bytes) -> bool:
    """An empty confirmable message: the server checking that this address is really ours (RFC 7252 ping)."""
    return len(data) == 4 and data[0] >> 4 & 3 == 0 and data[1] == 0


@dataclass
class Config:
    seconds: float = 600.0
    store: str = "sqlite"
    pollers: int = 200
    streams: int = 5000
    devices: int = 20
    batch: int = 50
    coap_clients: int = 10
    slowloris: int = 2000
    floods: int = 8
    herd: int = 200
    herd_every: float = 60.0
    herd_wait: int = 8
    bad_bodies: int = 4
    coap_flood: int = 2
    kill_every: float = 150.0
    pg_terminate_every: float = 45.0
    timeout: float = 10.0

    @classmethod
    def short(cls, store: str = "sqlite") -> Config:
        """The version inside ``make test``: 15 s of load, one fault of each kind the store has."""
        return cls(seconds=15.0, store=store, pollers=20, streams=100, devices=4, batch=20, coap_clients=2,
                   slowloris=100, floods=2, herd=50, herd_every=6.0, herd_wait=2, bad_bodies=1, coap_flood=1,
                   kill_every=6.0, pg_terminate_every=4.0, timeout=10.0)


# --- what clients saw -----------------------------------------------------------------------------

@dataclass
class Kind:
    """What one kind of client saw."""

    name: str
    legit: bool
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    server_error_times: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, status)

    def record(self, status: int, seconds: float) -> None:
        self.statuses[status] += 1
        if self.ok(status):
            self.latencies.append(seconds)
        elif status >= 500:
            self.server_error_times.append((time.monotonic(), status))

    def fail(self, exc: BaseException) -> None:
        self.errors[type(exc).__name__] += 1

    def ok(self, status: int) -> bool:
        return 200 <= status < 400 or status in (205,)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    @property
    def successes(self) -> int:
        return sum(n for s, n in self.statuses.items() if self.ok(s))

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s >= 500)

    def pct(self, q: float) -> float:
        lat = sorted(self.latencies)
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")


@dataclass
class Audit:
    sent: dict[str, set[int]] = field(default_factory=dict)  # token -> every num_passing ever sent
    acked: dict[str, set[int]] = field(default_factory=dict)  # token -> acknowledged (201)
    stored: dict[str, list[int]] = field(default_factory=dict)  # token -> read back after the run

    @property
    def acknowledged(self) -> int:
        return sum(map(len, self.acked.values()))

    @property
    def lost(self) -> int:
        return sum(len(a - set(self.stored.get(t, []))) for t, a in self.acked.items())

    @property
    def duplicated(self) -> int:
        return sum(len(s) - len(set(s)) for s in self.stored.values())

    @property
    def invented(self) -> int:
        return sum(len(set(s) - self.sent.get(t, set())) for t, s in self.stored.items())


FAULT_GRACE = 3.0  # seconds after a fault in which a 503 (the store declared unavailable) is the fault's


@dataclass
class Result:
    config: Config
    kinds: dict[str, Kind]
    audit: Audit
    faults: Counter[str]
    seconds: float
    fault_windows: list[tuple[float, float]] = field(default_factory=list)

    def excused(self, at: float, status: int) -> bool:
        """A 503 while a fault was being made (the store lost, a retry advised) is the fault's, not a bug."""
        return status == 503 and any(a <= at <= b + FAULT_GRACE for a, b in self.fault_windows)

    @property
    def legit_5xx(self) -> int:
        """5xx answers to legitimate clients, except 503s inside a fault's window."""
        return sum(not self.excused(at, st) for k in self.kinds.values() if k.legit for at, st in k.server_error_times)

    def table(self) -> str:
        rows = [f"## soak: {self.config.store}, {self.seconds:.0f} s, faults {dict(self.faults)}", "",
                "| client | requests | success % | p50 ms | p99 ms | 5xx | 429 | conn. errors | target |",
                "|---|---|---|---|---|---|---|---|---|"]
        for k in self.kinds.values():
            target = TARGETS.get(k.name, "-") if k.legit else "(attacker) no 5xx"
            rate = 100 * k.successes / k.requests if k.requests else float("nan")
            rows.append(f"| {k.name} | {k.requests:,} | {rate:.2f} | {k.pct(0.5):.1f} | {k.pct(0.99):.1f} | "
                        f"{k.server_errors} | {k.statuses.get(429, 0)} | {sum(k.errors.values())} | {target} |")
        rows.append("")
        for k in self.kinds.values():
            seen = {**{str(s): n for s, n in sorted(k.statuses.items())}, **dict(k.errors)}
            rows.append(f"- {k.name}: {seen}")
        excused = sum(self.excused(at, st) for k in self.kinds.values() if k.legit for at, st in k.server_error_times)
        rows.append(f"- legitimate clients' 5xx: {self.legit_5xx} (besides {excused} 503s inside a fault's window)")
        a = self.audit
        rows += ["", f"passings: {sum(map(len, a.sent.values())):,} sent, {a.acknowledged:,} acknowledged, "
                     f"{sum(map(len, a.stored.values())):,} stored; lost {a.lost}, twice {a.duplicated}, "
                     f"never sent {a.invented}"]
        return "\n".join(rows)


TARGETS = {
    "poll": ">= 99% success, p99 <= 100 ms",
    "stream": ">= 99% connect, first event p99 <= 1 s",
    "device": ">= 99% acknowledged, p99 <= 500 ms",
    "coap": ">= 99% success, p99 <= 100 ms",
}


# --- a lean HTTP/1.1 client (thousands of connections from one process) -----------------------------

class HttpError(Exception):
    pass


class Conn:
    """One keep-alive HTTP/1.1 connection from a chosen loopback source address."""

    def __init__(self, port: int, source: str, timeout: float) -> None:
        self.port, self.source, self.timeout = port, source, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port, local_addr=(self.source, 0)), self.timeout)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, method: str, target: str, headers: dict[str, str] | None = None,
                      body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            await self.connect()
        assert self.reader is not None and self.writer is not None
        try:
            return await asyncio.wait_for(self._exchange(method, target, headers or {}, body), self.timeout)
        except BaseException:
            self.close()
            raise

    async def _exchange(self, method: str, target: str, headers: dict[str, str],
                        body: bytes) -> tuple[int, dict[str, str], bytes]:
        assert self.reader is not None and self.writer is not None
        head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if body or method in ("POST", "PUT", "PATCH"):
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        await self.writer.drain()
        status, resp_headers = await read_head(self.reader)
        if "chunked" in resp_headers.get("transfer-encoding", ""):
            data = bytearray()
            for _ in range(100_000):  # bounded: chunks of a finite answer
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                data += await self.reader.readexactly(size + 2)
                if size == 0:
                    break
            payload = bytes(data)
        else:
            payload = await self.reader.readexactly(int(resp_headers.get("content-length", "0")))
        if resp_headers.get("connection", "").lower() == "close":
            self.close()
        return status, resp_headers, payload


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise HttpError(f"bad status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


# --- the server under test ------------------------------------------------------------------------

class Served:
    """``sessionhub serve`` on fixed ports, killed and restarted by the faults."""

    def __init__(self, db: str, http: int, coap: int, log: Path, station: str) -> None:
        self.db, self.http, self.coap, self.log, self.station = db, http, coap, log, station
        self.proc: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        return [PY, "-m", "sessionhub", "serve", "--db", self.db, "--http", f"127.0.0.1:{self.http}",
                "--coap", f"127.0.0.1:{self.coap}", "--station-account", self.station]

    def start(self, timeout: float = 60.0) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv(), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.http)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"server did not listen in {timeout} s; see {self.log}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait(timeout=30)
        return self.proc.returncode


def cli(db: str, *args: str) -> str:
    out = subprocess.run([PY, "-m", "sessionhub", *args, "--db", db], check=True, capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    return out.stdout.strip()


# --- the run ---------------------------------------------------------------------------------------

@dataclass
class World:
    """What setup made: keys, sessions, paths."""

    key: str  # READ_WRITE of the legitimate account (setup, audit)
    reads: list[str]  # READ keys of the legitimate account: one per CLIENTS_PER_KEY pollers or screens
    device_keys: list[str]  # WRITE keys, one per timing device
    evil: str  # READ_WRITE of the attackers' own account
    evil_token: str
    tokens: list[str]  # one timing session per device
    parking: list[str]  # parking session GET paths (key included)
    big_token: str  # a session with a page of 5,000 passings (the herds' target)


class Soak:
    def __init__(self, cfg: Config, served: Served, pg_admin: str | None) -> None:
        self.cfg, self.served, self.pg_admin = cfg, served, pg_admin
        self.kinds = {name: Kind(name, legit) for name, legit in (
            ("poll", True), ("stream", True), ("device", True), ("coap", True),
            ("slowloris", False), ("herd", False), ("flood", False), ("bad-body", False), ("coap-flood", False))}
        self.audit = Audit()
        self.faults: Counter[str] = Counter()
        self.fault_windows: list[tuple[float, float]] = []
        self.end = 0.0
        self.down = asyncio.Event()  # set while the server is being restarted
        self.stream_events = 0

    def source(self, kind: int, n: int) -> str:
        return f"{LEGIT_NET if kind == 0 else ATTACK_NETS[(kind - 1) % len(ATTACK_NETS)]}{1 + n % 250}"

    def left(self) -> float:
        return self.end - time.monotonic()

    async def pause(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, min(seconds, self.left())))

    # legitimate clients ------------------------------------------------------------------------

    async def poller(self, n: int, world: World) -> None:
        kind, conn = self.kinds["poll"], Conn(self.served.http, self.source(0, n), self.cfg.timeout)
        if n % 2:
            target, headers = world.parking[n % len(world.parking)], {}
        else:
            target = f"/v0/sessions/{world.tokens[n % len(world.tokens)]}"
            headers = {"api_key": world.reads[n // CLIENTS_PER_KEY % len(world.reads)]}
        await self.pause(random.random())
        while self.left() > 0:
            t0 = time.perf_counter()
            try:
                status, _, _ = await conn.request("GET", target, headers)
                kind.record(status, time.perf_counter() - t0)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, HttpError) as exc:
                kind.fail(exc)
            await self.pause(1.0)
        conn.close()

    async def stream(self, n: int, world: World) -> None:
        kind = self.kinds["stream"]
        token = world.tokens[n % len(world.tokens)]
        last_id: str | None = None
        await self.pause(random.random() * 2)
        while self.left() > 0:
            conn = Conn(self.served.http, self.source(0, 100 + n), self.cfg.timeout)
            t0 = time.perf_counter()
            try:
                await conn.connect()
                assert conn.writer is not None and conn.reader is not None
                read = world.reads[(self.cfg.pollers + n) // CLIENTS_PER_KEY % len(world.reads)]
                head = (f"GET /v0/sessions/{token}/stream?api_key={read} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Accept: text/event-stream\r\n" + (f"Last-Event-ID: {last_id}\r\n" if last_id else ""))
                conn.writer.write(head.encode() + b"\r\n")
                status, _ = await asyncio.wait_for(read_head(conn.reader), self.cfg.timeout)
                if status != 200:
                    kind.record(status, time.perf_counter() - t0)
                    await self.pause(1.0)
                    continue
                first = True
                while self.left() > 0:
                    try:
                        chunk = await asyncio.wait_for(conn.reader.read(65536), min(30.0, max(0.1, self.left())))
                    except TimeoutError:
                        continue  # an idle stream: fine
                    if not chunk:
                        break  # the server went away: reconnect
                    if first and b"\n\n" in chunk:
                        kind.record(200, time.perf_counter() - t0)  # connected: the first event arrived
                        first = False
                    self.stream_events += chunk.count(b"\n\n")
                    idx = chunk.rfind(b"\nid: ") if not chunk.startswith(b"id: ") else 0
                    if idx >= 0:
                        line = chunk[idx:].lstrip(b"\n").split(b"\n", 1)[0]
                        last_id = line[4:].decode(errors="replace").strip() or last_id
                if first and self.left() > 0:
                    kind.fail(HttpError("stream ended before its first event"))
            except (TimeoutError, OSError, asyncio.IncompleteReadError, HttpError, AssertionError) as exc:
                if self.left() > 0:
                    kind.fail(exc)
            finally:
                conn.close()
            await self.pause(0.5 + random.random())  # EventSource's reconnect delay

    async def device(self, n: int, token: str, key: str) -> None:
        kind, conn = self.kinds["device"], Conn(self.served.http, self.source(0, 200 + n), self.cfg.timeout)
        sent, acked = self.audit.sent.setdefault(token, set()), self.audit.acked.setdefault(token, set())
        counter = 1
        batch: list[int] = []
        await self.pause(random.random())
        while self.left() > 0:
            if not batch:  # a new batch only once the last one was acknowledged
                batch = list(range(counter, counter + self.cfg.batch))
                counter += self.cfg.batch
                sent.update(batch)
            body = json.dumps({"token_session": token, "passings_list": [
                {"bib": str(i % 1000), "num_passing": i, "timestamp": TIMESTAMP} for i in batch]}).encode()
            t0 = time.perf_counter()
            try:
                status, _, _ = await conn.request("POST", "/v0/passings", {"api_key": key}, body)
                kind.record(status, time.perf_counter() - t0)
                if status == 201:
                    acked.update(batch)
                    batch = []
            except (TimeoutError, OSError, asyncio.IncompleteReadError, HttpError) as exc:
                kind.fail(exc)  # not acknowledged: the same batch goes again
            await self.pause(1.0)
        conn.close()

    async def coap_client(self, n: int) -> None:
        kind = self.kinds["coap"]
        loop = asyncio.get_running_loop()
        tail = coapload.request_tail("v1/sessions", "number=23")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((self.source(0, 300 + n), 0))
        sock.setblocking(False)
        sock.connect(("127.0.0.1", self.served.coap))
        mid = random.randrange(1 << 16)
        try:
            await self.pause(random.random())
            while self.left() > 0:
                mid = (mid + 1) & 0xFFFF
                token = random.randrange(1 << 32)
                msg = bytes((0x44, 1)) + struct.pack("!HI", mid, token) + tail
                t0 = time.perf_counter()
                code = None
                for attempt in range(3):  # CON with retransmission (shortened from RFC 7252's 2-3 s)
                    sock.send(msg)
                    with contextlib.suppress(asyncio.TimeoutError, ConnectionRefusedError):
                        code = await asyncio.wait_for(self._coap_answer(loop, sock, token), 1.0 * (attempt + 1))
                        break
                if code is None:
                    kind.fail(TimeoutError("no CoAP answer"))
                else:
                    kind.record(200 if code == 0x45 else 400 + (code & 31) if code >> 5 == 4 else 500,
                                time.perf_counter() - t0)
                await self.pause(1.0)
        finally:
            sock.close()

    async def _coap_answer(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, token: int) -> int:
        for _ in range(1000):  # bounded: stale answers of earlier requests are skipped
            data = await loop.sock_recv(sock, 65536)
            if is_probe(data):
                sock.send(bytes((0x70, 0)) + data[2:4])  # the server verifying us: RST
                continue
            if len(data) >= 8 and data[0] & 0x0F == 4 and struct.unpack("!I", data[4:8])[0] == token:
                if data[0] >> 4 & 3 == 0:
                    sock.send(bytes((0x60, 0)) + data[2:4])
                if data[1] != 0:
                    return data[1]
        raise TimeoutError("no answer among 1000 datagrams")

    # attackers ----------------------------------------------------------------------------------

    async def slowloris(self, n: int) -> None:
        kind = self.kinds["slowloris"]
        while self.left() > 0:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(
                    "127.0.0.1", self.served.http, local_addr=(self.source(1 + n % 8, n), 0)), self.cfg.timeout)
            except (TimeoutError, OSError) as exc:
                kind.fail(exc)
                await self.pause(1.0)
                continue
            kind.record(200, 0.0)  # a connection accepted
            try:
                writer.write(b"GET /v0/devices HTTP/1.1\r\nHost: x\r\n")
                while self.left() > 0 and not writer.is_closing():
                    writer.write(b"X")  # one byte every few seconds, never the blank line
                    await asyncio.wait_for(writer.drain(), self.cfg.timeout)
                    await self.pause(3.0 + random.random() * 2)
                    if writer.transport.get_extra_info("socket") is None:
                        break
            except (TimeoutError, OSError):
                pass
            finally:
                writer.close()
            await self.pause(1.0)

    async def herd(self, world: World) -> None:
        """Every ``herd_every`` s: ``herd`` long-polls of the big page at once, then one write to it."""
        kind = self.kinds["herd"]
        await self.pause(self.cfg.herd_every / 2)
        while self.left() > 5:
            target = f"/v0/passings/session/{world.big_token}?page=1"
            conn0 = Conn(self.served.http, self.source(2, 0), self.cfg.timeout)
            try:
                _, headers, _ = await conn0.request("GET", target, {"api_key": world.evil})
                etag = headers.get("etag", "")
            except (TimeoutError, OSError, asyncio.IncompleteReadError, HttpError) as exc:
                kind.fail(exc)
                await self.pause(self.cfg.herd_every)
                continue
            finally:
                conn0.close()

            async def one(i: int, target: str, etag: str) -> None:
                conn = Conn(self.served.http, self.source(2 + i % 4, i), self.cfg.timeout + 10)
                t0 = time.perf_counter()
                try:
                    status, _, _ = await conn.request("GET", f"{target}&wait={self.cfg.herd_wait}", {
                        "api_key": world.evil, "If-None-Match": etag})
                    kind.record(status, time.perf_counter() - t0)
                except (TimeoutError, OSError, asyncio.IncompleteReadError, HttpError) as exc:
                    kind.fail(exc)
                finally:
                    conn.close()

            polls = [asyncio.create_task(one(i, target, etag)) for i in range(self.cfg.herd)]
            await self.pause(1.0)
            writer = Conn(self.served.http, self.source(2, 1), self.cfg.timeout)
            with contextlib.suppress(OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, HttpError):
                await writer.request("POST", "/v0/passings", {"api_key": world.evil}, json.dumps({
                    "token_session": world.big_token, "passings_list": [
                        {"bib": "1", "num_passing": 100_000 + random.randrange(1 << 30), "timestamp": TIMESTAMP}]
                }).encode())
            writer.close()
            await asyncio.wait(polls, timeout=self.cfg.timeout + 20)
            await self.pause(self.cfg.herd_every)

    async def flood(self, n: int) -> None:
        kind, conn = self.kinds["flood"], Conn(self.served.http, self.source(3 + n % 4, n), self.cfg.timeout)
        bad = "shk_" + secrets.token_hex(16)
        while self.left() > 0:
            t0 = time.perf_counter()
            try:
                status, headers, _ = await conn.request("GET", "/v0/devices", {"api_key": bad})
                kind.record(status, time.perf_counter() - t0)
                if status == 429:
                    await self.pause(min(5.0, float(headers.get("retry-after", "1") or 1)) / 4)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, HttpError) as exc:
                kind.fail(exc)
                await self.pause(0.2)
        conn.close()

    async def bad_bodies(self, n: int, world: World) -> None:
        kind, conn = self.kinds["bad-body"], Conn(self.served.http, self.source(5 + n % 3, n), self.cfg.timeout)
        bodies: list[bytes] = [
            b"{", b'{"token_session": 7}', b"\xff\xfe", b"[]" * 10, b'{"passings_list": "x"}',
            json.dumps({"token_session": world.evil_token, "passings_list": [
                {"bib": "1", "num_passing": 1, "timestamp": "9999-12-31T23:59:59-23:59"}]}).encode(),
            json.dumps({"token_session": world.evil_token, "passings_list": [
                {"bib": "1", "num_passing": 2, "timestamp": "0001-01-01T00:00:00+23:59"}]}).encode(),
            b'{"token_session": "' + b"A" * 3_000_000 + b'"}',
        ]
        while self.left() > 0:
            body = random.choice(bodies)
            t0 = time.perf_counter()
            try:
                status, _, _ = await conn.request("POST", "/v0/passings", {"api_key": world.evil}, body)
                kind.record(status, time.perf_counter() - t0)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, HttpError) as exc:
                kind.fail(exc)
            await self.pause(0.05)
        conn.close()

    async def coap_flood(self, n: int) -> None:
        kind = self.kinds["coap-flood"]
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((self.source(6 + n % 3, n), 0))
        sock.setblocking(False)
        tail = coapload.request_tail("v1/sessions", "", b'{"number": 99, "label": "flood"}')
        mid = 0
        try:
            while self.left() > 0:
                for _ in range(50):
                    mid = (mid + 1) & 0xFFFF
                    with contextlib.suppress(BlockingIOError, ConnectionRefusedError):
                        sock.sendto(bytes((0x44, 3)) + struct.pack("!HI", mid, mid) + tail,
                                    ("127.0.0.1", self.served.coap))
                        kind.record(200, 0.0)  # a datagram sent
                for _ in range(100):  # drain what came back (bounded)
                    try:
                        sock.recv(65536)
                    except (BlockingIOError, ConnectionRefusedError):
                        break
                await self.pause(0.05)
        finally:
            sock.close()

    # faults ---------------------------------------------------------------------------------------

    async def killer(self) -> None:
        await self.pause(self.cfg.kill_every)
        while self.left() > 3:
            self.faults["SIGKILL+restart"] += 1
            began = time.monotonic()
            await asyncio.to_thread(self.served.kill)
            await asyncio.to_thread(self.served.start)
            self.fault_windows.append((began, time.monotonic()))
            await self.pause(self.cfg.kill_every)

    async def pg_terminator(self, app_name: str) -> None:
        if self.pg_admin is None:
            return
        import asyncpg

        await self.pause(self.cfg.pg_terminate_every)
        while self.left() > 3:
            began = time.monotonic()
            try:
                conn = await asyncpg.connect(self.pg_admin, timeout=10)
                try:
                    n = await conn.fetchval(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                        app_name)
                finally:
                    await conn.close()
                self.faults["pg_terminate_backend"] += 1
                self.faults["pg connections ended"] += int(n or 0)
                self.fault_windows.append((began, time.monotonic()))
            except (TimeoutError, OSError, asyncpg.PostgresError):
                self.faults["pg_terminate failed"] += 1
            await self.pause(self.cfg.pg_terminate_every)

    # setup and audit ------------------------------------------------------------------------------

    async def setup(self, db: str) -> World:
        from sessionhub.config import Settings
        from sessionhub.runtime import build

        rt = build(Settings(db=db))  # keys are made in-process: hundreds of CLI runs would take minutes
        await rt.start()
        try:
            make = rt.access.create_key
            key = await make("soak", "READ_WRITE", True)
            reads = [await make("soak", "READ") for _ in range(1 + (self.cfg.pollers + self.cfg.streams) //
                                                                  CLIENTS_PER_KEY)]
            device_keys = [await make("soak", "WRITE") for _ in range(self.cfg.devices)]
            evil = await make("evil", "READ_WRITE")
        finally:
            await rt.stop()
        read = reads[0]
        location = cli(db, "locations", "create", "--account", "soak", "--name", "Soak garage", "--rate", "350",
                       "--currency", "USD")
        conn = Conn(self.served.http, self.source(0, 250), 60)

        async def post(path: str, body: object, k: str = key, query: str = "") -> dict[str, object]:
            status, _, payload = await conn.request("POST", path + query, {"api_key": k}, json.dumps(body).encode())
            if status not in (200, 201):
                raise RuntimeError(f"setup: POST {path} answered {status}: {payload[:300]!r}")
            return json.loads(payload)  # type: ignore[no-any-return]

        tokens = []
        for n in range(self.cfg.devices):
            dev = await post("/v0/devices", {"model": "Soak", "serial_number": f"SOAK-{n}"})
            tok = await post("/v0/sessions", {"deviceid": dev["deviceid"], "alias": f"RACE-{n}"})
            tokens.append(str(tok["token_session"]))
        parking = []
        for n in range(3):
            q = "?" + urllib.parse.urlencode({"access_key": key})
            s = await post(f"/v1/access/parking/{location}/session", {"user_id": f"00000000-0000-4000-8000-{n:012d}"},
                           query=q)
            parking.append(f"/v1/access/parking/{location}/session/{s['id']}?access_key={read}")
        dev = await post("/v0/devices", {"model": "Evil", "serial_number": "EVIL-1"}, evil)
        evil_session = await post("/v0/sessions", {"deviceid": dev["deviceid"], "alias": "E"}, evil)
        evil_token = str(evil_session["token_session"])
        conn.close()
        # the herds' page of 5,000 passings is the attackers' own (their key reads it)
        evil_big = await self._evil_big_page(evil)
        await self._seed_coap()
        return World(key, reads, device_keys, evil, evil_token, tokens, parking, evil_big)

    async def _evil_big_page(self, evil: str) -> str:
        conn = Conn(self.served.http, self.source(2, 250), 60)
        try:
            _, _, payload = await conn.request("POST", "/v0/devices", {"api_key": evil}, json.dumps(
                {"model": "Evil", "serial_number": "EVIL-BIG"}).encode())
            dev = json.loads(payload)["deviceid"]
            _, _, payload = await conn.request("POST", "/v0/sessions", {"api_key": evil}, json.dumps(
                {"deviceid": dev, "alias": "BIG"}).encode())
            token = str(json.loads(payload)["token_session"])
            for first in range(1, 5001, 1000):
                status, _, _ = await conn.request("POST", "/v0/passings", {"api_key": evil}, json.dumps({
                    "token_session": token, "passings_list": [
                        {"bib": str(i), "num_passing": i, "timestamp": TIMESTAMP} for i in range(first, first + 1000)]
                }).encode())
                if status != 201:
                    raise RuntimeError(f"setup: the big page's passings answered {status}")
            return token
        finally:
            conn.close()

    async def _seed_coap(self) -> None:
        """Guest pager 23 on the station, through CoAP itself."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(5)
        try:
            msg = bytes((0x44, 2)) + struct.pack("!HI", 1, 1) + coapload.request_tail(
                "v1/sessions", "", b'{"number": 23, "label": "Soak"}')
            for _ in range(20):  # bounded: the first datagram back may be the server's probe of this endpoint
                sock.sendto(msg, ("127.0.0.1", self.served.coap))
                with contextlib.suppress(TimeoutError):
                    data = sock.recv(65536)
                    if is_probe(data):
                        sock.sendto(bytes((0x70, 0)) + data[2:4], ("127.0.0.1", self.served.coap))
                        data = sock.recv(65536)
                    if len(data) >= 2 and data[1] >> 5 == 2 or data[1] == 0x80 + 9:  # 2.xx, or 4.09: already seated
                        return
            raise RuntimeError("setup: could not seat a guest on pager 23 over CoAP")
        finally:
            sock.close()

    async def read_back(self, world: World) -> None:
        conn = Conn(self.served.http, self.source(0, 251), 60)
        try:
            for token in world.tokens:
                stored: list[int] = []
                for page in range(1, 10_000):  # bounded: 5,000 a page
                    status, _, payload = await conn.request(
                        "GET", f"/v0/passings/session/{token}?page={page}", {"api_key": world.key})
                    if status != 200:
                        raise RuntimeError(f"audit: reading {token} page {page} answered {status}")
                    chunk = json.loads(payload)["result"]
                    if not chunk:
                        break
                    stored += [int(p["num_passing"]) for p in chunk]
                self.audit.stored[token] = stored
        finally:
            conn.close()

    async def run(self, db: str, app_name: str) -> None:
        self.world = world = await self.setup(db)
        self.end = time.monotonic() + self.cfg.seconds
        c = self.cfg
        tasks: list[Awaitable[None]] = [
            *(self.poller(n, world) for n in range(c.pollers)),
            *(self.stream(n, world) for n in range(c.streams)),
            *(self.device(n, t, world.device_keys[n]) for n, t in enumerate(world.tokens)),
            *(self.coap_client(n) for n in range(c.coap_clients)),
            *(self.slowloris(n) for n in range(c.slowloris)),
            *(self.flood(n) for n in range(c.floods)),
            *(self.bad_bodies(n, world) for n in range(c.bad_bodies)),
            *(self.coap_flood(n) for n in range(c.coap_flood)),
            self.herd(world), self.killer(), self.pg_terminator(app_name),
        ]
        running = [asyncio.ensure_future(t) for t in tasks]
        done, pending = await asyncio.wait(running, timeout=c.seconds + 3 * c.timeout + 60)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for t in done:
            if t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
        await self.read_back(world)


def raise_fd_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run(cfg: Config, workdir: Path | None = None, pg_url: str | None = None) -> Result:
    """One soak run; ``pg_url``: a PostgreSQL URL for ``store='postgres'`` (a schema of its own)."""
    raise_fd_limit()
    tmp = workdir or Path(tempfile.mkdtemp(prefix="sessionhub-soak-"))
    app_name = f"soak_{secrets.token_hex(4)}"
    pg_admin = None
    if cfg.store == "postgres":
        if pg_url is None:
            raise ValueError("store='postgres' needs pg_url")
        parts = urllib.parse.urlsplit(pg_url)
        query = urllib.parse.parse_qsl(parts.query) + [("application_name", app_name)]
        db = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
        pg_admin = urllib.parse.urlunsplit(parts._replace(query=""))
    else:
        db = f"sqlite:///{tmp / 'soak.db'}"
    cli(db, "migrate")
    served = Served(db, _free(socket.SOCK_STREAM), _free(socket.SOCK_DGRAM), tmp / "server.log", "soak")
    soak = Soak(cfg, served, pg_admin)
    served.start()
    t0 = time.monotonic()
    try:
        asyncio.run(soak.run(db, app_name))
    finally:
        served.stop()
    return Result(cfg, soak.kinds, soak.audit, soak.faults, time.monotonic() - t0, soak.fault_windows)


def _free(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="the ~20 s version of make test")
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--streams", type=int)
    ap.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    a = ap.parse_args(argv)
    stores = ["sqlite", "postgres"] if a.store == "both" else [a.store]
    failed = False
    for store in stores:
        cfg = Config.short(store) if a.short else Config(store=store)
        cfg = dataclasses.replace(cfg, **{k: v for k, v in (("seconds", a.seconds), ("streams", a.streams))
                                          if v is not None})
        pg_url = None
        if store == "postgres":
            pg_url = _pg_schema()
            if pg_url is None:
                print("\n## soak: postgres skipped (no PostgreSQL at SESSIONHUB_TEST_PG)")
                continue
        try:
            result = run(cfg, pg_url=pg_url)
        finally:
            if pg_url is not None:
                _drop_schema(pg_url)
        print("\n" + result.table(), flush=True)
        if result.audit.lost or result.audit.duplicated or result.audit.invented or result.legit_5xx:
            print("FAILED: acknowledged data lost or duplicated, or a 5xx to a legitimate client")
            failed = True
    return 1 if failed else 0


def _pg_schema() -> str | None:
    """A fresh schema on the test PostgreSQL (tests/pg.py's conventions), or None without one."""
    try:
        import asyncpg
    except ImportError:
        return None
    base = os.environ.get("SESSIONHUB_TEST_PG") or "postgresql://postgres@127.0.0.1:5432/test"
    schema = f"soak_{secrets.token_hex(6)}"

    async def make() -> None:
        conn = await asyncpg.connect(base, timeout=5)
        try:
            await conn.execute(f'CREATE SCHEMA "{schema}"')
        finally:
            await conn.close()

    try:
        asyncio.run(make())
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return None
    parts = urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode([("search_path", schema)])))


def _drop_schema(url: str) -> None:
    import asyncpg

    parts = urllib.parse.urlsplit(url)
    schema = dict(urllib.parse.parse_qsl(parts.query))["search_path"]

    async def drop() -> None:
        conn = await asyncpg.connect(urllib.parse.urlunsplit(parts._replace(query="")), timeout=10)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    with contextlib.suppress(OSError, asyncpg.PostgresError, TimeoutError):
        asyncio.run(drop())


if __name__ == "__main__":
    raise SystemExit(main())
