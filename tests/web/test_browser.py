"""The console in headless Chromium (Debian's chromium + chromedriver through Selenium) against a real
``sessionhub serve`` process: sign-in and sign-out, a bad key, every page live, an action in one
browser showing in a second, the admin pages, each share link's live view signed out on a phone-sized
window (and gone once revoked), writes through each dialect's API (curl for HTTP, libcoap's coap-client
for CoAP) showing on the matching page, a READ key offered no action, a form stripped of its CSRF
token refused, another account's objects absent, and no error in any browser console."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.coap.conftest import coap_client_binary
from tests.conftest import Server, free_port, start_server, stop_server

pytestmark = pytest.mark.slow

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
COAP_CLIENT = coap_client_binary()


@dataclass
class Site:
    server: Server
    coap: str
    rw: str
    read: str
    rival: str
    location: int


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    db = f"sqlite:///{tmp_path / 'console.db'}"
    coap = f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}"
    server = start_server(db, tmp_path / "server.log", "--coap", f"{coap}=acme")
    try:
        rw = server.cli("keys", "create", "--account", "acme", "--access", "READ_WRITE", "--unbind")
        read = server.cli("keys", "create", "--account", "acme", "--access", "READ")
        rival = server.cli("keys", "create", "--account", "rival", "--access", "READ_WRITE")
        loc = int(server.cli("locations", "create", "--account", "acme", "--name", "Harbour garage", "--rate",
                             "400", "--currency", "USD"))
        server.cli("locations", "create", "--account", "rival", "--name", "Rival lot", "--rate", "100",
                   "--currency", "USD")
        yield Site(server, coap, rw, read, rival, loc)
    finally:
        stop_server(server)


Browser = Callable[..., Any]


@pytest.fixture
def browsers(tmp_path: Path) -> Iterator[Browser]:
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("chromium and chromium-driver are not installed (scripts/system-deps.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    made: list[tuple[Any, bool]] = []

    def make(refusals: bool = False, phone: bool = False) -> Any:
        """A browser; ``refusals``: the test provokes 4xx answers, which Chromium logs as errors;
        ``phone``: a phone-sized window (the share links' pages are phone first)."""
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=" + ("390,844" if phone else "1280,900"),
                     f"--user-data-dir={tmp_path / f'chromium{len(made)}'}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(DRIVER), options=options)
        made.append((driver, refusals))
        return driver

    try:
        yield make
    finally:
        for d, refusals in made:
            errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"
                      and not (refusals and "the server responded with a status of 40" in e["message"])]
            d.quit()
            assert not errors, f"browser console errors: {errors}"


def sign_in(b: Any, site: Site, key: str, path: str = "/console/") -> None:
    b.get(f"{site.server.base_url}/console/signin?next={path}")
    b.find_element("id", "key").send_keys(key)
    b.find_element("css selector", "form button.primary").click()
    # the URL moves when the navigation starts: wait for the signed-in page itself (its sign-out form)
    wait(b, lambda: b.current_url.endswith(path) and b.execute_script("return document.readyState") == "complete"
         and bool(b.find_elements("css selector", "form[action$='/signout']")), f"signed in at {path}")


