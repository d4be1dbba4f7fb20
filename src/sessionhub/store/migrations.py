"""Schema migrations: plain SQL files ``schema/<engine>/NNNN_name.sql``, applied in order.

The version of a database is the number of the last file applied. A store opened by ``serve``
checks it: behind means "run ``sessionhub migrate``" (SQLite, the embedded default, is migrated
in place by ``serve``), ahead means this build is older than the database and must not touch it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(engine: str) -> list[Migration]:
    """Every migration of ``engine`` ("sqlite" or "postgres"), in order."""
    folder = resources.files("sessionhub.store") / "schema" / engine
    out = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            out.append(Migration(int(number), rest.removesuffix(".sql"), entry.read_text("utf-8")))
    out.sort(key=lambda m: m.version)
    versions = [m.version for m in out]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"{engine} migrations share a number: {versions}")
    return out


def latest(engine: str) -> int:
    """The version a fully migrated database is at: the highest migration number."""
    return max((m.version for m in migrations(engine)), default=0)
