"""Webhooks, sans-I/O: which changes a subscription gets, how a delivery is signed, when it is retried.

A webhook subscription is one more reader of the change feed (core/changes.py), with a durable
cursor: it never has a feed of its own. Its *kinds* name families of topics the feed already has:

    kind              topics                                what a change of it is
    parking.session   parking/session/<id>                  a parking session created, entered, exited or
                                                            ended (with its cost)
    timing.session    timing/session/<token>                a timing session opened or closed, or a batch
                                                            of passings stored
    paging.session    paging/<account>/<station>/session/<n> a guest session created, paged or cleared on
                                                            any paging station of the account

(The ``parking/location/`` and ``timing/device/`` changes made with the same writes carry the same
objects again, and a station's own changes (settings, pages) are not a guest session's: the kinds
follow the object's own topic, so that each write is delivered once.)

Signatures follow the Standard Webhooks specification (standardwebhooks.com): the secret is
``whsec_`` + base64 of 24 random bytes; each delivery carries ``webhook-id`` (the change's seq: the
receiver's idempotency key), ``webhook-timestamp`` (Unix seconds of the attempt) and
``webhook-signature: v1,<base64 HMAC-SHA256 over "id.timestamp.body" with the decoded secret>``.

Addresses. A receiver URL must be ``http://`` or ``https://`` with a host and no credentials; its
addresses (the literal, or every one its name resolves to at each connection) must be public
unless an operator allows their network (``Settings.webhook_allow_networks``): a server that posts
to URLs its tenants choose must not be a way into its own network (SSRF, docs/webhooks.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sessionhub.core.errors import InvalidInput

KINDS: dict[str, str] = {
    "parking.session": "parking/session/",
    "timing.session": "timing/session/",
    "paging.session": "paging/",
}
"""Kind name -> the topic prefix (core/changes.py) its changes are read under (for paging, with the
account's id after it; ``kind_of`` then keeps only guest sessions)."""
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
URL_MAX = 2048
MAX_SUBSCRIPTIONS_PER_ACCOUNT = 100
"""A tenant cannot make the server hold unbounded delivery loops."""


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    account_id: int
    url: str
    kinds: tuple[str, ...]
    secret: str = field(repr=False)  # never in a log line or a traceback's locals
    enabled: bool
    failures: int
    """Consecutive failed attempts (0 after any success)."""
    cursor: int
    """The seq of the last change delivered (or skipped as not of its kinds): delivery resumes after it."""
    created_ms: int
    disabled_reason: str | None = None

    @property
    def prefixes(self) -> tuple[str, ...]:
        """The topic prefixes its changes are read under (a superset: filter with ``matches``)."""
        return tuple(prefix(k, self.account_id) for k in self.kinds)

    def matches(self, account_id: int, topic: str) -> bool:
        return account_id == self.account_id and kind_of(topic) in self.kinds


def prefix(kind: str, account_id: int) -> str:
    """The topic prefix a kind's changes of an account are under."""
    return f"paging/{account_id}/" if kind == "paging.session" else KINDS[kind]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One delivery attempt as the log keeps it."""

    subscription_id: int
    seq: int
    topic: str
    attempt: int
    """1 for the first try of this seq, then 2, 3, ..."""
    status: int | None
    """The receiver's HTTP status (None: no response: refused, timed out, connection failed)."""
    error: str | None
    duration_ms: int
    at_ms: int
    next_retry_ms: int | None
    """When it is tried again (None: delivered, or the subscription was disabled)."""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def kind_of(topic: str) -> str | None:
    """The kind a change of ``topic`` is delivered as (None: no webhook carries it)."""
    if topic.startswith("parking/session/"):
        return "parking.session"
    if topic.startswith("timing/session/"):
        return "timing.session"
    if topic.startswith("paging/") and "/session/" in topic:
        return "paging.session"
    return None


def parse_kinds(text: str | Iterable[str]) -> tuple[str, ...]:
    """``"a,b"`` (or names) -> the distinct known kinds, in KINDS order. Raises InvalidInput."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    if not names:
        raise InvalidInput(f"name at least one kind of change: {', '.join(KINDS)}", "kinds")
    unknown = [n for n in names if n not in KINDS]
    if unknown:
        raise InvalidInput(f"unknown kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}", "kinds")
    return tuple(k for k in KINDS if k in names)


def networks(cidrs: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Parse the operator's allowed networks. Raises ValueError naming the setting."""
    out = []
    for cidr in cidrs:
        try:
            out.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            raise ValueError(f"--webhook-allow-networks must be CIDRs like 127.0.0.0/8, got {cidr!r}") from None
    return tuple(out)


Networks = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]


