"""Share links in-process (ASGI, both stores): made by a signed-in key, opened signed out, each
opening its one object only — never another object, another account's, or anything once revoked."""

from __future__ import annotations

import re

import httpx

from sessionhub.core.paging import Action, Fields
from sessionhub.core.parking import user_for
from sessionhub.core.timing import Passing
from sessionhub.runtime import Runtime
from tests.conftest import Keys
from tests.web.conftest import Browser, sign_in

T0 = 1_700_000_000_000


def link_of(html: str) -> str:
    found = re.search(r'id="new-link" readonly value="http://testserver(/console/s/[0-9a-f]{32})"', html)
    assert found, "no new link on the page"
    return found.group(1)


async def make(c: httpx.AsyncClient, action: str, csrf: str, **form: str) -> str:
    r = await c.post(action, data={"csrf": csrf, **form})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store", r.text
    return link_of(r.text)


async def test_a_parking_stay_link_follows_its_one_session_signed_out(
    browsers: Browser, keys: Keys, runtime: Runtime
) -> None:
    rw = await runtime.access.authenticate(keys.rw)
    north = await runtime.parking.create_location("acme", "Garage North", 400, "USD")
    south = await runtime.parking.create_location("acme", "Garage South", 900, "USD")
    mine = await runtime.parking.create_session(rw, north, bearer=None, user_id=user_for(1, "a"), barcode=False)
    other = await runtime.parking.create_session(rw, south, bearer=None, user_id=user_for(1, "b"), barcode=False)
    op = await browsers()
    csrf = await sign_in(op, keys.rw)
    link = await make(op, "/console/share/parking", csrf, session=str(mine.id))

    guest = await browsers()  # never signed in
    page = await guest.get(link)
    assert page.status_code == 200 and "set-cookie" not in page.headers
    assert "Your parking stay" in page.text and "Garage North" in page.text and "Cost so far" in page.text
    assert "1.00 USD" in page.text and "Garage South" not in page.text and "/console/s/" in page.text
    assert keys.rw not in page.text and 'name="csrf"' not in page.text
    await runtime.parking.end_session(rw, north, mine.id)
    part = await guest.get(link, params={"part": "live"})
    assert "<html" not in part.text and "Ended" in part.text and "1.00 USD" in part.text
    # the link opens nothing else: not the console, not the other session's board, not a stream of another topic
    assert (await guest.get("/console/")).status_code == 303
    assert (await guest.get(f"/console/parking/{south}")).status_code == 303
    assert other.id != mine.id
    listing = (await op.get("/console/share", params={"kind": "parking", "ref": str(mine.id)})).text
    assert listing.count('<tr id="share-') == 1 and link not in listing  # shown whole only once


async def test_a_link_to_another_accounts_object_cannot_be_made(browsers: Browser, keys: Keys,
                                                                runtime: Runtime) -> None:
    rival = await runtime.access.authenticate(keys.rival)
    assert rival is not None
    rloc = await runtime.parking.create_location("rival", "Rival lot", 400, "USD")
    theirs = await runtime.parking.create_session(rival, rloc, bearer=None, user_id=user_for(2, "r"), barcode=False)
    await runtime.paging.open_session(rival.account_id, 5, Fields(label="Rival guest"), None, None)
    op = await browsers()
    csrf = await sign_in(op, keys.rw)
    assert (await op.post("/console/share/parking", data={"csrf": csrf, "session": str(theirs.id)})).status_code == 404
    assert (await op.post("/console/share/paging/5", data={"csrf": csrf})).status_code == 404
    reader = await browsers()
    rcsrf = await sign_in(reader, keys.read)
    assert (await reader.post("/console/share/paging/5", data={"csrf": rcsrf})).status_code == 403
    assert (await op.post("/console/share/paging/5", data={})).status_code == 403  # no CSRF token
    # a rival's link shows the rival's object, and an acme operator cannot revoke it
    rop = await browsers()
    rcsrf = await sign_in(rop, keys.rival)
    r = await rop.post("/console/share/parking", data={"csrf": rcsrf, "session": str(theirs.id)})
    link = link_of(r.text)
    share_id = re.search(r'<tr id="share-(\d+)"', r.text).group(1)  # type: ignore[union-attr]
    r = await op.post(f"/console/share/{share_id}/revoke", data={"csrf": csrf, "kind": "parking", "ref": "1"})
    assert r.status_code == 404
    assert "Rival lot" in (await (await browsers()).get(link)).text


