"""The network backend every webhook connection goes through: resolve, check, then connect.

A receiver URL names a host; what matters is the address a connection reaches. This backend
resolves the name itself, refuses the connection if *any* address it resolves to is not allowed
(core.webhooks.address_allowed: public addresses, plus the networks the operator allowed), and then
connects to the checked address, never to the name again: DNS rebinding (a name that answers a
public address to the check and 127.0.0.1 to the connection) gets nothing. TLS still verifies the
certificate against the URL's host name (httpcore sends it as SNI and checks it).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable

import httpcore

from sessionhub.core.webhooks import Networks, address_allowed


class Refused(httpcore.ConnectError):
    """The receiver's address is not one webhooks may reach. Wire-level and internal to this adapter
    (like coap/wire.py's MalformedMessage): it travels through httpcore as a failed connect and is
    turned into a logged ``refused`` attempt by delivery.py; it never reaches a caller."""


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, allowed: Networks, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._allowed = allowed
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        refused = [a for a in addresses if not address_allowed(a, self._allowed)]
        if refused or not addresses:
            raise Refused(f"{host} resolves to {refused[0] if refused else 'nothing'}, which is not a public "
                          "address (--webhook-allow-networks allows a network)")
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise Refused("webhooks connect over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