def address_allowed(address: str, allowed: Networks) -> bool:
    """Whether a receiver may be reached at IP ``address``: a public (global unicast) address, or
    one inside a network the operator allowed. Loopback, private, link-local (cloud metadata at
    169.254.169.254), multicast, reserved and unspecified addresses are refused by default."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(ip in net for net in allowed):
        return True
    return ip.is_global and not ip.is_multicast


def check_url(url: str, allowed: Networks) -> str:
    """``url`` if a subscription may post to it, else InvalidInput saying why. A literal address is
    checked here; a name is checked at each connection, against every address it resolves to."""
    url = url.strip()
    if len(url) > URL_MAX:
        raise InvalidInput(f"the URL is longer than {URL_MAX} characters", "url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"not a URL: {exc}", "url") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(f"a webhook URL must be http:// or https://, got {parts.scheme or 'no scheme'}", "url")
    if not parts.hostname:
        raise InvalidInput("the URL has no host", "url")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("the URL must not carry credentials (the signature authenticates the sender)", "url")
    if parts.fragment:
        raise InvalidInput("the URL must not have a #fragment", "url")
    if port == 0:
        raise InvalidInput("the URL's port must be 1-65535", "url")
    if not url.isascii() or any(c.isspace() or ord(c) < 0x21 for c in url):
        raise InvalidInput("the URL must be ASCII without spaces or control characters (punycode a name)", "url")
    try:
        literal = ipaddress.ip_address(parts.hostname.split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None and not address_allowed(str(literal), allowed):
        raise InvalidInput(f"{parts.hostname} is not a public address (an operator may allow its network with "
                           "--webhook-allow-networks)", "url")
    return url


# signing ---------------------------------------------------------------------------------------


def new_secret(random_hex: str) -> str:
    """A Standard Webhooks secret from ``2 * SECRET_BYTES`` random hex digits."""
    raw = bytes.fromhex(random_hex)
    if len(raw) != SECRET_BYTES:
        raise ValueError(f"a webhook secret needs {SECRET_BYTES} random bytes")
    return SECRET_PREFIX + base64.b64encode(raw).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret: its base64 part, decoded."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value: ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``."""
    signed = msg_id.encode("ascii") + b"." + str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secret: str, seq: int, timestamp: int, body: bytes) -> list[tuple[str, str]]:
    """Every header of one attempt (the seq is the id: the same change always has the same id)."""
    msg_id = str(seq)
    return [
        ("content-type", "application/json"),
        ("user-agent", "sessionhub-webhooks"),
        ("webhook-id", msg_id),
        ("webhook-timestamp", str(timestamp)),
        ("webhook-signature", sign(secret, msg_id, timestamp, body)),
    ]


# retries ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_s: float = 1.0
    """The first retry waits about this long; each later one twice the previous."""
    cap_s: float = 600.0
    """No wait is longer than this."""
    max_failures: int = 30
    """Consecutive failed attempts after which the subscription is disabled."""

    def delay(self, attempt: int, jitter: float) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based); ``jitter`` in [0, 1)
        takes up to half the wait off, so receivers that failed together do not retry together."""
        wait = min(self.cap_s, self.base_s * 2.0 ** min(attempt - 1, 62))
        return wait * (1.0 - 0.5 * jitter)

    def gives_up(self, failures: int) -> bool:
        return failures >= self.max_failures


# counters --------------------------------------------------------------------------------------

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Seconds, for the attempt duration histogram."""
OUTCOMES = ("delivered", "http_error", "timeout", "network_error", "refused")


class DeliveryStats:
    """What the delivery worker counts, read by /metrics at scrape time (plain numbers)."""

    def __init__(self) -> None:
        self.outcomes: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        """Attempts by outcome: delivered (2xx), http_error (any other status), timeout,
        network_error (refused connection, reset, protocol error), refused (address not allowed)."""
        self.retries = 0
        """Attempts that were retries of an earlier failed attempt."""
        self.disabled_total = 0
        """Subscriptions this process disabled after too many failures."""
        self.disabled = 0
        """Subscriptions disabled now (as of the worker's last reload)."""
        self.active = 0
        """Enabled subscriptions this process delivers."""
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0

    def attempt(self, outcome: str, seconds: float, retry: bool) -> None:
        self.outcomes[outcome] += 1
        self.retries += retry
        at = 0
        while at < len(LATENCY_BUCKETS) and seconds > LATENCY_BUCKETS[at]:
            at += 1
        self.buckets[at] += 1
        self.latency_sum += seconds
