"""``sessionhub streamrank URL``: poll a GET and stream its ``/stream`` twin over the same period, and
print the ``x-streamrank`` block (reference/coord-parking-access.md §2) measured on this server.

Method (the reference's §2.2, shortened): one thread polls ``URL`` every ``interval`` seconds with a
plain GET on a keep-alive connection (no ``If-None-Match``: the survey measured naive polling);
another holds ``URL`` + ``/stream?patch=1`` open for the same period: the full document first, then
one JSON Patch per change. Standard library only (``http.client``), so it runs wherever the server's
package is installed.

Decisions on the reference's unknowns (docs/live.md):

- ``polling_*_average``: per poll, like curl's ``time_total`` and ``size_download`` (body bytes).
- ``streaming_*_average``: the stream's body bytes, and the time spent receiving them (connect to
  first event, then each later event's transfer), divided by the number of polls of the same period.
  Averaging per streamed *message* instead (first snapshot included) caps the savings near 50 %
  whatever the data does, the artefact the reference notes; per polling period the figures compare
  what each method moves and spends over the same time.
- ``change_yes``/``change_no``: polls whose body differed from / equalled the previous poll's; the
  first poll has nothing to differ from and counts as ``change_no``. Their sum is the number of polls.
- ``time_percentage``, ``size_percentage``, ``change_percentage``: the reference's formulas (rounded).
- ``last_run``: the UTC date the run ended; ``days_run``: distinct UTC dates it touched;
  ``minute_run``: its length in whole minutes, rounded up (always 0 in the survey, meaning unknown).
"""

from __future__ import annotations

import contextlib
import http.client
import math
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

FIELDS = (
    "polling_total_time_average", "polling_size_download_average", "streaming_total_time_average",
    "streaming_size_download_average", "change_yes", "change_no", "time_percentage", "size_percentage",
    "change_percentage", "last_run", "days_run", "minute_run",
)


def stream_twin(url: str) -> str:
    """``url`` with ``/stream`` inserted before the query string and ``patch=1`` added to it."""
    parts = urlsplit(url)
    query = "&".join(p for p in (parts.query, "patch=1") if p)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "/stream", query, ""))


@dataclass
class Polls:
    times: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    changed: int = 0
    same: int = 0


@dataclass
class Streamed:
    bytes: int = 0
    seconds: float = 0.0
    messages: int = 0
    error: str | None = None


def block(polls: Polls, streamed: Streamed, started: datetime, ended: datetime) -> dict[str, object]:
    """The x-streamrank fields, in the survey's order, from one run's measurements."""
    n = max(len(polls.times), 1)
    poll_time, poll_size = sum(polls.times) / n, sum(polls.sizes) / n
    stream_time, stream_size = streamed.seconds / n, streamed.bytes / n
    days = (ended.date() - started.date()).days + 1
    return {
        "polling_total_time_average": round(poll_time, 6),
        "polling_size_download_average": round(poll_size, 1),
        "streaming_total_time_average": round(stream_time, 6),
        "streaming_size_download_average": round(stream_size, 1),
        "change_yes": polls.changed,
        "change_no": polls.same,
        "time_percentage": round(100 * (1 - stream_time / poll_time)) if poll_time else 0,
        "size_percentage": round(100 * (1 - stream_size / poll_size)) if poll_size else 0,
        "change_percentage": round(100 * polls.changed / (polls.changed + polls.same)) if polls.times else 0,
        "last_run": ended.date().isoformat(),
        "days_run": days,
        "minute_run": math.ceil((ended - started).total_seconds() / 60),
    }


def to_yaml(fields: dict[str, object]) -> str:
    """The block as the seed files spell it (flat scalars: no YAML library needed)."""
    lines = ["x-streamrank:"]
    for name in FIELDS:
        value = fields[name]
        if isinstance(value, str):
            lines.append(f'  {name}: "{value}"')
        elif isinstance(value, float):  # plain decimals: YAML 1.1 readers take "1e-06" for a string
            lines.append(f"  {name}: {value:.6f}".rstrip("0").rstrip(".") if value else f"  {name}: 0")
        else:
            lines.append(f"  {name}: {value}")
    return "\n".join(lines) + "\n"


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url}")
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname, parts.port, timeout=timeout)
    return conn, urlunsplit(("", "", parts.path or "/", parts.query, ""))


def _poll(url: str, headers: dict[str, str], interval: float, deadline: float, polls: Polls,
          tick: Callable[[], None]) -> None:
    conn, target = _connection(url, 30)
    previous: bytes | None = None
    next_at = time.monotonic()
    try:
        while next_at < deadline:
            began = time.perf_counter()
            conn.request("GET", target, headers=headers)
            response = conn.getresponse()
            body = response.read()
            polls.times.append(time.perf_counter() - began)
            if response.status != 200:
                raise RuntimeError(f"GET {url} answered {response.status}: {body[:200]!r}")
            polls.sizes.append(len(body))
            if previous is not None and body != previous:
                polls.changed += 1
            else:
                polls.same += 1
            previous = body
            tick()
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        conn.close()


def _stream(url: str, headers: dict[str, str], streamed: Streamed, opened: threading.Event,
            stop: threading.Event) -> http.client.HTTPConnection:
    conn, target = _connection(url, None)  # type: ignore[arg-type]
    began = time.perf_counter()
    conn.request("GET", target, headers={**headers, "accept": "text/event-stream"})
    response = conn.getresponse()
    if response.status != 200:
        streamed.error = f"GET {url} answered {response.status}: {response.read(200)!r}"
        opened.set()
        return conn
    opened.set()

    def read() -> None:
        event_began: float | None = began
        try:
            while not stop.is_set():
                line = response.readline()
                if not line:
                    return
                streamed.bytes += len(line)
                if event_began is None:
                    event_began = time.perf_counter()
                if line in (b"\n", b"\r\n"):
                    if had_data[0]:
                        streamed.messages += 1
                        streamed.seconds += time.perf_counter() - event_began
                    had_data[0] = False
                    event_began = None
                elif line.startswith(b"data:"):
                    had_data[0] = True
        except Exception:  # closed under it by stop(): http.client fails in several ways then
            return

    had_data = [False]
    threading.Thread(target=read, name="streamrank-stream", daemon=True).start()
    return conn


def run(url: str, seconds: float, interval: float, headers: Sequence[str] = (),
        progress: Callable[[int, int], None] | None = None) -> dict[str, object]:
    """Measure ``url`` for ``seconds`` (polling every ``interval``) and return the block's fields.

    Raises:
        RuntimeError: the GET or the stream did not answer 200.
    """
    extra = {}
    for h in headers:
        name, sep, value = h.partition(":")
        if not sep:
            raise ValueError(f"a header is NAME: VALUE, got {h!r}")
        extra[name.strip()] = value.strip()
    polls, streamed = Polls(), Streamed()
    opened, stop = threading.Event(), threading.Event()
    started = datetime.now(UTC)
    conn = _stream(stream_twin(url), extra, streamed, opened, stop)
    try:
        if streamed.error:
            raise RuntimeError(streamed.error)
        total = max(1, int(seconds / interval))
        done = [0]

        def tick() -> None:
            done[0] += 1
            if progress is not None:
                progress(done[0], total)

        _poll(url, extra, interval, time.monotonic() + seconds, polls, tick)
        time.sleep(min(interval, 0.2))  # the last change's patch may still be on its way
    finally:
        stop.set()
        if conn.sock is not None:
            with contextlib.suppress(OSError):  # wakes the reader blocked in recv
                conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
    return block(polls, streamed, started, datetime.now(UTC))