async def test_bad_and_revoked_links_are_404s(browsers: Browser, keys: Keys, runtime: Runtime) -> None:
    rw = await runtime.access.authenticate(keys.rw)
    assert rw is not None
    await runtime.paging.open_session(rw.account_id, 12, Fields(label="Okafor", party_size=5, goal_s=600), None, None)
    op = await browsers()
    csrf = await sign_in(op, keys.rw)
    r = await op.post("/console/share/paging/12", data={"csrf": csrf})
    link = link_of(r.text)
    share_id = re.search(r'<tr id="share-(\d+)"', r.text).group(1)  # type: ignore[union-attr]
    guest = await browsers()
    assert (await guest.get(link)).status_code == 200
    token = link.rsplit("/", 1)[1]
    for bad in ("0" * 32, token[:-1] + ("0" if token[-1] != "0" else "1"), token.upper(), token + "0", "x",
                "%2E%2E", token[:16]):
        r = await guest.get(f"/console/s/{bad}")
        assert r.status_code == 404, bad
        assert (await guest.get(f"/console/s/{bad}/events")).status_code == 404
    r = await op.post(f"/console/share/{share_id}/revoke", data={"csrf": csrf, "kind": "paging",
                                                                 "ref": "0/12"})
    assert r.status_code == 303
    for path in (link, link + "/events", link + "?part=live"):
        r = await guest.get(path)
        assert r.status_code == 404 and "revoked" in r.text, path
    assert (await op.post(f"/console/share/{share_id}/revoke", data={"csrf": csrf, "kind": "paging",
                                                                     "ref": "0/12"})).status_code == 404


async def test_your_table_goes_from_waiting_to_ready_and_keeps_to_its_party(
    browsers: Browser, keys: Keys, runtime: Runtime
) -> None:
    rw = await runtime.access.authenticate(keys.rw)
    assert rw is not None
    acct = rw.account_id
    await runtime.paging.open_session(acct, 11, Fields(label="Early", goal_s=600), None, None)
    await runtime.paging.open_session(acct, 12, Fields(label="Okafor", party_size=5, goal_s=600), None, None)
    op = await browsers()
    csrf = await sign_in(op, keys.rw)
    link = await make(op, "/console/share/paging/12", csrf)
    guest = await browsers()
    page = (await guest.get(link)).text
    assert "Okafor" in page and "You are on the waitlist" in page and re.search(r'id="ahead">1<', page)
    assert "Early" not in page
    await runtime.paging.update_session(acct, 12, Fields(), Action.PAGE, None)
    assert "Your table is ready" in (await guest.get(link, params={"part": "live"})).text
    await runtime.paging.update_session(acct, 12, Fields(), Action.CLEAR, None)
    await runtime.paging.open_session(acct, 12, Fields(label="Next party"), None, None)  # the pager is reused
    page = (await guest.get(link)).text
    assert "Enjoy your meal" in page and "Next party" not in page


async def test_your_race_shows_one_bibs_passings(browsers: Browser, keys: Keys, runtime: Runtime) -> None:
    rw = await runtime.access.authenticate(keys.rw)
    dev = await runtime.timing.bind_device(rw, model="M", serial_number="S1", type=None, alias=None, firmware=None)
    token = await runtime.timing.open_session(rw, dev, "10K")
    await runtime.timing.record_passings(rw, token, [Passing(1, T0, "7"), Passing(2, T0 + 1000, "8"),
                                                     Passing(3, T0 + 60_000, "7")])
    op = await browsers()
    csrf = await sign_in(op, keys.rw)
    link = await make(op, f"/console/share/timing/{token}", csrf, bib="7")
    guest = await browsers()
    page = (await guest.get(link)).text
    assert "Bib 7" in page and "10K" in page and re.search(r'id="bib-passings">2<', page)
    assert "1:00" in page  # the lap between its two passings
    await runtime.timing.record_passings(rw, token, [Passing(4, T0 + 120_000, "7"), Passing(5, T0 + 121_000, "8")])
    assert re.search(r'id="bib-passings">3<', (await guest.get(link, params={"part": "live"})).text)
    # a bib with no passing yet can be shared (a family waits at the finish); a bad bib cannot
    assert "No passing of this bib yet" in (await guest.get(await make(op, f"/console/share/timing/{token}",
                                                                       csrf, bib="99"))).text
    assert (await op.post(f"/console/share/timing/{token}", data={"csrf": csrf, "bib": ""})).status_code == 400
    assert (await op.post("/console/share/timing/nosuch", data={"csrf": csrf, "bib": "7"})).status_code == 404


async def test_an_object_has_at_most_twenty_live_links(browsers: Browser, keys: Keys, runtime: Runtime) -> None:
    rw = await runtime.access.authenticate(keys.rw)
    loc = await runtime.parking.create_location("acme", "Lot", 400, "USD")
    s = await runtime.parking.create_session(rw, loc, bearer=None, user_id=user_for(1, "a"), barcode=False)
    made = [await runtime.shares.share_parking(rw, s.id) for _ in range(20)]
    op = await browsers()
    csrf = await sign_in(op, keys.rw)
    r = await op.post("/console/share/parking", data={"csrf": csrf, "session": str(s.id)})
    assert r.status_code == 400 and "revoke one first" in r.text
    await runtime.shares.revoke(rw, made[0][1].id)
    assert link_of((await op.post("/console/share/parking", data={"csrf": csrf, "session": str(s.id)})).text)
