"""What an operator relies on: HTTPS with --tls-cert/--tls-key (curl --cacert), client addresses behind a
proxy (--forwarded-allow-ips), data files 0600, the JWT secret kept out of the database, and a systemd
unit that systemd accepts."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import logging
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sessionhub import logs
from sessionhub.config import Settings
from sessionhub.runtime import private_files, with_jwt_secret
from tests.conftest import free_port, start_server, stop_server, wait_for_port

ROOT = Path(__file__).resolve().parents[1]


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key, made here."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sessionhub test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def migrated(tmp: Path, name: str = "d.db") -> str:
    db = f"sqlite:///{tmp / name}"
    subprocess.run([sys.executable, "-m", "sessionhub", "migrate", "--db", db], check=True, capture_output=True,
                   timeout=60)
    return db


@pytest.mark.slow
@pytest.mark.system  # curl
def test_https_with_a_self_signed_certificate(tmp_path: Path) -> None:
    cert, key_file = self_signed(tmp_path)
    db = migrated(tmp_path)
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "sessionhub", "serve", "--db", db, "--http",
                                 f"127.0.0.1:{port}", "--coap", "off", "--tls-cert", str(cert), "--tls-key",
                                 str(key_file)], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc, log)
        key = subprocess.run([sys.executable, "-m", "sessionhub", "keys", "create", "--account", "acme", "--access",
                              "READ", "--db", db], check=True, capture_output=True, text=True).stdout.strip()
        ok = subprocess.run(["curl", "-sS", "--cacert", str(cert), "-H", f"api_key: {key}", "-w", "\n%{http_code}",
                             f"https://127.0.0.1:{port}/v0/devices"], capture_output=True, text=True, timeout=30)
        assert ok.stdout.endswith("\n200"), ok.stderr
        untrusted = subprocess.run(["curl", "-sS", f"https://127.0.0.1:{port}/v0/devices"], capture_output=True,
                                   text=True, timeout=30)
        assert untrusted.returncode == 60  # curl: peer certificate cannot be authenticated
        plain = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                                f"http://127.0.0.1:{port}/v0/devices"], capture_output=True, text=True, timeout=30)
        assert plain.stdout != "200"  # no plain HTTP on a TLS port
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0


def test_tls_and_proxy_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="go together"):
        Settings(tls_cert=str(tmp_path / "c.pem")).check()
    with pytest.raises(ValueError, match="no such file"):
        Settings(tls_cert=str(tmp_path / "c.pem"), tls_key=str(tmp_path / "k.pem")).check()
    with pytest.raises(ValueError, match="--forwarded-allow-ips"):
        Settings(forwarded_allow_ips=("proxy.example",)).check()
    Settings(forwarded_allow_ips=("127.0.0.1", "10.0.0.0/8", "*")).check()


@pytest.mark.slow
def test_client_addresses_behind_a_believed_proxy_only(tmp_path: Path) -> None:
    db = migrated(tmp_path)
    forged = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    for allow, want in (((), "127.0.0.1"), (("127.0.0.1",), "203.0.113.7"), (("10.0.0.0/8",), "127.0.0.1")):
        extra = [arg for ip in allow for arg in ("--forwarded-allow-ips", ip)]
        log = tmp_path / f"server-{len(allow)}-{want}.log"
        server = start_server(db, log, "--access-log", "json", "--log-format", "json", *extra)
        try:
            httpx.get(f"{server.base_url}/v0/devices", headers=forged, timeout=30)
        finally:
            stop_server(server)
        access = [x for x in map(json.loads, log.read_text().splitlines()) if x["logger"] == "sessionhub.access"]
        assert [x["client"] for x in access] == [want], (allow, access)


def test_data_files_are_the_owners_alone(tmp_path: Path) -> None:
    db = migrated(tmp_path / "new")  # the directory too is created by the command
    path = Path(db.removeprefix("sqlite:///"))
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    server = start_server(db, tmp_path / "server.log")
    try:
        key = server.cli("keys", "create", "--account", "acme", "--access", "READ_WRITE")
        httpx.post(f"{server.base_url}/v0/devices", json={"model": "X1", "serial_number": "S-1"},
                   headers={"api_key": key}, timeout=30).raise_for_status()
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}.jwt-secret")]
        assert all(f.exists() for f in files), list(path.parent.iterdir())
        assert {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {f.name: "0o600" for f in files}
    finally:
        stop_server(server)
    old = tmp_path / "old.db"  # a database an older version left world-readable is tightened at start
    sqlite3.connect(old).close()
    old.chmod(0o644)
    private_files(f"sqlite:///{old}")
    assert stat.S_IMODE(old.stat().st_mode) == 0o600


@pytest.mark.slow
def test_the_jwt_secret_is_not_in_the_database(tmp_path: Path) -> None:
    db = migrated(tmp_path)
    path = Path(db.removeprefix("sqlite:///"))

    def mint(server_url: str, key: str) -> str:
        r = httpx.post(f"{server_url}/v1/users/create_jwt", json={"external_uid": "driver-1"},
                       params={"access_key": key}, timeout=30)
        assert r.status_code == 200, r.text
        return str(r.json()["jwt_token"])

    server = start_server(db, tmp_path / "server.log")
    try:
        key = server.cli("keys", "create", "--account", "acme", "--access", "READ_WRITE")
        token = mint(server.base_url, key)
    finally:
        stop_server(server)
    secret = Path(f"{path}.jwt-secret").read_text().strip()
    signing_key = hashlib.sha256(secret.encode()).digest()
    assert jwt.decode(token, signing_key, algorithms=["HS256"], options={"verify_aud": False})["sub"]
    with sqlite3.connect(path) as conn:  # what a reader of the database alone has
        stored = [v for (v,) in conn.execute("SELECT value FROM server_secrets")]
    for value in stored:
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(token, hashlib.sha256(value.encode()).digest(), algorithms=["HS256"],
                       options={"verify_aud": False})
    assert secret not in path.read_bytes().decode("latin-1")
    server = start_server(db, tmp_path / "server.log")  # the same secret after a restart: tokens stay valid
    try:
        r = httpx.get(f"{server.base_url}/v1/access/parking/session", params={"access_key": key},
                      headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 200, r.text
    finally:
        stop_server(server)


def test_jwt_secret_sources(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert with_jwt_secret(Settings(db="sqlite:///x.db", jwt_secret="given")).jwt_secret == "given"
    file = tmp_path / "secret"
    first = with_jwt_secret(Settings(db="postgresql://u@h/d", jwt_secret_file=str(file))).jwt_secret
    assert first and file.read_text().strip() == first and stat.S_IMODE(file.stat().st_mode) == 0o600
    assert with_jwt_secret(Settings(db="postgresql://u@h/d", jwt_secret_file=str(file))).jwt_secret == first
    with caplog.at_level(logging.WARNING, logger="sessionhub"):
        assert with_jwt_secret(Settings(db="postgresql://u@h/d")).jwt_secret is None
    assert "SESSIONHUB_JWT_SECRET" in caplog.text
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        with_jwt_secret(Settings(db="sqlite:///x.db", jwt_secret_file=str(tmp_path / "empty")))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    unit = (ROOT / "deploy" / "sessionhub.service").read_text()
    for needed in ("ProtectSystem=strict", "NoNewPrivileges=true", "PrivateTmp=true", "UMask=0077",
                   "CapabilityBoundingSet=\n"):
        assert needed in unit, needed
    script = Path(sys.executable).parent / "sessionhub"
    (tmp_path / "sessionhub.service").write_text(unit.replace("/opt/sessionhub/bin/sessionhub", str(script)))
    out = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "sessionhub.service")], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr


def test_json_formatter_keeps_extra_fields_and_tracebacks() -> None:
    record = logging.LogRecord("sessionhub", logging.ERROR, __file__, 1, "boom %s", ("x",), None, func="f")
    record.status = 500
    try:
        raise RuntimeError("why")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    got = json.loads(logs.JsonFormatter().format(record))
    assert (got["msg"], got["level"], got["status"]) == ("boom x", "ERROR", 500) and "RuntimeError: why" in got["exc"]
