"""Rules of the design that a reviewer would otherwise have to check by eye."""

from __future__ import annotations

import ast
import builtins
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


ENTRY = None
"""An entry point or the composition root: it may wire anything."""
LAYERS: dict[str, set[str] | None] = {
    "core": {"core"},  # decides; the standard library only (the test above)
    "service": {"core", "service", "store"},  # owns the rules; the store's repositories (the test below)
    "store": {"core", "store", "service"},  # implements service.ports (the port is the service's)
    "live": {"core", "live", "service"},  # the change hub: what adapters push from
    "config": {"core", "config"},
    "logs": {"logs"},
    "http": {"core", "service", "live", "config", "http"},  # adapters: never another adapter or the root
    "coap": {"core", "service", "live", "coap"},
    "web": {"core", "service", "live", "web"},  # the console: an adapter like http and coap
    "simulate": {"simulate"},  # clients of a running server: nothing of the server's
    "webhooks": {"core", "service", "webhooks"},  # the outbound adapter: POSTs what the service renders
    "runtime": ENTRY, "cli": ENTRY, "__main__": ENTRY, "demo": ENTRY, "streamrank": ENTRY,
}
"""What each part of the package may import of the package (its first name after ``sessionhub.``).
A new package or top-level module must say here where it sits."""
ADAPTERS = ("http", "coap", "web", "webhooks")


def layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_imports_only_what_its_layer_may(path: Path) -> None:
    layer = layer_of(path)
    if path.name == "__init__.py" and path.parent == PACKAGE:
        return  # the package itself: its version
    assert layer in LAYERS, f"{layer} is in no layer: add it to LAYERS"
    allowed = LAYERS[layer]
    if allowed is ENTRY:
        return
    for name in imports_of(path):
        if name == "sessionhub":
            continue  # the version
        if name.startswith("sessionhub."):
            assert name.split(".")[1] in allowed, f"{path.relative_to(PACKAGE)} ({layer}) imports {name}"
        elif layer not in ADAPTERS:
            assert not name.startswith(("starlette", "uvicorn", "httptools")), f"{path.name} imports {name}"


def test_no_adapter_may_import_another_or_the_root() -> None:
    for adapter in ADAPTERS:
        allowed = LAYERS[adapter]
        assert allowed is not None and not allowed & ({*ADAPTERS} - {adapter}) and "runtime" not in allowed


WIRE_ERRORS = {("coap/wire.py", "MalformedMessage"), ("simulate/clients.py", "Refused")}
"""Exceptions outside the one error tree (core/errors.py), each internal to one adapter: a datagram that
is not CoAP at all is dropped by the transport (RFC 7252 §4.2), it never becomes an error reply; and the
simulators' ``Refused``, a server's error answer as a client sees it (simulate/ is a client, not the server)."""


def test_one_error_tree() -> None:
    """Every exception class of the package is in core/errors.py, but the wire-level ones listed."""
    exceptions = {name for name, value in vars(builtins).items()
                  if isinstance(value, type) and issubclass(value, BaseException)}
    exceptions |= {cls.__name__ for cls in error_classes()}
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            bases = {b.id if isinstance(b, ast.Name) else b.attr for b in getattr(node, "bases", ())
                     if isinstance(b, ast.Name | ast.Attribute)}
            if isinstance(node, ast.ClassDef) and bases & exceptions:
                found.add((str(path.relative_to(PACKAGE)), node.name))
    outside = {(p, c) for p, c in found if p != "core/errors.py"}
    assert outside == WIRE_ERRORS, outside


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


SANS_IO_STORE = ("boundaries",)
"""Store modules that only decide (kept page boundaries): no driver, no I/O, no other store module."""


def test_the_store_s_sans_io_modules_import_only_the_core_and_pure_stdlib() -> None:
    pure = {"__future__", "collections", "dataclasses", "typing"}
    for stem in SANS_IO_STORE:
        for name in imports_of(PACKAGE / "store" / f"{stem}.py"):
            assert name.startswith("sessionhub.core") or name.split(".")[0] in pure, f"{stem}.py imports {name}"


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