def wait(b: Any, ok: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ok():
                return
        except Exception:  # an element replaced under us by a live refresh: look again
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; page:\n{b.find_element('tag name', 'main').text[:2000]}")


def live(b: Any) -> None:
    wait(b, lambda: b.find_element("id", "live-state").text == "live", "the change stream to open")


def text(b: Any) -> str:
    return str(b.find_element("tag name", "main").text)


def curl(*args: str) -> Any:
    out = subprocess.run(["curl", "-sS", "--max-time", "20", "-H", "Content-Type: application/json", *args],
                         capture_output=True, text=True, check=True, timeout=30)
    return json.loads(out.stdout)


def test_sign_in_and_out_a_bad_key_and_every_page_live(site: Site, browsers: Browser) -> None:
    b = browsers(refusals=True)
    b.get(site.server.base_url + "/")
    wait(b, lambda: "/console/signin" in b.current_url, "the sign-in page")
    b.find_element("id", "key").send_keys("shk_" + "0" * 32)
    b.find_element("css selector", "form button.primary").click()
    wait(b, lambda: "not valid" in b.find_element("css selector", "[role=alert]").text, "the refusal")
    sign_in(b, site, site.rw)
    for path, expect in (("/console/", "Harbour garage"), ("/console/timing", "No timing devices"),
                         ("/console/parking", "Harbour garage"), (f"/console/parking/{site.location}", "Gate"),
                         ("/console/paging", "Add a party")):
        b.get(site.server.base_url + path)
        live(b)
        assert expect in text(b) and "Rival" not in text(b), path
    assert "sessionhub_console" in {c["name"] for c in b.get_cookies()}
    cookie = next(c for c in b.get_cookies() if c["name"] == "sessionhub_console")
    assert cookie["httpOnly"] and site.rw not in cookie["value"]
    assert b.execute_script("return document.cookie") == ""  # HttpOnly: no script sees it
    b.find_element("css selector", "header form button").click()
    wait(b, lambda: b.current_url.endswith("/console/signin"), "signed out")
    b.get(site.server.base_url + "/console/paging")
    wait(b, lambda: "/console/signin" in b.current_url, "signed out stays out")


def test_an_action_in_one_browser_shows_in_a_second(site: Site, browsers: Browser) -> None:
    host, screen = browsers(), browsers()
    for b in (host, screen):
        sign_in(b, site, site.rw, "/console/paging")
        live(b)
    form = host.find_element("id", "add-party")
    number = form.find_element("name", "number")
    number.clear()
    number.send_keys("42")
    form.find_element("name", "label").send_keys("Marisol")
    form.find_element("css selector", "button").click()
    wait(screen, lambda: "Marisol" in text(screen), "the party on the second screen")
    wait(host, lambda: "Marisol" in text(host), "the party on the host's screen")
    host.find_element("css selector", "button[aria-label='Page pager 42']").click()
    wait(screen, lambda: "paged" in screen.find_element("css selector", "table.waitlist").text, "the page")
    host.find_element("css selector", "button[aria-label='Clear pager 42 (seated)']").click()
    wait(screen, lambda: "Nobody waiting" in text(screen), "the party seated")
    assert "Marisol" in screen.find_element("id", "hist-h").find_element("xpath", "..").text


def test_writes_through_each_dialect_show_on_the_matching_page(site: Site, browsers: Browser) -> None:
    base, key = site.server.base_url, site.rw
    device = curl("-X", "POST", "-H", f"api_key: {key}", "-d", '{"model":"R","serial_number":"MAT-1"}',
                  f"{base}/v0/devices")["deviceid"]
    token = curl("-X", "POST", "-H", f"api_key: {key}", "-d", json.dumps({"deviceid": device, "alias": "Marathon"}),
                 f"{base}/v0/sessions")["token_session"]
    b = browsers()
    sign_in(b, site, key, f"/console/timing/{token}")
    live(b)
    assert "No passings yet" in text(b)
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    batch = {"token_session": token, "passings_list": [
        {"bib": "777", "num_passing": 1, "timestamp": now}, {"bib": "778", "num_passing": 2, "timestamp": now}]}
    got = curl("-X", "POST", "-H", f"api_key: {key}", "-d", json.dumps(batch), f"{base}/v0/passings")
    assert got["inserted_count"] == 2
    wait(b, lambda: "777" in text(b) and b.find_element("id", "passing-count").text == "2", "the passings")

    b.get(f"{base}/console/parking/{site.location}")
    live(b)
    s = curl("-X", "POST", "-d", '{"redemption":"barcode","user_id":"5b1f0bd4-3f4c-4b51-8d1c-6a3f1e0a9c11"}',
             f"{base}/v1/access/parking/{site.location}/session?access_key={key}")
    wait(b, lambda: s["redemption_info"]["barcode"] in text(b), "the pending ticket")
    # a second car: now the lists have rows, so the board updates the changed row alone
    s2 = curl("-X", "POST", "-d", '{"redemption":"barcode","user_id":"7c2e9a55-0d6b-4f3e-9a1b-2b8f5d3c4e21"}',
              f"{base}/v1/access/parking/{site.location}/session?access_key={key}")
    wait(b, lambda: b.find_element("id", "pending-count").text == "2", "the second ticket")
    for car in (s, s2):
        curl("-X", "POST", "-d", json.dumps({"barcode": car["redemption_info"]["barcode"], "direction": "entry"}),
             f"{base}/v1/access/parking/{site.location}/gate/scan?access_key={key}")
    wait(b, lambda: b.find_element("id", "inside-count").text == "2" and
         b.find_element("id", "pending-count").text == "0", "both cars inside")
    assert [r.get_attribute("id") for r in b.find_elements("css selector", "[data-list=active] tbody tr")] == [
        f"ps-{s['id']}", f"ps-{s2['id']}"]
    # the attendant lets it out with one click; the API sees the bill
    b.find_element("css selector", f"button[aria-label='Let session {s['id']} out']").click()
    wait(b, lambda: b.find_element("id", "inside-count").text == "1", "the car out")
    ended = curl(f"{base}/v1/access/parking/{site.location}/session/{s['id']}?access_key={key}")
    assert ended["billing_info"]["cost"] == {"amount": 100, "currency": "USD"}

    if COAP_CLIENT is None:
        pytest.skip("libcoap's coap-client is not installed")
    b.get(f"{base}/console/paging")
    live(b)
    subprocess.run([COAP_CLIENT, "-B", "10", "-m", "post", "-t", "50", "-e",
                    '{"number":61,"label":"Viaclient","partySize":3}', f"coap://{site.coap}/v1/sessions"],
                   check=True, capture_output=True, timeout=30)
    wait(b, lambda: "Viaclient" in text(b), "the CoAP party")


def test_a_read_key_is_offered_no_action_and_a_form_without_csrf_is_refused(site: Site, browsers: Browser) -> None:
    reader = browsers()
    sign_in(reader, site, site.read, "/console/paging")
    live(reader)
    assert "READ" in text(reader) and not reader.find_elements("id", "add-party")
    reader.get(f"{site.server.base_url}/console/parking/{site.location}")
    assert not reader.find_elements("css selector", "main form") and "you see everything" in text(reader)
    writer = browsers(refusals=True)
    sign_in(writer, site, site.rw, "/console/paging")
    live(writer)
    writer.execute_script("document.querySelector('#add-party input[name=csrf]').remove()")
    writer.find_element("css selector", "#add-party button").click()
    wait(writer, lambda: "CSRF" in writer.find_element("id", "flash").text, "the CSRF refusal")
    assert "Nobody waiting" in text(writer)


def admin_key(site: Site) -> str:
    return site.server.cli("keys", "create", "--account", "acme", "--access", "READ_WRITE", "--admin",
                           "--alias", "manager")


def test_the_admin_pages_issue_and_revoke_keys_create_and_price_locations_show_the_station(
    site: Site, browsers: Browser
) -> None:
    plain = browsers()
    sign_in(plain, site, site.rw)
    assert not plain.find_elements("css selector", "nav a[href='/console/admin']")
    b = browsers()
    sign_in(b, site, admin_key(site))
    b.find_element("css selector", "nav a[href='/console/admin']").click()
    wait(b, lambda: b.current_url.endswith("/console/admin/keys"), "the keys page")
    assert "manager" in text(b) and site.rw not in b.page_source
    form = b.find_element("id", "new-key")
    from selenium.webdriver.support.select import Select

    Select(form.find_element("name", "access")).select_by_visible_text("READ")
    form.find_element("name", "alias").send_keys("door tablet")
    form.find_element("css selector", "button").click()
    wait(b, lambda: b.find_elements("id", "new-key-value"), "the new key, shown once")
    raw = b.find_element("id", "new-key-value").get_attribute("value")
    assert raw.startswith("shk_") and len(raw) == 36
    listed = site.server.cli("keys", "list")
    assert "acme\tREAD\t-\tlive\tdoor tablet" in listed and raw not in listed
    b.find_element("link text", "Back to the keys").click()
    wait(b, lambda: "door tablet" in text(b), "the key listed")
    assert raw not in b.page_source
    row = next(r for r in b.find_elements("css selector", "#key-list tbody tr") if "door tablet" in r.text)
    row.find_element("css selector", "button").click()
    wait(b, lambda: "revoked" in b.find_element("id", "flash").text, "the revocation")
    assert "acme\tREAD\t-\trevoked\tdoor tablet" in site.server.cli("keys", "list")

    b.get(f"{site.server.base_url}/console/admin/locations")
    form = b.find_element("id", "new-location")
    for name, value in (("name", "Airport long-stay"), ("rate", "2.75")):
        form.find_element("name", name).send_keys(value)
    form.find_element("css selector", "button").click()
    wait(b, lambda: "created" in b.find_element("id", "flash").text, "the new location")
    b.refresh()
    row = next(r for r in b.find_elements("css selector", "#location-rates tbody tr") if "Airport" in r.text)
    assert "2.75 USD/h per 15 min" in row.text
    rate = row.find_element("name", "rate")
    rate.clear()
    rate.send_keys("3.10")
    row.find_element("css selector", "button").click()
    wait(b, lambda: "new rates saved" in b.find_element("id", "flash").text, "the new rates")
    b.get(f"{site.server.base_url}/console/parking")
    live(b)
    assert "Airport long-stay" in text(b) and "3.10 USD/h" in text(b) and "Rival" not in text(b)

    b.get(f"{site.server.base_url}/console/admin/stations")
    assert site.coap in text(b) and "System id" in text(b)


def guest_sees(g: Any, needle: str, what: str) -> None:
    wait(g, lambda: needle in text(g), what)


def test_share_links_live_signed_out_on_a_phone_and_gone_when_revoked(site: Site, browsers: Browser) -> None:
    base, key = site.server.base_url, site.rw
    op = browsers()
    # your parking stay: a car parked through Coord, shared from the garage's board
    s = curl("-X", "POST", "-d", '{"redemption":"barcode","user_id":"5b1f0bd4-3f4c-4b51-8d1c-6a3f1e0a9c11"}',
             f"{base}/v1/access/parking/{site.location}/session?access_key={key}")
    curl("-X", "POST", "-d", json.dumps({"barcode": s["redemption_info"]["barcode"], "direction": "entry"}),
         f"{base}/v1/access/parking/{site.location}/gate/scan?access_key={key}")
    sign_in(op, site, key, f"/console/parking/{site.location}")
    live(op)
    op.find_element("css selector", f"button[aria-label='Share session {s['id']}']").click()
    wait(op, lambda: op.find_elements("id", "new-link"), "the new link")
    stay_link = op.find_element("id", "new-link").get_attribute("value")
    assert "/console/s/" in stay_link and key not in stay_link
    guest = browsers(refusals=True, phone=True)
    guest.get(stay_link)
    live(guest)
    assert "Your parking stay" in text(guest) and "Harbour garage" in text(guest) and "Cost so far" in text(guest)
    assert guest.get_cookies() == []  # nothing of the console's: no session, no key
    assert guest.execute_script("return document.documentElement.scrollWidth <= innerWidth")  # no sideways scroll
    curl("-X", "POST", "-d", json.dumps({"barcode": s["redemption_info"]["barcode"], "direction": "exit"}),
         f"{base}/v1/access/parking/{site.location}/gate/scan?access_key={key}")
    guest_sees(guest, "Ended", "the stay ended, live")
    assert "1.00 USD" in text(guest)

    # your race: a bib shared from the race's board; passings through RUFUS arrive live
    device = curl("-X", "POST", "-H", f"api_key: {key}", "-d", '{"model":"R","serial_number":"MAT-9"}',
                  f"{base}/v0/devices")["deviceid"]
    token = curl("-X", "POST", "-H", f"api_key: {key}", "-d", json.dumps({"deviceid": device, "alias": "5K"}),
                 f"{base}/v0/sessions")["token_session"]
    op.get(f"{base}/console/timing/{token}")
    form = op.find_element("id", "share-bib")
    form.find_element("name", "bib").send_keys("512")
    form.find_element("css selector", "button").click()
    wait(op, lambda: op.find_elements("id", "new-link"), "the bib's link")
    race = browsers(phone=True)
    race.get(op.find_element("id", "new-link").get_attribute("value"))
    live(race)
    assert "Bib 512" in text(race) and "No passing of this bib yet" in text(race)
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    curl("-X", "POST", "-H", f"api_key: {key}", "-d", json.dumps({"token_session": token, "passings_list": [
        {"bib": "512", "num_passing": 1, "timestamp": now}, {"bib": "513", "num_passing": 2, "timestamp": now}]}),
         f"{base}/v0/passings")
    wait(race, lambda: race.find_element("id", "bib-passings").text == "1", "the bib's passing, live")
    assert "513" not in text(race)

    # your table: a party shared from the waitlist; the host's page shows on the guest's phone
    op.get(f"{base}/console/paging")
    live(op)
    form = op.find_element("id", "add-party")
    number = form.find_element("name", "number")
    number.clear()
    number.send_keys("77")
    form.find_element("name", "label").send_keys("Haddad")
    form.find_element("css selector", "button").click()
    wait(op, lambda: op.find_elements("css selector", "button[aria-label=\"Share pager 77's live view\"]"),
         "the party's row")
    op.find_element("css selector", "button[aria-label=\"Share pager 77's live view\"]").click()
    wait(op, lambda: op.find_elements("id", "new-link"), "the party's link")
    table_link = op.find_element("id", "new-link").get_attribute("value")
    table = browsers(phone=True)
    table.get(table_link)
    live(table)
    assert "Haddad" in text(table) and "You are on the waitlist" in text(table)
    op.get(f"{base}/console/paging")
    live(op)
    op.find_element("css selector", "button[aria-label='Page pager 77']").click()
    wait(table, lambda: "Your table is ready" in text(table), "the page, on the guest's phone")
    # revoked: the link opens nothing any more (the open page's stream ends, a reload is refused)
    op.get(f"{base}/console/share?kind=parking&ref={s['id']}")
    op.find_element("css selector", "#share-links button").click()
    wait(op, lambda: "revoked" in text(op), "the stay's link revoked")
    guest.get(stay_link)
    wait(guest, lambda: "revoked" in text(guest), "the revoked link refused")
    assert "Harbour garage" not in text(guest)
