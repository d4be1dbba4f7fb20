"""Process logging and the HTTP access log.

``configure(log_format)`` sets up the root logger once per process: ``plain`` lines for people, or
``json`` (one object a line: ``ts``, ``level``, ``logger``, ``msg``, plus ``exc`` and any ``extra``
fields) for machines. uvicorn's loggers propagate to it (serve passes uvicorn no log config).

``AccessLog`` is a pure ASGI wrapper that writes one line per HTTP request to stderr, in the same
format as the logger ``sessionhub.access`` would (see its docstring for why it bypasses ``logging``):
client address (as the server resolved it, proxies included), method,
path, query, status, response bytes, duration. It never writes a header, and every query parameter
that can carry a secret (``api_key``, ``access_key``, ``key``, ``token``, ...) is written as ``***``:
keys and tokens must not end up in log files. It is not installed at all with ``--access-log off``
(the default), so it costs nothing then.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TextIO
from urllib.parse import parse_qsl, quote

import msgspec

ACCESS = logging.getLogger("sessionhub.access")

# query parameters whose value is never logged (lower-cased; any name containing one of the words too)
SECRET_WORDS = ("key", "token", "secret", "password", "passwd", "auth", "signature", "jwt", "session_id")
MASK = "***"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_json_encode = msgspec.json.Encoder().encode
_STD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record; ``extra={...}`` fields become keys of their own."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname, "logger": record.name, "msg": record.getMessage(),
        }
        for k, v in vars(record).items():
            if k not in _STD_ATTRS and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def configure(log_format: str, level: int = logging.INFO) -> None:
    """The root logger writes ``plain`` or ``json`` lines to stderr (replacing earlier handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def is_secret(name: str) -> bool:
    low = name.lower()
    return any(word in low for word in SECRET_WORDS)


def masked_query(raw: bytes) -> str:
    """The query string with every secret-bearing parameter's value replaced by ``***``. What cannot be
    parsed as a query is not written at all (it could hold a key in any shape)."""
    if not raw:
        return ""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return MASK
    pairs = parse_qsl(text, keep_blank_values=True)
    if not pairs and text:
        return MASK
    return "&".join(f"{quote(k, safe='')}={MASK if is_secret(k) else quote(v, safe='')}" for k, v in pairs)


class AccessLog:
    """One access line per HTTP request (``plain`` or ``json``; the fields in the module docstring).

    The lines bypass ``logging`` (a record costs tens of microseconds, a large part of a hot GET): each is
    formatted with an f-string or msgspec, buffered, and written in one ``write`` per batch (every 0.2 s, or
    at 256 lines, and at exit). The format matches ``configure``'s: the same prefix in plain, the same
    keys in json, logger ``sessionhub.access``.
    """

    FLUSH_SECONDS = 0.2
    FLUSH_LINES = 256

    def __init__(self, app: ASGIApp, mode: str, stream: TextIO | None = None) -> None:
        if mode not in ("plain", "json"):
            raise ValueError(f"--access-log must be off, plain or json, got {mode!r}")
        self.app, self.json = app, mode == "json"
        self._lane: Callable[[Scope], Any] | None = getattr(app, "answer_now", None)
        self._stream = stream
        self._lines: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._second, self._stamp = -1, ""
        atexit.register(self.flush)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status, sent = 0, 0

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            self._add(self.line(scope, status, sent, time.perf_counter() - start))

    def answer_now(self, scope: Scope) -> Any:
        """The protocol-level lane of the app within (http/guard.py; None: it has none, or no answer
        now), each answer logged like any other request."""
        lane = self._lane
        if lane is None:
            return None
        start = time.perf_counter()
        answer = lane(scope)  # (status, headers, body) or None
        if answer is not None:
            self._add(self.line(scope, answer[0], len(answer[2]), time.perf_counter() - start))
        return answer

    def line(self, scope: Scope, status: int, sent: int, seconds: float) -> str:
        """The access line of one request (without its newline)."""
        now = time.time()
        if int(now) != self._second:  # one strftime a second
            self._second = int(now)
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S" if self.json else "%Y-%m-%d %H:%M:%S", time.gmtime(now)
                                        if self.json else time.localtime(now))
        millis = int(now * 1000) % 1000
        client = scope.get("client")
        host = client[0] if client else "-"
        path = scope.get("path", "")
        if "shk_" in path:  # a path segment is never a key in these dialects, but a client may paste one there
            path = "/".join(MASK if seg.startswith("shk_") else seg for seg in path.split("/"))
        raw = scope.get("query_string", b"")
        query = masked_query(raw) if raw else ""
        method, version, ms = scope.get("method", ""), scope.get("http_version", ""), round(seconds * 1000, 3)
        if self.json:
            return _json_encode({
                "ts": f"{self._stamp}.{millis:03d}Z", "level": "INFO", "logger": ACCESS.name,
                "msg": f"{method} {path} {status}", "client": host, "method": method, "path": path, "query": query,
                "status": status, "bytes": sent, "ms": ms, "http": version}).decode()
        target = f"{path}?{query}" if query else path
        return (f'{self._stamp},{millis:03d} INFO {ACCESS.name}: {host} "{method} {target} HTTP/{version}" '
                f"{status} {sent} {ms:.1f}ms")

    def _add(self, line: str) -> None:
        self._lines.append(line)
        if len(self._lines) >= self.FLUSH_LINES:
            self.flush()
        elif self._timer is None:
            try:
                self._timer = asyncio.get_running_loop().call_later(self.FLUSH_SECONDS, self.flush)
            except RuntimeError:  # no loop: write at once
                self.flush()

    def flush(self) -> None:
        """Write the buffered lines (one write) and cancel the pending timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        text = "\n".join(self._lines) + "\n"
        self._lines.clear()
        stream = self._stream or sys.stderr
        with contextlib.suppress(OSError, ValueError):  # a closed stream at exit
            stream.write(text)
            stream.flush()
