"""Rules of the design that a reviewer would otherwise have to check by eye."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sessionhub.core.errors import SessionhubError, error_classes, lookup
from sessionhub.http import timing_wire
from sessionhub.http.errors import HTTP_STATUS
from sessionhub.runtime import Runtime

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "sessionhub"


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_imports_only_the_standard_library_and_itself() -> None:
    for path in (PACKAGE / "core").rglob("*.py"):
        for name in imports_of(path):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or name.startswith("sessionhub.core") or top == "__future__", (
                f"{path.name} imports {name}")


@pytest.mark.parametrize("layer", ["core", "service"])
def test_inner_layers_never_import_adapters(layer: str) -> None:
    for path in (PACKAGE / layer).rglob("*.py"):
        for name in imports_of(path):
            assert not name.startswith(("sessionhub.http", "sessionhub.coap", "sessionhub.runtime",
                                        "sessionhub.cli", "starlette", "uvicorn")), f"{path.name} imports {name}"


@pytest.mark.parametrize(("adapter", "others"), [("http", ("sessionhub.coap",)), ("coap", ("sessionhub.http",))])
def test_adapters_never_import_each_other(adapter: str, others: tuple[str, ...]) -> None:
    for path in (PACKAGE / adapter).rglob("*.py"):
        for name in imports_of(path):
            assert not name.startswith(others), f"{adapter}/{path.name} imports {name}"


def test_every_error_class_has_an_http_status_and_a_timing_body() -> None:
    for cls in error_classes():
        assert cls in HTTP_STATUS, cls.__name__
        assert cls in timing_wire.BODIES, cls.__name__


def test_importing_the_package_opens_nothing(tmp_path: Path) -> None:
    code = (
        "import pkgutil, importlib, sessionhub, os\n"
        "for m in pkgutil.walk_packages(sessionhub.__path__, 'sessionhub.'):\n"
        "    if m.name != 'sessionhub.__main__': importlib.import_module(m.name)\n"
        "print(sorted(os.listdir('.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_an_unexpected_failure_is_a_500_without_a_traceback(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(runtime.timing, "devices", broken)
    key = await runtime.access.create_key("acme", "READ")
    r = await client.get("/v0/devices", headers={"api_key": key})
    assert r.status_code == 500 and r.json() == {"description": "Internal server error"}
    assert "secret" not in r.text and "Traceback" not in r.text
    assert "secret internals" in caplog.text  # but it is logged


def test_lookup_walks_the_mro() -> None:
    class Special(SessionhubError):
        pass

    assert lookup(HTTP_STATUS, Special("x")) == 500


STORE_TYPES = tuple(f"sessionhub.store.{path.stem}" for path in sorted((PACKAGE / "store").glob("*.py"))
                    if not path.stem.startswith(("sqlite", "postgres", "migrations", "__")))
"""What of the store the services may name: its repositories (the types they call) and the seam they are
written over, never a driver. Derived from the files, so a new repository module is checked at once."""


def test_services_see_the_store_only_through_its_repositories() -> None:
    for path in (PACKAGE / "service").rglob("*.py"):
        for name in imports_of(path):
            if name.startswith("sessionhub.store"):
                assert name in STORE_TYPES, f"{path.name} imports {name}"


def test_repositories_are_written_once_and_engines_stay_apart() -> None:
    """Repositories import no driver; one engine's modules never import the other's."""
    store = PACKAGE / "store"
    engines = {"sqlite": "sessionhub.store.sqlite", "postgres": "sessionhub.store.postgres"}
    for path in store.glob("*.py"):
        names = imports_of(path)
        if f"sessionhub.store.{path.stem}" in STORE_TYPES:
            assert not {n for n in names if n.startswith(tuple(engines.values()))}, path.name
            assert not {"sqlite3", "asyncpg"} & names, path.name
        for engine in engines:
            if path.stem.startswith(engine):
                others = [m for e, m in engines.items() if e != engine]
                assert not {n for n in names if n.startswith(tuple(others))}, f"{path.name} imports another engine"
