"""The demo account ``make run`` seeds: a READ_WRITE key, a timing device with a session of
passings, a parking location with a started session, a guest on pager 23 of the account's paging
station, and the lines (curl, coap-client, a browser page, the CLI, a one-time console sign-in link) that read
them.
Running it again issues a fresh key (revoking the previous demo key) and reuses the rest.
``serve --demo`` (what ``make run`` runs) seeds only once its sockets are bound, so a start that fails
(a port taken by a running server) revokes nobody's key.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

from sessionhub.config import DEMO_ACCOUNT
from sessionhub.core.access import Key
from sessionhub.core.errors import AlreadyExists, SessionsNotFound
from sessionhub.core.paging import Fields
from sessionhub.core.parking import user_for
from sessionhub.core.timing import Passing
from sessionhub.runtime import Runtime
from sessionhub.web.auth import LINK_SECONDS, SECRET_NAME, make_link_token

DEMO_ALIAS = "demo (make run)"
DEMO_SERIAL = "DEMO-001"
DEMO_LOCATION = "Demo garage"
DEMO_PAGER = 23


async def seed(rt: Runtime, base_url: str, coap: str | None) -> str:
    """Seed the demo objects; return what to print (no CoAP line when ``coap`` is None: not served)."""
    key_text = await rt.access.create_key(DEMO_ACCOUNT, "READ_WRITE", True, DEMO_ALIAS, test_account=True,
                                          replace_alias=True)
    key = await rt.access.authenticate(key_text)
    try:
        deviceid = await rt.timing.bind_device(key, model="Demo reader", serial_number=DEMO_SERIAL, type="CUSTOM",
                                               alias="Finish line", firmware="1.0.0")
    except AlreadyExists as exc:
        assert exc.ident is not None
        deviceid = exc.ident
    try:
        token = (await rt.timing.active_session(key, deviceid)).token
    except SessionsNotFound:
        token = await rt.timing.open_session(key, deviceid, "START-5K")
    passings = [Passing(n, 1_675_440_498_263 + n * 7_000, str(100 + n)) for n in range(1, 32)]
    await rt.timing.record_passings(key, token, passings)
    return "\n".join([
        f"demo account {DEMO_ACCOUNT!r}, READ_WRITE key (with unbind):",
        f"  {key_text}",
        "",
        "race timing (RUFUS v0):",
        f'  curl -X GET -H "Content-Type: application/json" -H "api_key: {key_text}" \\',
        f"    {base_url}/v0/sessions/{token}",
        *await _seed_parking(rt, key, key_text, base_url),
        *await _seed_paging(rt, coap),
        "",
        "live, without polling (Server-Sent Events; ?patch=1 for JSON Patch diffs):",
        f"  curl -N '{base_url}/v0/sessions/{token}/stream?api_key={key_text}'",
        f"  a screen: {base_url}/live?stream=/v1/paging/stream%3Fapi_key%3D{key_text}",
        "",
        "the sessionhub command on this database (keys, locations, migrate; --help lists all):",
        f"  {cli_line(rt.settings.db, 'keys', 'list')}",
        "",
        f"the console (this sign-in link works once, for {LINK_SECONDS // 60} minutes; later sign in with the key):",
        f"  {await console_link(rt, base_url, key_text)}",
    ])


async def console_link(rt: Runtime, base_url: str, key_text: str) -> str:
    """A one-time sign-in link to the console for ``key_text`` (the key itself is not in it)."""
    token = make_link_token(await rt.access.server_secret(SECRET_NAME), key_text)
    return f"{base_url}/console/signin/link?t={token}"


def cli_line(db: str, *args: str) -> str:
    """How to call this very ``sessionhub`` on ``db`` from any directory (it need not be on PATH)."""
    script = Path(sys.executable).parent / "sessionhub"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "sessionhub"]
    if db.startswith("sqlite:///"):  # an absolute path, so the line works from any directory
        db = f"sqlite:///{Path(db.removeprefix('sqlite:///')).resolve()}"
    return shlex.join([*command, *args, "--db", db])


def coap_client() -> str | None:
    """The libcoap client installed here: Debian calls it coap-client-notls (or -gnutls, -openssl)."""
    for name in ("coap-client", "coap-client-notls", "coap-client-gnutls", "coap-client-openssl"):
        if shutil.which(name):
            return name
    return None


async def _seed_paging(rt: Runtime, coap: str | None) -> list[str]:
    """A party of 4 on pager 23 of the demo account's station, unless one is seated there already."""
    account_id = await rt.paging.open_station(DEMO_ACCOUNT)
    if not any(s.number == DEMO_PAGER for s in (await rt.paging.active_sessions(account_id)).sessions):
        await rt.paging.open_session(account_id, DEMO_PAGER, Fields(goal_s=600, label="Sarah", party_size=4), None,
                                     None)
    head = f"guest paging (LRS T7470 CoAP), the station of account {DEMO_ACCOUNT!r} (serve --station-account):"
    if coap is None:
        return ["", head, "  # CoAP is not served: pass --coap HOST:PORT (make run COAP=HOST:PORT)"]
    client = coap_client()
    if client is None:
        return ["", head, f"  # coap://{coap}/v1/sessions?number={DEMO_PAGER} needs a CoAP client: Debian's"
                " libcoap3-bin (apt-get install libcoap3-bin) brings coap-client-notls"]
    return ["", head, f"  {client} -m get 'coap://{coap}/v1/sessions?number={DEMO_PAGER}'"]


async def _seed_parking(rt: Runtime, key: Key | None, key_text: str, base_url: str) -> list[str]:
    """A demo location (3.50 USD/h, 15-minute increments, 24.00 max a day) with a started session."""
    location = await rt.parking.location_by_name(key, DEMO_LOCATION)
    location_id = location.id if location is not None else await rt.parking.create_location(
        DEMO_ACCOUNT, DEMO_LOCATION, 350, "USD", 15, 2400)
    user = user_for(key.account_id if key else 0, "demo-driver")
    found = await rt.parking.sessions_of_user(key, bearer=None, user_id=user, after_id=None, limit=None)
    active = [s for s in found if s.active]
    session = active[0] if active else await rt.parking.create_session(
        key, location_id, bearer=None, user_id=user, barcode=False)
    return [
        "",
        f"parking (Coord Parking Access), location {location_id} {DEMO_LOCATION!r}:",
        f"  curl '{base_url}/v1/access/parking/{location_id}/session/{session.id}?access_key={key_text}'",
    ]
