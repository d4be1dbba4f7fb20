"""The console in-process (ASGI): sign-in and sign-out, the cookie, CSRF, access types, accounts,
every page on live data, and the error table walking the whole tree."""

from __future__ import annotations

import re

import pytest

from sessionhub.core.errors import error_classes
from sessionhub.core.paging import Fields
from sessionhub.core.parking import user_for
from sessionhub.core.timing import Passing
from sessionhub.runtime import Runtime
from sessionhub.web.auth import SECRET_NAME, make_link_token
from sessionhub.web.errors import CONSOLE_ERRORS
from tests.conftest import Keys
from tests.web.conftest import Browser, csrf_of, sign_in


def test_every_error_class_has_a_console_page() -> None:
    for cls in error_classes():
        assert cls in CONSOLE_ERRORS, cls.__name__


async def test_signed_out_pages_go_to_sign_in_and_root_goes_to_the_console(browsers: Browser) -> None:
    c = await browsers()
    r = await c.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/console/"
    for path in ("/console/", "/console/timing", "/console/parking", "/console/paging"):
        r = await c.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/signin?next=")
    assert (await c.get("/console/events?t=paging/")).status_code == 303


async def test_sign_in_sets_a_signed_httponly_cookie_without_the_key_and_sign_out_ends_it(
    browsers: Browser, keys: Keys
) -> None:
    c = await browsers()
    r = await c.post("/console/signin", data={"key": keys.rw, "next": "/console/parking"})
    assert r.status_code == 303 and r.headers["location"] == "/console/parking"
    cookie = r.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower() and "path=/console" in cookie.lower()
    assert keys.rw not in cookie and keys.rw[4:] not in cookie
    page = await c.get("/console/")
    assert page.status_code == 200 and "Overview" in page.text and keys.rw not in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    token = csrf_of(page.text)
    assert (await c.post("/console/signout", data={"csrf": token})).status_code == 303
    assert (await c.get("/console/")).status_code == 303


async def test_a_bad_or_revoked_key_is_refused(browsers: Browser, keys: Keys, runtime: Runtime) -> None:
    c = await browsers()
    r = await c.post("/console/signin", data={"key": "shk_" + "0" * 32})
    assert r.status_code == 401 and "not valid" in r.text
    assert (await c.get("/console/")).status_code == 303
    await sign_in(c, keys.read)
    await runtime.access.revoke_key(keys.read)
    assert (await c.get("/console/")).status_code == 303  # signed out on the next click


async def test_an_open_redirect_after_sign_in_is_not_followed(browsers: Browser, keys: Keys) -> None:
    c = await browsers()
    for target in ("https://evil.example/", "//evil.example/", "/console/\\evil"):
        r = await c.post("/console/signin", data={"key": keys.rw, "next": target})
        assert r.headers["location"] == "/console/"


async def test_a_form_without_its_csrf_token_is_refused(browsers: Browser, keys: Keys, runtime: Runtime) -> None:
    c = await browsers()
    token = await sign_in(c, keys.rw)
    form = {"number": "7", "label": "Ann", "party_size": "2", "goal_minutes": "5"}
    for bad in ({}, {"csrf": ""}, {"csrf": token[:-1] + ("A" if token[-1] != "A" else "B")}):
        r = await c.post("/console/paging/parties", data=form | bad)
        assert r.status_code == 403 and "CSRF" in r.text
    account = (await runtime.access.authenticate(keys.rw))
    assert account is not None
    assert (await runtime.paging.active_sessions(account.account_id)).sessions == []
    r = await c.post("/console/paging/parties", data=form | {"csrf": token})
    assert r.status_code == 303
    assert [s.label for s in (await runtime.paging.active_sessions(account.account_id)).sessions] == ["Ann"]
    # another browser's token is not this one's
    other = await browsers()
    other_token = await sign_in(other, keys.rw)
    assert other_token != token
    assert (await c.post("/console/paging/7/page", data={"csrf": other_token})).status_code == 403


