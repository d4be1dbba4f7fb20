"""Settings: every knob of the server, declared once, read from flags and the environment by the CLI.

How to add a setting (one place, this file)::

    class Settings:
        ...
        stream_cap: int = 1000
        '''Streams one key may hold open at once (0: no cap).'''

That is all: ``sessionhub serve --help`` then lists ``--stream-cap N`` with that docstring as its help,
and ``SESSIONHUB_STREAM_CAP`` sets it from the environment (the flag wins over the variable, the
variable over the default). The flag and the variable are derived from the field's name; its type picks
the parsing: ``str``, ``int``, ``float``, ``bool`` (``--x/--no-x``; env ``1/true/yes/on`` or
``0/false/no/off``), ``X | None`` (None is the default only), ``tuple[str, ...]`` (a repeatable flag;
env comma-separated) and ``Literal["a", "b"]`` (choices). Every field needs a docstring (a test checks).
For the rare field that is not a plain flag, ``field(metadata=...)`` with the keys of ``Option``:
``cli=False`` (internal: neither flag nor variable), ``secret=True`` (environment only: a command line
is visible in ``ps``), ``default_help`` (what ``--help`` shows as the default) and ``metavar``.
Validate a value where it is used, or in ``Settings.check`` when a wrong one must stop ``serve``
before it binds.

Nothing here reads the environment at import time: ``Settings.from_env`` (and ``default_db``) do, when
called.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import ipaddress
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from sessionhub.core.errors import InvalidInput
from sessionhub.core.paging import DEFAULT_STATION, check_station
from sessionhub.core.webhooks import networks

DEFAULT_HTTP = "127.0.0.1:8080"
DEFAULT_COAP = "127.0.0.1:5683"
DEMO_ACCOUNT = "demo"
ENV_PREFIX = "SESSIONHUB_"


def default_db_path(env: Mapping[str, str] | None = None) -> Path:
    """Where the embedded database lives unless told: ``$XDG_DATA_HOME/sessionhub/sessionhub.db``,
    else ``~/.local/share/sessionhub/sessionhub.db`` (never relative to the working directory, so
    every command run from anywhere finds the same database)."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "share")
    return Path(base) / "sessionhub" / "sessionhub.db"


def default_db(env: Mapping[str, str] | None = None) -> str:
    """The default database URL (see ``default_db_path``)."""
    return f"sqlite:///{default_db_path(env)}"


class Option(typing.TypedDict, total=False):
    """Keys of a Settings field's ``metadata`` (all optional)."""

    cli: bool
    secret: bool
    default_help: str
    metavar: str


def _option(**kw: Any) -> dict[str, Any]:
    return dict(Option(**kw))  # type: ignore[typeddict-item]


