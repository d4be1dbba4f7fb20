"""Who is signed in to the console, and the checks every request makes.

Theory of operation. An operator signs in with a key. The console keeps a session cookie signed
with a server secret (Starlette's SessionMiddleware over itsdangerous): HttpOnly, SameSite=Lax,
Secure when the console is served over HTTPS. The cookie holds the key's stored hash, never the
raw key, and a random CSRF token; every request looks the key up again, so a revoked key is
signed out on its next click. Every form carries the CSRF token and every POST is refused
without it (compared in constant time).

What a signed-in key may do is exactly what its access type allows: the console asks the same
``core.access.authorize`` the APIs ask, and the service refuses what the key may not do.

A one-time sign-in link (``make run`` prints one) carries a token signed with the same secret:
the key's hash, a random nonce and its issue time; it is good for ``LINK_SECONDS`` and once (the
serving process remembers the nonces it accepted). The key itself is never in a URL.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request

from sessionhub.core import access
from sessionhub.core.access import Access, Key, Operation, authorize
from sessionhub.core.errors import Forbidden, InvalidInput, SessionhubError, Unauthorized
from sessionhub.service.access import AccessService

SECRET_NAME = "console_hs256"
LINK_SECONDS = 600
_LINK_SALT = "sessionhub-console-signin"
_MAX_USED = 10_000


@dataclass(frozen=True, slots=True)
class Operator:
    """The signed-in key as a page sees it."""

    key: Key
    csrf: str

    @property
    def can_read(self) -> bool:
        return self.key.access is not Access.WRITE

    @property
    def can_write(self) -> bool:
        return self.key.access is not Access.READ

    @property
    def can_delete(self) -> bool:
        return self.key.unbind and self.can_write

    @property
    def can_admin(self) -> bool:
        """Offered the admin pages (the service decides again on every call: ``Operation.ADMIN``)."""
        return self.key.admin and self.key.access is Access.READ_WRITE


def make_link_token(secret: str, raw_key: str) -> str:
    """A one-time sign-in token for ``raw_key`` (its hash and a nonce, signed and time-stamped)."""
    return str(URLSafeTimedSerializer(secret, salt=_LINK_SALT).dumps(
        {"kh": access.key_hash(raw_key), "n": secrets.token_urlsafe(12)}))


class Gate:
    """Sign-in, sign-out and the per-request checks, over one server secret."""

    def __init__(self, access_service: AccessService, secret: str) -> None:
        self.access = access_service
        self._links = URLSafeTimedSerializer(secret, salt=_LINK_SALT)
        self._used: dict[str, float] = {}

    async def operator(self, request: Request) -> Operator | None:
        """The signed-in operator, or None (no cookie, or its key is revoked: the cookie is cleared)."""
        digest = request.session.get("kh")
        csrf = request.session.get("csrf")
        if not isinstance(digest, str) or not isinstance(csrf, str):
            return None
        key = await self.access.authenticate_digest(digest)
        if key is None:
            request.session.clear()
            return None
        return Operator(key, csrf)

    async def require(self, request: Request, op: Operation = Operation.READ) -> Operator:
        """The signed-in operator whose key may do ``op``. Raises Unauthorized or Forbidden."""
        who = await self.operator(request)
        if who is None:
            raise Unauthorized("sign in with a key first")
        authorize(who.key, op)
        return who

    def _start(self, request: Request, digest: str) -> None:
        request.session.clear()
        request.session.update({"kh": digest, "csrf": secrets.token_urlsafe(24)})

    async def sign_in(self, request: Request, raw_key: str) -> Operator:
        """Sign in with a raw key. Raises Unauthorized for a key nobody issued (or revoked)."""
        key = await self.access.authenticate(raw_key.strip())
        if key is None:
            raise Unauthorized("that key is not valid (unknown or revoked)")
        self._start(request, access.key_hash(raw_key.strip()))
        return Operator(key, request.session["csrf"])

    async def sign_in_link(self, request: Request, token: str) -> Operator:
        """Sign in with a one-time link token. Raises Unauthorized when it is bad, old or used."""
        try:
            claims = self._links.loads(token, max_age=LINK_SECONDS)
        except BadSignature:
            raise Unauthorized("this sign-in link is not valid or has expired; sign in with the key") from None
        nonce, digest = claims.get("n"), claims.get("kh")
        if not isinstance(nonce, str) or not isinstance(digest, str) or nonce in self._used:
            raise Unauthorized("this sign-in link was used already; sign in with the key")
        key = await self.access.authenticate_digest(digest)
        if key is None:
            raise Unauthorized("the key of this sign-in link is revoked")
        now = time.monotonic()
        if len(self._used) >= _MAX_USED:  # forget the expired ones (a used nonce expires with its link)
            self._used = {n: t for n, t in self._used.items() if now - t < LINK_SECONDS}
            if len(self._used) >= _MAX_USED:
                raise SessionhubError("too many sign-in links at once")
        self._used[nonce] = now
        self._start(request, digest)
        return Operator(key, request.session["csrf"])

    @staticmethod
    def sign_out(request: Request) -> None:
        request.session.clear()

    async def form(self, request: Request, op: Operation = Operation.WRITE) -> tuple[Operator, dict[str, str]]:
        """A POSTed form of the signed-in operator, its CSRF token checked, then ``op`` authorized.

        Raises:
            Unauthorized: nobody is signed in.
            Forbidden: a missing or wrong CSRF token, or a key that may not do ``op``.
        """
        who = await self.operator(request)
        if who is None:
            raise Unauthorized("sign in with a key first")
        fields = await read_form(request)
        check_csrf(who, fields.get("csrf"))
        authorize(who.key, op)
        return who, fields


def check_csrf(who: Operator, sent: str | None) -> None:
    if not sent or not hmac.compare_digest(sent.encode(), who.csrf.encode()):
        raise Forbidden("this form is missing its CSRF token (reload the page and try again)")


MAX_FORM_FIELDS = 32
MAX_FIELD = 1000
MAX_FORM_BYTES = 16_384


async def read_form(request: Request) -> dict[str, str]:
    """A small url-encoded or multipart form as str -> str. Raises InvalidInput when it is not one."""
    size = request.headers.get("content-length", "")
    if not (size.isascii() and size.isdigit()) or int(size) > MAX_FORM_BYTES:
        raise InvalidInput(f"a form must give its Content-Length and stay under {MAX_FORM_BYTES} bytes")
    try:
        async with request.form(max_files=0, max_fields=MAX_FORM_FIELDS) as form:
            out: dict[str, str] = {}
            for name, value in form.multi_items():
                if not isinstance(value, str) or len(value) > MAX_FIELD:
                    raise InvalidInput(f"field {name} is not a short text", name)
                out[name] = value
            return out
    except InvalidInput:
        raise
    except Exception as exc:  # python-multipart / Starlette parse errors: a bad form, never a 500
        raise InvalidInput(f"not a form: {exc.__class__.__name__}") from None