async def test_a_read_key_sees_but_cannot_act(browsers: Browser, keys: Keys, runtime: Runtime) -> None:
    loc = await runtime.parking.create_location("acme", "Lot A", 400, "USD")
    rw = await runtime.access.authenticate(keys.rw)
    s = await runtime.parking.create_session(rw, loc, bearer=None, user_id=user_for(1, "x"), barcode=False)
    c = await browsers()
    token = await sign_in(c, keys.read)
    page = await c.get(f"/console/parking/{loc}")
    assert page.status_code == 200 and "Lot A" in page.text and f">{s.id}" in page.text
    assert "Scan in" not in page.text and "/end" not in page.text and "READ" in page.text
    r = await c.post(f"/console/parking/{loc}/sessions/{s.id}/end", data={"csrf": token})
    assert r.status_code == 403 and "READ" in r.text
    r = await c.post(f"/console/parking/{loc}/sessions/{s.id}/end", data={"csrf": token},
                     headers={"x-console-fetch": "1"})
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/plain")
    assert (await runtime.parking.session(rw, loc, s.id)).end_ms is None


async def test_another_accounts_objects_never_appear(browsers: Browser, keys: Keys, runtime: Runtime) -> None:
    rival = await runtime.access.authenticate(keys.rival)
    loc = await runtime.parking.create_location("rival", "Rival garage", 400, "USD")
    dev = await runtime.timing.bind_device(rival, model="M", serial_number="RIVAL-1", type=None, alias="Rival mat",
                                           firmware=None)
    token = await runtime.timing.open_session(rival, dev, "Rival race")
    assert rival is not None
    await runtime.paging.open_session(rival.account_id, 5, Fields(label="Rivalparty"), None, None)
    c = await browsers()
    csrf = await sign_in(c, keys.rw)
    for path in ("/console/", "/console/timing", "/console/parking", "/console/paging"):
        text = (await c.get(path)).text
        assert "Rival" not in text, path
    assert (await c.get(f"/console/parking/{loc}")).status_code == 404
    assert (await c.get(f"/console/timing/{token}")).status_code == 404
    assert (await c.get(f"/console/timing/{token}/passings.csv")).status_code == 404
    assert (await c.post(f"/console/timing/{token}/close", data={"csrf": csrf})).status_code == 404
    r = await c.post(f"/console/parking/{loc}/scan", data={"csrf": csrf, "barcode": "1", "direction": "entry"})
    assert r.status_code == 404


async def test_every_page_renders_live_data(browsers: Browser, keys: Keys, runtime: Runtime) -> None:
    rw = await runtime.access.authenticate(keys.rw)
    assert rw is not None
    dev = await runtime.timing.bind_device(rw, model="Ultra", serial_number="U-1", type=None, alias="Finish",
                                           firmware=None)
    token = await runtime.timing.open_session(rw, dev, "10K")
    now = runtime.paging.now_ms()
    await runtime.timing.record_passings(rw, token, [Passing(n, now - 5000 + n * 100, f"B{n % 3}")
                                                     for n in range(1, 10)])
    loc = await runtime.parking.create_location("acme", "Garage North", 350, "USD", 15, 2400)
    await runtime.parking.create_session(rw, loc, bearer=None, user_id=user_for(rw.account_id, "d1"), barcode=False)
    await runtime.paging.open_session(rw.account_id, 12, Fields(label="Okafor", party_size=5, goal_s=60), None, None)
    c = await browsers()
    await sign_in(c, keys.rw)
    overview = (await c.get("/console/")).text
    assert "Garage North" in overview and "10K" in overview and "9<span" in overview
    board = (await c.get(f"/console/timing/{token}")).text
    assert "B1" in board and "<svg" in board and "9 passings in the last 60 seconds" in board
    part = await c.get(f"/console/timing/{token}?part=live")
    assert "<html" not in part.text and "B2" in part.text
    csv = await c.get(f"/console/timing/{token}/passings.csv")
    lines = csv.text.strip().splitlines()
    assert csv.headers["content-type"].startswith("text/csv") and len(lines) == 10 and lines[1].startswith("1,B1,")
    assert "Garage North" in (await c.get("/console/parking")).text
    lboard = (await c.get(f"/console/parking/{loc}")).text
    assert "Inside now" in lboard and "0.88 USD" in lboard  # the first started 15 minutes of 3.50/h
    stand = (await c.get("/console/paging")).text
    assert "Okafor" in stand and "× 5" in stand
    devices = (await c.get("/console/timing")).text
    assert "Finish" in devices and "U-1" in devices and "10K" in devices and "9 passings today" in devices


