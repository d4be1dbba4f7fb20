"""The short soak (``bench/soak.py --short``) inside ``make test``: 15 s of polling clients, streams,
timing devices and CoAP pages against a real ``sessionhub serve``, with slowloris, herds, floods, bad
bodies, a SIGKILL + restart and (PostgreSQL) ``pg_terminate_backend`` mixed in. Asserted: nothing
acknowledged is lost, nothing is stored twice or invented, and no legitimate client sees a 5xx. The
success rates and latencies are printed (``make soak`` prints the long run's), never asserted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import soak
from tests import pg

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[tuple[str, str | None]]:
    if request.param == "sqlite":
        yield "sqlite", None
        return
    with pg.fresh_schema_sync("soak") as url:
        yield "postgres", url


def test_short_soak_loses_nothing_acknowledged(store: tuple[str, str | None], tmp_path: Path) -> None:
    name, url = store
    result = soak.run(soak.Config.short(name), tmp_path, pg_url=url)
    print("\n" + result.table())
    audit = result.audit
    assert audit.acknowledged > 0, "the devices had nothing acknowledged: the run tested nothing"
    assert (audit.lost, audit.duplicated, audit.invented) == (0, 0, 0), result.table()
    assert result.legit_5xx == 0, result.table()
    assert result.faults["SIGKILL+restart"] == 1
    if name == "postgres":
        assert result.faults["pg_terminate_backend"] >= 1
    for kind in ("poll", "stream", "device", "coap"):
        assert result.kinds[kind].successes > 0, f"no {kind} client ever succeeded:\n{result.table()}"
    assert result.kinds["slowloris"].requests and result.kinds["flood"].requests
