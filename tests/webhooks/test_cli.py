"""``sessionhub webhooks ...``: the secret is printed once, and every subcommand works on a database file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _cli(db: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "sessionhub", "webhooks", *args, "--db", db],
                         capture_output=True, text=True, timeout=60)
    assert (out.returncode == 0) is ok, (out.returncode, out.stdout, out.stderr)
    return out


@pytest.mark.slow
def test_webhooks_commands(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    refused = _cli(db, "create", "--account", "acme", "--url", "http://127.0.0.1:9/h", "--kinds", "timing.session",
                   ok=False)
    assert "not a public address" in refused.stderr and refused.returncode == 1
    assert "http:// or https://" in _cli(db, "create", "--account", "acme", "--url", "gopher://x/", "--kinds",
                                         "timing.session", ok=False).stderr
    made = _cli(db, "create", "--account", "acme", "--url", "http://127.0.0.1:9/h", "--kinds",
                "timing.session,parking.session", "--webhook-allow-networks", "127.0.0.0/8")
    sid, secret = made.stdout.strip().split("\t")
    assert secret.startswith("whsec_") and "shown only this once" in made.stderr
    listed = _cli(db, "list").stdout
    assert f"{sid}\tacme\thttp://127.0.0.1:9/h\tparking.session,timing.session" in listed and secret not in listed
    assert _cli(db, "list", "--account", "rival").stdout == ""
    assert _cli(db, "disable", sid).stdout.strip() == "disabled"
    assert "disabled (disabled by an operator)" in _cli(db, "list").stdout
    assert _cli(db, "enable", sid).stdout.strip() == "enabled"
    assert _cli(db, "replay", sid, "--from", "1").stdout.strip() == "replaying from seq 1"
    assert "cursor 0" in _cli(db, "list").stdout
    assert _cli(db, "deliveries", sid, "--limit", "5").stdout == ""
    assert "--limit" in _cli(db, "deliveries", sid, "--limit", "0", ok=False).stderr
    assert _cli(db, "delete", sid).stdout.strip() == "deleted"
    assert "no webhook subscription" in _cli(db, "delete", sid, ok=False).stderr
