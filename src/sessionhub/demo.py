"""The demo account ``make run`` seeds: a READ_WRITE key, a timing device with a session of
passings, a parking location with a started session, a guest on pager 23 of the account's paging
station, and the lines (curl, coap-client, a browser page) that read them.
Running it again issues a fresh key (revoking the previous demo key) and reuses the rest.
"""

from __future__ import annotations

from sessionhub.config import DEFAULT_COAP, DEMO_ACCOUNT
from sessionhub.core.access import Key
from sessionhub.core.errors import AlreadyExists, SessionsNotFound
from sessionhub.core.paging import Fields
from sessionhub.core.parking import user_for
from sessionhub.core.timing import Passing
from sessionhub.runtime import Runtime

DEMO_ALIAS = "demo (make run)"
DEMO_SERIAL = "DEMO-001"
DEMO_LOCATION = "Demo garage"
DEMO_PAGER = 23


async def seed(rt: Runtime, base_url: str, coap: str = DEFAULT_COAP) -> str:
    """Seed the demo objects; return what to print."""
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
    ])


async def _seed_paging(rt: Runtime, coap: str) -> list[str]:
    """A party of 4 on pager 23 of the demo account's station, unless one is seated there already."""
    account_id = await rt.paging.open_station(DEMO_ACCOUNT)
    if not any(s.number == DEMO_PAGER for s in (await rt.paging.active_sessions(account_id)).sessions):
        await rt.paging.open_session(account_id, DEMO_PAGER, Fields(goal_s=600, label="Sarah", party_size=4), None,
                                     None)
    return [
        "",
        f"guest paging (LRS T7470 CoAP), the station of account {DEMO_ACCOUNT!r} (serve --station-account):",
        f"  coap-client -m get 'coap://{coap}/v1/sessions?number={DEMO_PAGER}'    # Debian: coap-client-notls",
    ]


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
