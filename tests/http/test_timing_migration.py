"""Moving off RUFUS Cloud, over a real socket with curl: ``keys import`` and ``devices import`` keep a
reader's stored key and deviceid working, and a TasTimer-style client runs its whole flow (bind, a
409 on rebind taken as bound, session, batches) against ``sessionhub serve``."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import Server

pytestmark = pytest.mark.slow

RUFUS_KEY = "ror-ae4fc6c19681a20fad30"  # the docs' example key: what a reader in the field stores
DEVICEID = "2A19294BB886C3D5C7783309BBC6E385515C843893A6BC126FECE3904C6E2B25"


def curl(server: Server, method: str, path: str, key: str, body: Any = None,
         header: str = "x-api-key") -> tuple[int, Any]:
    argv = ["curl", "-sS", "-X", method, "-H", "Content-Type: application/json", "-H", f"{header}: {key}",
            "-w", "\n%{http_code}", "--max-time", "20", server.base_url + path]
    if body is not None:
        argv += ["--data-binary", json.dumps(body)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout
    text, _, status = out.rpartition("\n")
    return int(status), json.loads(text)


def cli_fails(server: Server, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "sessionhub", *args, "--db", server.db], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1, out
    return out.stderr


class TasTimer:
    """The flow of the public TasTimer client (RufusAPIClient.java): x-api-key, bind with type
    CUSTOM_CHRONO (200, 201 and 409 all mean bound, the deviceid read from the body), open a
    session, send the reads in batches."""

    def __init__(self, server: Server, key: str) -> None:
        self.server, self.key = server, key

    def bind(self, serial: str) -> str:
        status, got = curl(self.server, "POST", "/v0/devices", self.key,
                           {"type": "CUSTOM_CHRONO", "model": "TimingSoft", "serial_number": serial, "alias": "Finish"})
        assert status in (200, 201, 409), got
        return str(got["deviceid"])

    def session(self, deviceid: str, alias: str) -> str:
        status, got = curl(self.server, "POST", "/v0/sessions", self.key, {"deviceid": deviceid, "alias": alias})
        assert status in (200, 201), got
        return str(got["token_session"])

    def send(self, token: str, reads: list[tuple[int, str, str]]) -> dict[str, Any]:
        batch = [{"num_passing": n, "bib": bib, "chip": f"0000000000000{bib}", "timestamp": ts} for n, bib, ts in reads]
        status, got = curl(self.server, "POST", "/v0/passings", self.key, {"token_session": token,
                                                                           "passings_list": batch})
        assert status in (200, 201), got
        return got  # type: ignore[no-any-return]


def test_an_imported_key_and_deviceid_keep_a_reader_working(server: Server) -> None:
    assert server.cli("keys", "import", RUFUS_KEY, "--account", "acme", "--access", "READ_WRITE") == "imported"
    assert server.cli("devices", "import", "--account", "acme", "--deviceid", DEVICEID.lower(), "--model",
                      "One4All 5 PRO", "--serial-number", "O4A-00150", "--type", "One4All") == DEVICEID
    status, info = curl(server, "GET", f"/v0/devices/{DEVICEID}", RUFUS_KEY, header="api_key")
    assert status == 200 and info["result"]["deviceid"] == DEVICEID and info["result"]["type"] == "One4All"

    timer = TasTimer(server, RUFUS_KEY)
    assert timer.bind("O4A-00150") == DEVICEID  # 409: already bound, the stored id comes back
    token = timer.session(DEVICEID, "START-5K")
    first = timer.send(token, [(1, "7", "2023-01-22T09:20:25.000Z"), (2, "17", "2023-01-22T09:21:33.000Z")])
    again = timer.send(token, [(2, "17", "2023-01-22T09:21:33.000Z"), (3, "5", "2023-01-22T09:22:00.000Z")])
    assert (first["inserted_count"], again["inserted_count"], again["duplicate_count"]) == (2, 1, 1)
    status, got = curl(server, "GET", f"/v0/passings/session/{token}", RUFUS_KEY)
    assert status == 200 and [p["num_passing"] for p in got["result"]] == [1, 2, 3]

    # a brand-new reader binds, is re-bound after a restart of its app (409 = bound), and keeps going
    fresh = timer.bind("TT-0001")
    assert timer.bind("TT-0001") == fresh
    assert timer.send(timer.session(fresh, "KM10"), [(1, "9", "2023-01-22T10:00:00.000Z")])["inserted_count"] == 1


def test_imports_refuse_what_would_break_a_client(server: Server) -> None:
    server.cli("keys", "import", RUFUS_KEY, "--account", "acme", "--access", "WRITE")
    assert "already issued" in cli_fails(server, "keys", "import", RUFUS_KEY, "--account", "acme", "--access", "READ")
    for bad in ("short-key", "ror with space 0123456789", "x" * 257, "clé-0123456789abcdef"):
        assert "imported key" in cli_fails(server, "keys", "import", bad, "--account", "acme", "--access", "READ")
    assert "unbind" in cli_fails(server, "keys", "import", "ror-00000000000000000000", "--account", "acme",
                                 "--access", "READ", "--unbind")
    device = ["--account", "acme", "--model", "X", "--serial-number", "S-1"]
    server.cli("devices", "import", "--deviceid", DEVICEID, *device)
    assert "already binded" in cli_fails(server, "devices", "import", "--deviceid", DEVICEID, *device[:4],
                                         "--serial-number", "S-2")
    assert "already binded" in cli_fails(server, "devices", "import", "--deviceid", "B" * 64, *device)
    elsewhere = cli_fails(server, "devices", "import", "--deviceid", DEVICEID, "--account", "other", "--model", "X",
                          "--serial-number", "S-9")
    assert "already binded elsewhere" in elsewhere and "Traceback" not in elsewhere
    for bad in ("sess-abc123", "A" * 63, "G" * 64):
        assert "64 hexadecimal" in cli_fails(server, "devices", "import", "--deviceid", bad, *device)
    # the imported key reaches the imported device; another account's key does not
    other = server.cli("keys", "create", "--account", "rival", "--access", "READ")
    assert curl(server, "GET", f"/v0/devices/{DEVICEID}", other)[0] == 404
    assert curl(server, "POST", "/v0/sessions", RUFUS_KEY, {"deviceid": DEVICEID})[0] == 201
    server.cli("keys", "revoke", RUFUS_KEY)  # a revoked value stays revoked: importing it again is refused
    refused = cli_fails(server, "keys", "import", RUFUS_KEY, "--account", "acme", "--access", "READ")
    assert "already issued" in refused and "Traceback" not in refused