async def test_actions_go_through_the_services(browsers: Browser, keys: Keys, runtime: Runtime) -> None:
    rw = await runtime.access.authenticate(keys.rw)
    assert rw is not None
    c = await browsers()
    csrf = await sign_in(c, keys.rw)
    fetch = {"x-console-fetch": "1"}
    # paging: add, page, clear
    assert (await c.post("/console/paging/parties", headers=fetch, data={
        "csrf": csrf, "number": "3", "label": "Lee", "party_size": "4", "goal_minutes": "10"})).status_code == 200
    r = await c.post("/console/paging/3/page", data={"csrf": csrf}, headers=fetch)
    assert r.status_code == 200 and "paged" in r.text
    [s] = (await runtime.paging.active_sessions(rw.account_id)).sessions
    assert s.state.value == "paged" and s.goal_s == 600 and s.party_size == 4
    assert (await c.post("/console/paging/3/clear", data={"csrf": csrf}, headers=fetch)).status_code == 200
    assert (await runtime.paging.active_sessions(rw.account_id)).sessions == []
    r = await c.post("/console/paging/3/clear", data={"csrf": csrf}, headers=fetch)
    assert r.status_code == 404 and "pager 3" in r.text
    r = await c.post("/console/paging/parties", data={"csrf": csrf, "number": "0"}, headers=fetch)
    assert r.status_code == 400 and "number" in r.text
    r = await c.post("/console/paging/3/dance", data={"csrf": csrf}, headers=fetch)
    assert r.status_code == 400
    # parking: a ticket, scanned in and out, billed
    loc = await runtime.parking.create_location("acme", "Lot", 400, "USD")
    r = await c.post(f"/console/parking/{loc}/tickets", data={"csrf": csrf}, headers=fetch)
    assert r.status_code == 200
    [pending] = await runtime.parking.sessions_of_location(rw, loc, None, None)
    assert pending.barcode is not None and pending.start_ms is None
    for direction in ("entry", "exit"):
        r = await c.post(f"/console/parking/{loc}/scan", headers=fetch,
                         data={"csrf": csrf, "barcode": pending.barcode, "direction": direction})
        assert r.status_code == 200, r.text
    r = await c.post(f"/console/parking/{loc}/scan", headers=fetch,
                     data={"csrf": csrf, "barcode": pending.barcode, "direction": "exit"})
    assert r.status_code == 409
    ended = await runtime.parking.session(rw, loc, pending.id)
    assert ended.end_ms is not None and ended.cost == 100  # one started 15 minutes of 4.00/h
    # timing: bind, open, close
    r = await c.post("/console/timing/devices", data={"csrf": csrf, "model": "M", "serial_number": "S1"})
    assert r.status_code == 303
    [dev] = (await runtime.timing.devices(rw, 1, 10))[0]
    r = await c.post(f"/console/timing/devices/{dev.device.deviceid}/sessions", data={"csrf": csrf, "alias": "Heat"})
    assert r.status_code == 303
    token = r.headers["location"].rsplit("/", 1)[1]
    assert (await runtime.timing.session(rw, token)).active
    assert (await c.post(f"/console/timing/{token}/close", data={"csrf": csrf})).status_code == 303
    assert not (await runtime.timing.session(rw, token)).active


async def test_a_one_time_link_signs_in_once(browsers: Browser, keys: Keys, runtime: Runtime) -> None:
    token = make_link_token(await runtime.access.server_secret(SECRET_NAME), keys.rw)
    c = await browsers()
    r = await c.get("/console/signin/link", params={"t": token})
    assert r.status_code == 303 and r.headers["location"] == "/console/"
    assert (await c.get("/console/")).status_code == 200
    again = await browsers()
    r = await again.get("/console/signin/link", params={"t": token})
    assert r.status_code == 401 and "used already" in r.text
    r = await again.get("/console/signin/link", params={"t": token + "x"})
    assert r.status_code == 401 and "not valid" in r.text
    assert (await again.get("/console/")).status_code == 303


