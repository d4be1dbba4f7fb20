"""The console's admin pages in-process (ASGI, both stores): only an admin key is offered and served
them; keys issued (shown once), listed and revoked; locations created and re-priced; the station
shown; every form refused without its CSRF token; another account's objects out of reach."""

from __future__ import annotations

import re

import httpx

from sessionhub.runtime import Runtime
from tests.conftest import Keys
from tests.web.conftest import Browser, sign_in

ADMIN_PAGES = ("/console/admin/keys", "/console/admin/locations", "/console/admin/stations")


async def admin_browser(browsers: Browser, runtime: Runtime, account: str = "acme") -> tuple[httpx.AsyncClient, str]:
    raw = await runtime.access.create_key(account, "READ_WRITE", admin=True, alias="boss")
    c = await browsers()
    return c, await sign_in(c, raw)


async def test_only_an_admin_key_is_offered_and_served_the_admin_pages(
    browsers: Browser, keys: Keys, runtime: Runtime
) -> None:
    for raw in (keys.rw, keys.unbind, keys.read):
        c = await browsers()
        await sign_in(c, raw)
        assert "/console/admin" not in (await c.get("/console/")).text
        for page in ADMIN_PAGES:
            r = await c.get(page)
            assert r.status_code == 403 and "admin key" in r.text
    c, _ = await admin_browser(browsers, runtime)
    assert 'href="/console/admin"' in (await c.get("/console/")).text
    for page in ADMIN_PAGES:
        assert (await c.get(page)).status_code == 200, page
    assert (await c.get("/console/admin")).headers["location"] == "/console/admin/keys"


async def test_an_admin_issues_a_key_shown_once_lists_and_revokes_it(
    browsers: Browser, keys: Keys, runtime: Runtime
) -> None:
    c, csrf = await admin_browser(browsers, runtime)
    r = await c.post("/console/admin/keys", data={"csrf": csrf, "access": "READ", "alias": "door tablet"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    raw = re.search(r'id="new-key-value" readonly value="(shk_[0-9a-f]{32})"', r.text).group(1)  # type: ignore[union-attr]
    issued = await runtime.access.authenticate(raw)
    assert issued is not None and not issued.admin and issued.access.value == "READ"
    listing = (await c.get("/console/admin/keys")).text
    assert "door tablet" in listing and raw not in listing and raw[4:] not in listing
    assert "rival" not in listing and listing.count('<tr id="key-') == 6  # acme's five + the new one

    door = await browsers()
    await sign_in(door, raw)
    r = await c.post(f"/console/admin/keys/{issued.id}/revoke", data={"csrf": csrf})
    assert r.status_code == 303
    assert await runtime.access.authenticate(raw) is None
    assert (await door.get("/console/")).status_code == 303  # signed out on its next click
    assert "revoked" in (await c.get("/console/admin/keys")).text

    rival = await runtime.access.authenticate(keys.rival)
    assert rival is not None
    r = await c.post(f"/console/admin/keys/{rival.id}/revoke", data={"csrf": csrf})
    assert r.status_code == 404 and await runtime.access.authenticate(keys.rival) is not None
    r = await c.post("/console/admin/keys", data={"csrf": csrf, "access": "READ", "admin": "1"})
    assert r.status_code == 400 and "READ_WRITE" in r.text


async def test_an_admin_creates_a_location_and_changes_its_rates(
    browsers: Browser, keys: Keys, runtime: Runtime
) -> None:
    c, csrf = await admin_browser(browsers, runtime)
    r = await c.post("/console/admin/locations", data={"csrf": csrf, "name": "Harbour", "rate": "2.50",
                                                       "currency": "eur", "increment_minutes": "30",
                                                       "daily_max": "", "gated": "1"})
    assert r.status_code == 303
    rw = await runtime.access.authenticate(keys.rw)
    [loc] = await runtime.parking.locations_of(rw)
    assert (loc.name, loc.rate_per_hour, loc.currency, loc.increment_minutes, loc.daily_max, loc.gated) == (
        "Harbour", 250, "EUR", 30, None, True)
    r = await c.post(f"/console/admin/locations/{loc.id}/rates", data={
        "csrf": csrf, "rate": "3", "increment_minutes": "15", "daily_max": "20.5"})
    assert r.status_code == 303
    loc = await runtime.parking.location(rw, loc.id)
    assert (loc.rate_per_hour, loc.increment_minutes, loc.daily_max) == (300, 15, 2050)
    assert "3.00 EUR/h per 15 min" in (await c.get("/console/admin/locations")).text
    for bad in ({"rate": "3.505"}, {"rate": "-1"}, {"rate": "x"}, {"increment_minutes": "7"}):
        r = await c.post(f"/console/admin/locations/{loc.id}/rates",
                         data={"csrf": csrf, "rate": "3", "increment_minutes": "15"} | bad)
        assert r.status_code == 400, bad
    rival_admin, rival_csrf = await admin_browser(browsers, runtime, "rival")
    r = await rival_admin.post(f"/console/admin/locations/{loc.id}/rates", data={
        "csrf": rival_csrf, "rate": "0", "increment_minutes": "15"})
    assert r.status_code == 404 and (await runtime.parking.location(rw, loc.id)).rate_per_hour == 300
    assert "Harbour" not in (await rival_admin.get("/console/admin/locations")).text


async def test_every_admin_form_is_refused_without_its_csrf_token(
    browsers: Browser, keys: Keys, runtime: Runtime
) -> None:
    c, _ = await admin_browser(browsers, runtime)
    rw = await runtime.access.authenticate(keys.rw)
    loc = await runtime.parking.add_location(await runtime.access.authenticate(
        await runtime.access.create_key("acme", "READ_WRITE", admin=True)), "Lot", 100, "EUR")
    before = await runtime.access.list_keys()
    for action, form in (("/console/admin/keys", {"access": "READ"}),
                         (f"/console/admin/keys/{rw.id}/revoke", {}),  # type: ignore[union-attr]
                         ("/console/admin/locations", {"name": "X", "rate": "1", "currency": "EUR"}),
                         (f"/console/admin/locations/{loc}/rates", {"rate": "9", "increment_minutes": "15"})):
        r = await c.post(action, data=form)
        assert r.status_code == 403 and "CSRF" in r.text, action
    assert await runtime.access.list_keys() == before
    assert [x.rate_per_hour for x in await runtime.parking.locations_of(rw)] == [100]


async def test_the_stations_page_shows_the_accounts_station_and_its_settings(
    browsers: Browser, runtime: Runtime
) -> None:
    c, csrf = await admin_browser(browsers, runtime)
    r = await c.post("/console/paging/settings", data={"csrf": csrf, "system_id": "42", "default_goal_minutes": "12"})
    assert r.status_code == 303
    page = (await c.get("/console/admin/stations")).text
    assert re.search(r"System id</dt><dd>42<", page) and re.search(r"Default goal</dt><dd>12:00<", page)
    assert "not served by this process" in page  # this runtime serves no CoAP (the browser test's does)