@dataclass(frozen=True, slots=True)
class Settings:
    db: str = field(default_factory=default_db, metadata=_option(metavar="URL"))
    """Database URL: ``sqlite:///PATH`` (four slashes before an absolute path) or
    ``postgresql://USER@HOST:PORT/DB``; the default is under ``$XDG_DATA_HOME`` (else ``~/.local/share``)."""
    http: str = field(default=DEFAULT_HTTP, metadata=_option(metavar="HOST:PORT"))
    """HOST:PORT the HTTP dialects listen on."""
    coap: tuple[str, ...] = field(default=(), metadata=_option(
        metavar="HOST:PORT[=ACCOUNT[/STATION]]|off", default_help=f"{DEFAULT_COAP}, skipped with a warning if taken"))
    """Where the CoAP paging dialect listens, or ``off``; repeatable: each address serves one station,
    ``STATION`` (a-z, 0-9, -; default "default") of ``ACCOUNT`` (default: --station-account), with its own
    numbering, history, statistics and settings; a station is served on one address only.
    A non-loopback address must be given explicitly."""
    station_account: str = field(default=DEMO_ACCOUNT, metadata=_option(metavar="NAME"))
    """The account whose paging station a --coap address without =ACCOUNT serves."""
    coap_allow: tuple[str, ...] = field(default=(), metadata=_option(metavar="CIDR", default_help="loopback only"))
    """Client network allowed to talk CoAP (others are dropped silently)."""
    coap_optional: bool = field(default=False, metadata=_option(cli=False))
    """When ``coap`` cannot be bound, log and serve without CoAP (for the implicit default address)."""
    coap_rate_per_host: float = 100.0
    """CoAP requests per second one client host may make, sustained (0: no limit); over it, one 4.29 with
    Max-Age, then its requests are dropped until it may send again."""
    coap_burst_per_host: float = 200.0
    """CoAP requests one client host may make at once above its rate."""
    coap_max_observers_per_host: int = 16
    """Observers of /v1/notify one client host may hold (of 4,096 in all)."""
    workers: int = field(default=1, metadata=_option(metavar="N"))
    """Server processes sharing the HTTP address (SO_REUSEPORT; PostgreSQL only: each process follows
    the shared change feed). CoAP, when on, is served by the first one."""
    log_format: Literal["plain", "json"] = "plain"
    """Log lines on stderr: plain for people, or json (one object a line: ts, level, logger, msg, exc)."""
    access_log: Literal["off", "plain", "json"] = "off"
    """One log line per HTTP request (client, method, path, query, status, bytes, ms); never a header, and the
    values of key- and token-bearing query parameters are written as ***."""
    tls_cert: str | None = field(default=None, metadata=_option(metavar="PEM"))
    """Certificate file (PEM, chain included): serve HTTPS on --http (needs --tls-key)."""
    tls_key: str | None = field(default=None, metadata=_option(metavar="PEM"))
    """Private key file (PEM) of --tls-cert."""
    forwarded_allow_ips: tuple[str, ...] = field(default=(), metadata=_option(
        metavar="ADDR", default_help="none: no proxy is believed"))
    """Proxy address or network (or *) whose X-Forwarded-For and X-Forwarded-Proto give the client's address
    and scheme (what rate limits and logs see)."""
    jwt_secret_file: str | None = field(default=None, metadata=_option(
        metavar="PATH", default_help="DATABASE.jwt-secret beside an SQLite database"))
    """File holding the HS256 secret of parking user JWTs (created 0600 with a random one when missing); the
    database never holds it then, so a reader of the database alone cannot mint tokens."""
    demo: bool = False
    """Once the server is listening, seed the demo account and print a fresh key with lines that work against
    it (what ``make run`` does; the previous demo key is revoked only then)."""
    jwt_secret: str | None = field(default=None, metadata=_option(
        secret=True, default_help="the secret file's (--jwt-secret-file)"))
    """HS256 secret for parking user JWTs."""
    replay_retention: int = field(default=100_000, metadata=_option(metavar="CHANGES"))
    """Changes a stream can resume across (Last-Event-ID): a cursor older than the log's last
    this-many changes gets a reset event with the full document instead of a replay."""
    stream_max_behind: int = field(default=64, metadata=_option(metavar="CHANGES"))
    """Changes a stream's subscriber may fall behind (a client not reading) before it is coalesced:
    its pending changes are dropped and its next event is a reset with the latest state."""
    metrics: bool = True
    """Count requests and serve Prometheus ``/metrics`` (docs/operations.md)."""
    cors_origin: tuple[str, ...] = field(default=(), metadata=_option(metavar="ORIGIN", default_help="none"))
    """Let browser pages of ORIGIN (``scheme://host[:port]``, or ``*`` for any) call the HTTP dialects
    (CORS; without one, no CORS header is sent)."""

    # limits (docs/limits.md) ------------------------------------------------------------------------
    header_timeout: float = 10.0
    """Seconds a request's headers may take (from the connection's start or the request's first byte); then 408."""
    body_timeout: float = 60.0
    """Seconds a request's body may take to arrive after its headers; then the connection is closed."""
    keepalive_timeout: float = 5.0
    """Seconds an idle keep-alive connection stays open after a response."""
    max_connections: int = 0
    """Open HTTP connections in all (0: the descriptor limit minus fd_reserve); over it: 503 and close."""
    fd_reserve: int = 512
    """File descriptors kept free of connections (database, logs, refusals), so the server always answers."""
    listen_backlog: int = 4096
    """Connections the kernel queues before the server accepts them (capped by net.core.somaxconn), per queue."""
    listen_queues: int = 4
    """Accept queues per process (SO_REUSEPORT sockets on the one address, Linux): each holds
    listen_backlog, so a connect storm fills them later (1: one plain listening socket)."""
    max_connections_per_address: int = 2048
    """Open HTTP connections from one client address; over it: 429 and close."""
    max_streams_per_account: int = 10_000
    """Open SSE streams of one account (all its keys); over it: 429."""
    max_streams_per_address: int = 2048
    """Open SSE streams from one client address; over it: 429."""
    rate_per_key: float = 100.0
    """Requests per second one key may make, sustained (0: no limit); over it: 429 with Retry-After."""
    rate_key_burst: float = 200.0
    """Requests one key may make at once above its rate."""
    rate_per_address: float = 200.0
    """Requests per second from one client address (IPv6: its /64), sustained (0: no limit); over it: 429."""
    rate_address_burst: float = 400.0
    """Requests one client address may make at once above its rate."""
    rate_auth_failures: float = 5.0
    """401 answers per second one client address may draw, sustained; beyond, its requests get 429."""
    rate_auth_failures_burst: float = 100.0
    """401 answers one client address may draw at once."""
    # webhooks (docs/webhooks.md) ----------------------------------------------------------------------
    webhook_delivery: bool = True
    """Deliver webhooks from this process (several may: a lease gives each subscription to one at a time;
    ``--workers N`` delivers from the first worker only)."""
    webhook_allow_networks: tuple[str, ...] = field(default=(), metadata=_option(
        metavar="CIDR", default_help="none: public addresses only"))
    """Network webhooks may post to besides public addresses (e.g. 127.0.0.0/8 or 10.0.0.0/8): loopback,
    private and link-local receivers are refused unless allowed here (docs/webhooks.md, SSRF)."""
    webhook_timeout: float = field(default=10.0, metadata=_option(metavar="SECONDS"))
    """Deadline of one webhook attempt: connect (at most 5 s of it), send, and the receiver's answer."""
    webhook_concurrency: int = field(default=16, metadata=_option(metavar="N"))
    """Webhook requests in flight at once, over all subscriptions (each has at most one)."""
    webhook_retry_base: float = field(default=1.0, metadata=_option(metavar="SECONDS"))
    """Wait before the first retry of a failed webhook; each later retry waits twice as long (jittered)."""
    webhook_retry_cap: float = field(default=600.0, metadata=_option(metavar="SECONDS"))
    """Longest wait between two attempts of a webhook."""
    webhook_max_failures: int = field(default=30, metadata=_option(metavar="N"))
    """Consecutive failed attempts after which a webhook subscription is disabled."""
    webhook_poll: float = field(default=5.0, metadata=_option(metavar="SECONDS"))
    """How often a delivery loop looks for changes without being woken, and for a lease another process
    left (it is woken at once by the change feed)."""
    webhook_log_keep: int = field(default=1000, metadata=_option(metavar="ROWS"))
    """Delivery log rows kept per webhook subscription (older attempts are pruned)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``env`` (default ``os.environ``: ``SESSIONHUB_<FIELD>``, empty means unset),
        then the explicit non-None ``overrides``. Raises ValueError naming the variable of a bad value."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for spec in specs():
            text = env.get(spec.env)
            if spec.cli and text:
                values[spec.name] = spec.parse_env(text)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def check(self) -> None:
        """Refuse values ``serve`` must not start with; ValueError names the flag."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and not 0 <= value < float("inf"):
                raise ValueError(f"--{f.name.replace('_', '-')} must be a non-negative number, got {value}")
        host_port(self.http, "http")
        stations = [coap_station(text, self.station_account) for text in self.coap]
        if len({(s.host, s.port) for s in stations if s.port}) < len([s for s in stations if s.port]):
            raise ValueError("--coap: an address is given twice")
        served: dict[tuple[str, str], str] = {}
        for text, s in zip(self.coap, stations, strict=True):
            # one station, one address: a second address on the same station is almost always a site
            # whose /STATION was forgotten (its guests would land on another site's list); a dual-stack
            # [::]:PORT socket serves IPv4 and IPv6 clients of one station
            first = served.get((s.account, s.station))
            if first is not None:
                raise ValueError(f"--coap {text!r}: station {s.station!r} of account {s.account!r} is already "
                                 f"served on {first!r} (one address per station; [::]:PORT serves IPv4 and IPv6)")
            served[(s.account, s.station)] = text
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("--tls-cert and --tls-key go together")
        for name, path in (("tls-cert", self.tls_cert), ("tls-key", self.tls_key)):
            if path is not None and not os.path.isfile(path):
                raise ValueError(f"--{name}: no such file {path!r}")
        for item in self.forwarded_allow_ips:
            if item != "*":
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ValueError(f"--forwarded-allow-ips takes addresses, networks or *, got {item!r}") from None
        for cidr in self.coap_allow:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"--coap-allow must be a CIDR like 10.0.1.0/24, got {cidr!r}") from None
        if self.workers > 1 and not self.db.startswith(("postgresql:", "postgres:")):
            raise ValueError("--workers above 1 needs a PostgreSQL --db (processes share its change feed)")
        for name in ("replay_retention", "stream_max_behind", "workers", "listen_queues"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for origin in self.cors_origin:
            check_origin(origin)
        networks(self.webhook_allow_networks)
        for name in ("webhook_timeout", "webhook_retry_base", "webhook_retry_cap", "webhook_poll"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        for name in ("webhook_concurrency", "webhook_max_failures", "webhook_log_keep"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")


def check_origin(origin: str) -> str:
    """``origin`` if it is ``*`` or ``scheme://host[:port]`` (no path), else ValueError naming the flag."""
    if origin == "*":
        return origin
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username:
        raise ValueError(f"--cors-origin must be * or an origin like https://screens.example:8443, got {origin!r}")
    return origin.rstrip("/")


@dataclass(frozen=True, slots=True)
class CoapStation:
    """One ``--coap`` address and the station it serves."""

    host: str
    port: int
    account: str
    station: str = DEFAULT_STATION


def coap_station(text: str, default_account: str) -> CoapStation:
    """``HOST:PORT[=ACCOUNT[/STATION]]`` -> the address and its station (``ACCOUNT`` defaults to
    ``default_account``, ``STATION`` to core.paging.DEFAULT_STATION). Raises ValueError naming ``--coap``."""
    address, sep, target = text.partition("=")
    host, port = host_port(address, "coap")
    account, slash, station = target.partition("/")
    account = account.strip()
    if sep and not account:
        raise ValueError(f"--coap {text!r}: the account after '=' is empty")
    if slash:
        try:
            check_station(station)
        except InvalidInput as exc:
            raise ValueError(f"--coap {text!r}: {exc}") from None
    return CoapStation(host, port, account if sep else default_account, station if slash else DEFAULT_STATION)


def host_port(text: str, name: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (IPv6 hosts in brackets). Raises ValueError naming the setting."""
    host, sep, port = text.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or not 0 <= int(port) <= 65535:
        raise ValueError(f"--{name} must be HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


# --- the derivation: a field's flag, variable, parser and help ----------------------------------

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


@dataclass(frozen=True, slots=True)
class Spec:
    """One setting as the CLI sees it, derived from a Settings field."""

    name: str
    kind: type  # str, int, float, bool or tuple (of str)
    optional: bool
    choices: tuple[str, ...] | None
    default: object
    doc: str
    cli: bool
    secret: bool
    default_help: str | None
    metavar: str | None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    def parse(self, text: str) -> object:
        """One value from its text (a flag's argument, one item of a tuple); ValueError if malformed."""
        if self.kind is bool:
            low = text.strip().lower()
            if low not in _TRUE | _FALSE:
                raise ValueError(f"expected one of {sorted(_TRUE | _FALSE)}, got {text!r}")
            return low in _TRUE
        if self.kind in (int, float):
            return self.kind(text.strip())
        if self.choices is not None and text not in self.choices:
            raise ValueError(f"expected one of {list(self.choices)}, got {text!r}")
        return text

    def parse_env(self, text: str) -> object:
        try:
            if self.kind is tuple:
                return tuple(item.strip() for item in text.split(",") if item.strip())
            return self.parse(text)
        except ValueError as exc:
            raise ValueError(f"{self.env}: {exc}") from None

    def help(self, *, env: bool = True) -> str:
        shown = self.default_help
        if shown is None and self.default not in (None, (), ""):
            shown = str(self.default).lower() if self.kind is bool else str(self.default)
        parts = [self.doc.rstrip(".")]
        if self.kind is tuple:
            parts.append("repeatable")
        if env:
            parts.append(f"env {self.env}" + (", comma-separated" if self.kind is tuple else ""))
        if shown:
            parts.append(f"default: {shown}")
        return "; ".join(parts).replace("%", "%%")


def specs() -> tuple[Spec, ...]:
    """Every Settings field as a Spec, in declaration order (defaults computed now: ``db``'s reads $HOME)."""
    hints, docs = _hints_and_docs()
    out = []
    for f in dataclasses.fields(Settings):
        kind, optional, choices = _kind(hints[f.name])
        meta: Option = f.metadata  # type: ignore[assignment]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        out.append(Spec(
            name=f.name, kind=kind, optional=optional, choices=choices, default=default,
            doc=docs.get(f.name, ""), cli=meta.get("cli", True), secret=meta.get("secret", False),
            default_help=meta.get("default_help"), metavar=meta.get("metavar"),
        ))
    return tuple(out)


@functools.cache
def _hints_and_docs() -> tuple[dict[str, Any], dict[str, str]]:
    return typing.get_type_hints(Settings), _field_docs(Settings)


def _kind(hint: Any) -> tuple[type, bool, tuple[str, ...] | None]:
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        kind, _, choices = _kind(inner)
        return kind, True, choices
    if origin is Literal:
        return str, False, tuple(str(a) for a in args)
    if origin is tuple:
        return tuple, False, None
    if hint in (str, int, float, bool):
        return hint, False, None
    raise TypeError(f"Settings field type {hint!r} has no flag parser: see config.py's docstring")


def _field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of ``cls`` (attribute docstrings, as Sphinx reads them)."""
    try:
        tree = ast.parse(inspect.getsource(cls))
    except (OSError, TypeError):  # no source (a frozen build): flags without help text
        return {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for prev, node in zip(body, body[1:], strict=False):
        if (isinstance(prev, ast.AnnAssign) and isinstance(prev.target, ast.Name) and isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            docs[prev.target.id] = " ".join(node.value.value.replace("``", "").split())
    return docs
