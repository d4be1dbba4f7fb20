"""Sign-in (a key, or a one-time link), sign-out, and the console's change stream endpoint."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sessionhub.core.errors import Unauthorized
from sessionhub.web.auth import check_csrf, read_form
from sessionhub.web.events import ChangeStream, parse_since, parse_topics
from sessionhub.web.kit import PREFIX, Kit


def _next(target: str | None) -> str:
    """Where to go after signing in: a console path only (never an open redirect)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return PREFIX + "/"


async def signin_form(kit: Kit, request: Request) -> Response:
    who = await kit.gate.operator(request)
    if who is not None:
        return RedirectResponse(_next(request.query_params.get("next")), 303)
    return kit.html("signin.html", who=None, now_ms=kit.now_ms(), since=0, path=request.url.path,
                    next=_next(request.query_params.get("next")), message=None)


async def signin(kit: Kit, request: Request) -> Response:
    fields = await read_form(request)
    try:
        await kit.gate.sign_in(request, fields.get("key", ""))
    except Unauthorized as exc:
        return kit.html("signin.html", 401, who=None, now_ms=kit.now_ms(), since=0, path=request.url.path,
                        next=_next(fields.get("next")), message=exc.message)
    return RedirectResponse(_next(fields.get("next")), 303)


async def signin_link(kit: Kit, request: Request) -> Response:
    try:
        await kit.gate.sign_in_link(request, request.query_params.get("t", ""))
    except Unauthorized as exc:
        return kit.html("signin.html", 401, who=None, now_ms=kit.now_ms(), since=0, path=request.url.path,
                        next=PREFIX + "/", message=exc.message)
    return RedirectResponse(PREFIX + "/", 303)


async def signout(kit: Kit, request: Request) -> Response:
    who = await kit.gate.operator(request)
    if who is not None:
        check_csrf(who, (await read_form(request)).get("csrf"))
    kit.gate.sign_out(request)
    return RedirectResponse(PREFIX + "/signin", 303)


async def events(kit: Kit, request: Request) -> Response:
    who = await kit.gate.require(request)
    topics = parse_topics(request.query_params.getlist("t"))
    since = parse_since(request.headers.get("last-event-id") or request.query_params.get("since"))
    digest = request.session["kh"]

    async def key_live() -> bool:
        return await kit.access.authenticate_digest(digest) is not None

    return ChangeStream(kit.hub, who.key.account_id, topics, since, key_live)
