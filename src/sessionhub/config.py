"""Settings: every knob of the server, declared once, read from flags and the environment by the CLI.

Nothing here reads the environment at import time: ``Settings.from_env`` does, when called.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_DB = "sqlite:///./var/sessionhub.db"
DEFAULT_HTTP = "127.0.0.1:8080"
DEFAULT_COAP = "127.0.0.1:5683"
DEMO_ACCOUNT = "demo"


@dataclass(frozen=True, slots=True)
class Settings:
    db: str = DEFAULT_DB
    """Database URL (env ``SESSIONHUB_DB``): ``sqlite:///PATH`` or ``postgresql://USER@HOST:PORT/DB``."""
    http: str = DEFAULT_HTTP
    """HOST:PORT the HTTP dialects listen on."""
    coap: str | None = None
    """HOST:PORT of the CoAP paging dialect; None serves no CoAP."""
    station_account: str = DEMO_ACCOUNT
    """The account whose paging station the CoAP endpoint serves."""
    coap_allow: tuple[str, ...] = field(default_factory=tuple)
    """CIDRs allowed to talk CoAP; empty means loopback only."""
    coap_optional: bool = False
    """When ``coap`` cannot be bound, log and serve without CoAP (for the implicit default address)."""
    jwt_secret: str | None = None
    """HS256 secret for parking user JWTs (env ``SESSIONHUB_JWT_SECRET``); None: one kept in the database."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``env`` (default ``os.environ``), then explicit non-None ``overrides``."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        if env.get("SESSIONHUB_DB"):
            values["db"] = env["SESSIONHUB_DB"]
        if env.get("SESSIONHUB_JWT_SECRET"):
            values["jwt_secret"] = env["SESSIONHUB_JWT_SECRET"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def host_port(text: str, name: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (IPv6 hosts in brackets). Raises ValueError naming the setting."""
    host, sep, port = text.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or not 0 <= int(port) <= 65535:
        raise ValueError(f"--{name} must be HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)