@pytest.mark.parametrize("body", [b"csrf=" + b"x" * 20000, b"\xff\xfe=\x00", b"a=1&" * 100])
async def test_hostile_forms_are_refused_in_the_consoles_words(browsers: Browser, keys: Keys, body: bytes) -> None:
    c = await browsers()
    await sign_in(c, keys.rw)
    r = await c.post("/console/paging/parties", content=body,
                     headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code in (400, 403) and "Traceback" not in r.text


async def test_the_change_stream_refuses_bad_topics(browsers: Browser, keys: Keys) -> None:
    c = await browsers()
    await sign_in(c, keys.rw)
    for q in ("", "?t=keys", "?t=" + "&t=".join(f"paging/{n}" for n in range(9)), "?t=paging/&since=x"):
        r = await c.get("/console/events" + q, headers={"x-console-fetch": "1"})
        assert r.status_code == 400, q


async def test_unknown_console_paths_are_console_404s(browsers: Browser) -> None:
    r = await (await browsers()).get("/console/nope/deeper")
    assert r.status_code == 404 and "No such page" in r.text and r.headers["content-type"].startswith("text/html")


def test_the_console_imports_no_other_adapter() -> None:
    from tests.test_architecture import PACKAGE, imports_of

    for path in (PACKAGE / "web").rglob("*.py"):
        for name in imports_of(path):
            assert not name.startswith(("sessionhub.http", "sessionhub.coap", "sessionhub.store",
                                        "sessionhub.cli")), f"{path.name} imports {name}"


async def test_a_board_renders_one_sessions_row_for_a_live_update(browsers: Browser, keys: Keys,
                                                                  runtime: Runtime) -> None:
    rw = await runtime.access.authenticate(keys.rw)
    loc = await runtime.parking.create_location("acme", "Lot", 400, "USD")
    s = await runtime.parking.create_session(rw, loc, bearer=None, user_id=user_for(1, "r"), barcode=False)
    rival = await runtime.access.authenticate(keys.rival)
    rloc = await runtime.parking.create_location("rival", "R", 400, "USD")
    rs = await runtime.parking.create_session(rival, rloc, bearer=None, user_id=user_for(2, "r"), barcode=False)
    c = await browsers()
    await sign_in(c, keys.rw)
    row = await c.get(f"/console/parking/{loc}", params={"part": "row", "session": str(s.id)})
    assert row.status_code == 200 and row.text.strip().startswith(f'<tr id="ps-{s.id}" data-list="active">')
    assert "<html" not in row.text and "1.00 USD" in row.text
    board = (await c.get(f"/console/parking/{loc}")).text
    def untimed(html: str) -> str:  # the elapsed clock may tick between the two renders
        return re.sub(r"<time [^>]*>[^<]*</time>", "", html)

    assert untimed(row.text.strip()) in untimed(board)  # the same markup as on the full board
    for params in ({"part": "row", "session": str(rs.id)}, {"part": "row", "session": "x"}):
        r = await c.get(f"/console/parking/{loc}", params=params, headers={"x-console-fetch": "1"})
        assert r.status_code in (400, 404)


async def test_a_shared_row_rendering_follows_every_change_and_stays_in_its_account(
    browsers: Browser, keys: Keys, runtime: Runtime
) -> None:
    rw = await runtime.access.authenticate(keys.rw)
    loc = await runtime.parking.create_location("acme", "Lot", 400, "USD")
    s = await runtime.parking.create_session(rw, loc, bearer=None, user_id=user_for(1, "r"), barcode=False)
    row = {"part": "row", "session": str(s.id)}
    writer, reader, rival = await browsers(), await browsers(), await browsers()
    await sign_in(writer, keys.rw)
    await sign_in(reader, keys.read)
    await sign_in(rival, keys.rival)
    first = (await writer.get(f"/console/parking/{loc}", params=row)).text
    assert 'data-list="active"' in first and "Share" in first
    assert (await writer.get(f"/console/parking/{loc}", params=row)).text == first  # the same second: shared
    as_reader = (await reader.get(f"/console/parking/{loc}", params=row)).text
    assert 'data-list="active"' in as_reader and "Share" not in as_reader  # what the key may do is in the key
    assert (await rival.get(f"/console/parking/{loc}", params=row, headers={"x-console-fetch": "1"})).status_code == 404
    await runtime.parking.end_session(rw, loc, s.id)
    assert 'data-list="recent"' in (await writer.get(f"/console/parking/{loc}", params=row)).text
    await runtime.access.revoke_key(keys.read)
    assert (await reader.get(f"/console/parking/{loc}", params=row)).status_code == 303  # signed out
