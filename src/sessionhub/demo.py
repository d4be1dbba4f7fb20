"""The demo account ``make run`` seeds: a READ_WRITE key, a timing device with a session of
passings, and the curl lines that read them. Running it again issues a fresh key (revoking the
previous demo key) and reuses the rest.
"""

from __future__ import annotations

from sessionhub.config import DEMO_ACCOUNT
from sessionhub.core.errors import AlreadyExists, SessionsNotFound
from sessionhub.core.timing import Passing
from sessionhub.runtime import Runtime

DEMO_ALIAS = "demo (make run)"
DEMO_SERIAL = "DEMO-001"


async def seed(rt: Runtime, base_url: str) -> str:
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
    ])
