"""Settings said once: every field is a ``serve`` flag and a ``SESSIONHUB_*`` variable, with its
docstring as help; a flag wins over the variable, the variable over the default."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sessionhub import __version__, cli, config
from sessionhub.config import Settings


def serve_settings(*argv: str, env: dict[str, str] | None = None) -> Settings:
    args = cli.parser().parse_args(["serve", *argv])
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env or {})
        return cli._serve_settings(args)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_every_field_is_documented_and_listed_by_serve_help() -> None:
    out = subprocess.run([sys.executable, "-m", "sessionhub", "serve", "--help"], capture_output=True, text=True,
                         check=True, env={**os.environ, "COLUMNS": "200"}).stdout
    names = [f.name for f in dataclasses.fields(Settings)]
    assert {s.name for s in config.specs()} == set(names)
    for spec in config.specs():
        assert spec.doc, f"Settings.{spec.name} has no docstring (its --help text)"
        if not spec.cli:
            continue
        assert spec.env in out, spec.env
        if not spec.secret:
            assert spec.flag in out and spec.doc.rstrip(".")[:40] in " ".join(out.split()), spec.flag


def test_the_environment_sets_every_flag_and_a_flag_wins() -> None:
    s = serve_settings(env={"SESSIONHUB_HTTP": "127.0.0.1:9", "SESSIONHUB_DB": "sqlite:////tmp/x.db",
                            "SESSIONHUB_COAP": "127.0.0.1:7", "SESSIONHUB_STATION_ACCOUNT": "bistro",
                            "SESSIONHUB_COAP_ALLOW": "10.0.0.0/8, 192.168.1.0/24", "SESSIONHUB_JWT_SECRET": "s3"})
    assert (s.http, s.db, s.coap, s.station_account, s.coap_allow, s.jwt_secret, s.coap_optional) == (
        "127.0.0.1:9", "sqlite:////tmp/x.db", ("127.0.0.1:7",), "bistro", ("10.0.0.0/8", "192.168.1.0/24"), "s3", False)
    s = serve_settings("--http", "127.0.0.1:10", "--coap-allow", "10.1.0.0/16", "--coap-allow", "::1/128",
                       env={"SESSIONHUB_HTTP": "127.0.0.1:9", "SESSIONHUB_COAP_ALLOW": "10.0.0.0/8"})
    assert s.http == "127.0.0.1:10" and s.coap_allow == ("10.1.0.0/16", "::1/128")


def test_existing_flags_keep_their_meaning() -> None:
    s = serve_settings("--db", "sqlite:///a.db", "--http", "0.0.0.0:80", "--coap", "off", "--station-account", "x")
    assert (s.db, s.http, s.coap, s.station_account) == ("sqlite:///a.db", "0.0.0.0:80", (), "x")
    s = serve_settings()
    assert (s.coap, s.coap_optional, s.http) == ((config.DEFAULT_COAP,), True, config.DEFAULT_HTTP)
    with pytest.raises(ValueError, match="--coap-allow must be a CIDR"):
        serve_settings("--coap-allow", "nonsense")
    with pytest.raises(ValueError, match="--http must be HOST:PORT"):
        serve_settings(env={"SESSIONHUB_HTTP": "nope"})


def test_typed_values_parse_from_flags_and_variables() -> None:
    def spec(kind: type, **kw: object) -> config.Spec:
        base = dict(name="x_y", kind=kind, optional=False, choices=None, default=None, doc="d.", cli=True,
                    secret=False, default_help=None, metavar=None)
        return config.Spec(**{**base, **kw})  # type: ignore[arg-type]

    assert spec(bool).flag == "--x-y" and spec(bool).env == "SESSIONHUB_X_Y"
    assert [spec(bool).parse_env(t) for t in ("1", "On", "no", "FALSE")] == [True, True, False, False]
    assert spec(int).parse_env(" 42 ") == 42 and spec(float).parse_env("0.5") == 0.5
    assert spec(tuple).parse_env("a,, b ,") == ("a", "b")
    with pytest.raises(ValueError, match="SESSIONHUB_X_Y"):
        spec(int).parse_env("4x")
    with pytest.raises(ValueError, match="SESSIONHUB_X_Y"):
        spec(str, choices=("off", "json")).parse_env("xml")
    assert "env SESSIONHUB_X_Y; default: 3" in spec(int, default=3).help()


def test_version() -> None:
    out = subprocess.run([sys.executable, "-m", "sessionhub", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"sessionhub {__version__}"


def test_the_default_database_does_not_depend_on_the_working_directory(tmp_path: Path) -> None:
    assert config.default_db({"XDG_DATA_HOME": "/srv/data", "HOME": "/home/u"}) == \
        "sqlite:////srv/data/sessionhub/sessionhub.db"
    assert config.default_db({"HOME": "/home/u"}) == "sqlite:////home/u/.local/share/sessionhub/sessionhub.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONHUB_")}
    env.update(XDG_DATA_HOME=str(tmp_path / "data"))
    for cwd in (tmp_path / "a", tmp_path / "b"):
        cwd.mkdir()
        subprocess.run([sys.executable, "-m", "sessionhub", "keys", "create", "--account", "acme", "--access", "READ"],
                       cwd=cwd, env=env, check=True, capture_output=True, timeout=60)
        assert not list(cwd.iterdir())
    listing = subprocess.run([sys.executable, "-m", "sessionhub", "keys", "list"], cwd=tmp_path, env=env,
                             check=True, capture_output=True, text=True, timeout=60).stdout
    assert len(listing.splitlines()) == 2  # both runs wrote the one database
    assert (tmp_path / "data" / "sessionhub" / "sessionhub.db").exists()


def test_several_coap_stations() -> None:
    s = serve_settings("--coap", "127.0.0.1:7001=north", "--coap", "[::1]:7002=south", "--coap", "127.0.0.1:7003",
                       "--coap", "127.0.0.1:7004=bistro/site-2", "--coap", "127.0.0.1:7005=bistro/default")
    assert s.coap[:3] == ("127.0.0.1:7001=north", "[::1]:7002=south", "127.0.0.1:7003") and not s.coap_optional
    CS = config.CoapStation
    assert [config.coap_station(t, s.station_account) for t in s.coap] == [
        CS("127.0.0.1", 7001, "north", "default"), CS("::1", 7002, "south", "default"),
        CS("127.0.0.1", 7003, config.DEMO_ACCOUNT, "default"), CS("127.0.0.1", 7004, "bistro", "site-2"),
        CS("127.0.0.1", 7005, "bistro", "default")]
    with pytest.raises(ValueError, match="given twice"):
        serve_settings("--coap", "127.0.0.1:7001=a", "--coap", "127.0.0.1:7001=b")
    with pytest.raises(ValueError, match="--coap must be HOST:PORT"):
        serve_settings("--coap", "nowhere=a")


@pytest.mark.parametrize("bad", ["", "North", "a_b", "-a", "a/b", "caf\u00e9", "x" * 33, "a b"])
def test_a_station_name_is_short_lowercase_ascii(bad: str) -> None:
    with pytest.raises(ValueError, match=r"--coap '127.0.0.1:7001=bistro/.*': a station name is 1 to 32 of"):
        serve_settings("--coap", f"127.0.0.1:7001=bistro/{bad}")


def test_one_station_is_served_on_one_address() -> None:
    # ACCOUNT alone is ACCOUNT/default: the same station twice, a site whose /STATION was forgotten
    for second in ("127.0.0.1:7002=bistro", "127.0.0.1:7002=bistro/default", "[::1]:7001=bistro"):
        with pytest.raises(ValueError, match="station 'default' of account 'bistro' is already served on"):
            serve_settings("--coap", "127.0.0.1:7001=bistro", "--coap", second)
    with pytest.raises(ValueError, match="already served"):  # ephemeral ports too
        serve_settings("--coap", "127.0.0.1:0=bistro/north", "--coap", "127.0.0.1:0=bistro/north")
    with pytest.raises(ValueError, match="already served"):  # --station-account is the default ACCOUNT
        serve_settings("--station-account", "bistro", "--coap", "127.0.0.1:7001", "--coap", "127.0.0.1:7002=bistro")
    s = serve_settings("--coap", "127.0.0.1:7001=bistro/north", "--coap", "127.0.0.1:7002=bistro/south",
                       "--coap", "127.0.0.1:7003=cafe/north")
    assert len(s.coap) == 3
