"""Webhook delivery against a real loopback receiver that fails, stalls and restarts, on both stores:
nothing lost, nothing out of order per topic, retries in the log and in /metrics, signatures verify,
disable-after-N, replay, restart of the server, address refusals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from sessionhub.config import Settings
from sessionhub.core.errors import InvalidInput
from sessionhub.core.paging import Action, Fields
from sessionhub.runtime import Runtime, build
from tests.live.conftest import serve_live
from tests.webhooks.conftest import FAST, Receiver, Timing, delivering, verify


async def _log_seqs(rt: Runtime, account: str, prefix: str) -> list[tuple[int, str]]:
    """(seq, topic) of every change of ``prefix`` the account has, in seq order (the truth)."""
    account_id = await rt.store.reads.accounts.account_id(account)
    assert account_id is not None
    return [(c.seq, c.topic) for c in await rt.store.reads.accounts.changes_of(account_id, prefix, 0, 10_000)]


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    """Wait until ``check()`` holds (a commit follows the receiver's answer; the machine may be busy)."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "still not so"
        await asyncio.sleep(0.02)


def _sample(metrics: str, name: str) -> float:
    """The value of one sample of a Prometheus text exposition."""
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}")


def _first_deliveries(receiver: Receiver) -> list[tuple[int, str]]:
    seen: dict[int, str] = {}
    for r in receiver.delivered():
        seen.setdefault(r.seq, r.json["topic"])
    return list(seen.items())


def _assert_in_order(receiver: Receiver) -> None:
    """One request in flight, changes in seq order: every request's seq is >= the one before."""
    seqs = [r.seq for r in receiver.got]
    assert seqs == sorted(seqs), seqs


async def test_failing_stalling_restarting_receiver_loses_nothing(db_url: str, receiver: Receiver) -> None:
    settings = Settings(db=db_url, **FAST)  # type: ignore[arg-type]
    async with serve_live(settings) as live:
        rt = live.runtime
        created = await rt.webhooks.create("acme", receiver.url, "timing.session")
        secret, sid = created.secret, created.subscription.id
        timing = Timing(rt)
        a, b = await timing.session(), await timing.session()
        plan = ["fail", "fail", "fail", "stall", "ok", "fail", "stall"]
        receiver.plan = list(plan)
        for _ in range(4):
            await timing.batch(a)
            await timing.batch(b, 2)
        await receiver.wait_for(lambda: len(receiver.delivered()) >= 3)
        await receiver.stop()  # down: connections refused while changes keep coming
        for _ in range(3):
            await timing.batch(b)
            await timing.batch(a)
        await asyncio.sleep(0.3)
        await receiver.start()  # back on the same port
        truth = await _log_seqs(rt, "acme", "timing/session/")
        await receiver.wait_for(lambda: {s for s, _ in _first_deliveries(receiver)} >= {s for s, _ in truth})

        assert _first_deliveries(receiver) == truth  # nothing lost, each topic (and all) in seq order
        _assert_in_order(receiver)
        assert all(verify(secret, r) for r in receiver.got)
        assert all(r.headers["webhook-id"] == str(r.json["seq"]) for r in receiver.got)
        body = next(r.json for r in receiver.delivered() if r.json["data"].get("event") == "passings")
        assert body["type"] == "timing.session" and body["data"]["passings"][0]["bib"]

        log = await rt.webhooks.deliveries(sid, 1000)
        assert any(x.status == 500 and x.attempt > 1 and x.next_retry_ms for x in log)
        assert any(x.error and "timed out" in x.error for x in log)
        assert any(x.status is None and x.error and "timed out" not in x.error for x in log)  # refused while down
        stats = rt.webhook_stats
        assert stats is not None and stats.retries >= 5
        metrics = (await live.http.get("/metrics")).text
        assert _sample(metrics, "sessionhub_webhook_retries_total") >= stats.retries
        fails, stalls = plan.count("fail"), plan.count("stall")  # at least: a busy machine may time out more
        assert _sample(metrics, 'sessionhub_webhook_deliveries_total{outcome="http_error"}') >= fails
        assert _sample(metrics, 'sessionhub_webhook_deliveries_total{outcome="timeout"}') >= stalls
        assert _sample(metrics, 'sessionhub_webhook_deliveries_total{outcome="network_error"}') >= 1  # while down
        assert _sample(metrics, 'sessionhub_webhook_deliveries_total{outcome="delivered"}') >= len(truth)
        assert _sample(metrics, "sessionhub_webhook_attempt_duration_seconds_count") == sum(stats.outcomes.values())
        async def caught_up() -> bool:
            return (await rt.webhooks.subscription(sid)).cursor >= truth[-1][0]

        await _eventually(caught_up)
        assert (await rt.webhooks.subscription(sid)).failures == 0


async def test_disabled_after_n_failures_then_enabled_delivers_what_waited(db_url: str, receiver: Receiver) -> None:
    async with delivering(db_url, webhook_max_failures=3) as rt:
        created = await rt.webhooks.create("acme", receiver.url, "timing.session")
        sid = created.subscription.id
        receiver.plan = ["fail"] * 3
        timing = Timing(rt)
        token = await timing.session()
        await receiver.wait_for(lambda: len(receiver.got) >= 3)
        async def disabled() -> bool:
            return not (await rt.webhooks.subscription(sid)).enabled

        await _eventually(disabled)
        sub = await rt.webhooks.subscription(sid)
        assert not sub.enabled and "3 consecutive failed attempts" in (sub.disabled_reason or "")
        log = await rt.webhooks.deliveries(sid, 10)
        assert [x.attempt for x in log] == [3, 2, 1] and log[0].next_retry_ms is None
        await asyncio.sleep(0.3)
        assert len(receiver.got) == 3  # nothing more is sent while disabled
        await timing.batch(token)  # a change while disabled waits at the cursor
        stats = rt.webhook_stats
        assert stats is not None and stats.disabled_total == 1

        await rt.webhooks.set_enabled(sid, True)
        truth = await _log_seqs(rt, "acme", "timing/session/")
        await receiver.wait_for(lambda: [s for s, _ in _first_deliveries(receiver)] == [s for s, _ in truth])
        assert (await rt.webhooks.subscription(sid)).failures == 0


async def test_disabling_ends_a_back_off_and_enabling_retries_at_once(db_url: str, receiver: Receiver) -> None:
    async with delivering(db_url, webhook_retry_base=60.0, webhook_retry_cap=60.0) as rt:
        sid = (await rt.webhooks.create("acme", receiver.url, "timing.session")).subscription.id
        receiver.plan = ["fail"]
        await Timing(rt).session()
        await receiver.wait_for(lambda: len(receiver.got) == 1)  # then a back-off of 30-60 s
        await rt.webhooks.set_enabled(sid, False)
        worker = rt.webhook_delivery
        assert worker is not None

        async def ended() -> bool:
            return not worker._loops  # the loop left its back-off and ended

        await _eventually(ended, 5.0)
        await rt.webhooks.set_enabled(sid, True)
        await receiver.wait_for(lambda: len(receiver.delivered()) == 1, 5.0)  # not after the back-off
        assert [x.attempt for x in await rt.webhooks.deliveries(sid, 5)] in ([2, 1], [1])


async def test_hostile_receivers_are_bounded(db_url: str, receiver: Receiver) -> None:
    """A trickling answer hits the attempt's deadline; an endless body is read no further than 4 KB
    (the 200 counts); a redirect is not followed (a failure, retried at the subscription's URL)."""
    async with delivering(db_url, webhook_timeout=0.5) as rt:
        sid = (await rt.webhooks.create("acme", receiver.url, "timing.session")).subscription.id
        receiver.plan = ["trickle", "redirect", "flood"]
        timing = Timing(rt)
        token = await timing.session()
        await timing.batch(token)
        truth = [s for s, _ in await _log_seqs(rt, "acme", "timing/session/")]
        await receiver.wait_for(lambda: len(receiver.got) >= 4)
        assert [r.seq for r in receiver.got] == [truth[0]] * 3 + [truth[1]]
        assert {r.path for r in receiver.got} == {"/hook"}  # never a request to /elsewhere

        async def logged() -> bool:
            return len(await rt.webhooks.deliveries(sid, 10)) >= 4

        await _eventually(logged)
        log = list(reversed(await rt.webhooks.deliveries(sid, 10)))
        assert "timed out" in (log[0].error or "") and log[0].duration_ms < 1500
        assert log[1].status == 307 and log[1].next_retry_ms is not None
        assert log[2].status == 200 and log[2].duration_ms < 1500 and log[3].status == 204


async def test_replay_from_a_seq_redelivers_in_order(db_url: str, receiver: Receiver) -> None:
    async with delivering(db_url) as rt:
        created = await rt.webhooks.create("acme", receiver.url, "timing.session")
        timing = Timing(rt)
        token = await timing.session()
        for _ in range(5):
            await timing.batch(token)
        truth = [s for s, _ in await _log_seqs(rt, "acme", "timing/session/")]
        await receiver.wait_for(lambda: len(receiver.delivered()) == len(truth))
        start = truth[2]
        await rt.webhooks.replay(created.subscription.id, start)
        await receiver.wait_for(lambda: len(receiver.delivered()) == len(truth) + len(truth[2:]))
        assert [r.seq for r in receiver.delivered()] == truth + truth[2:]
        with pytest.raises(InvalidInput):
            await rt.webhooks.replay(created.subscription.id, 0)


async def test_a_restarted_server_resumes_at_the_cursor(db_url: str, receiver: Receiver) -> None:
    async with delivering(db_url) as rt:
        await rt.webhooks.create("acme", receiver.url, "timing.session")
        timing = Timing(rt)
        token = await timing.session()
        await timing.batch(token)
        await receiver.wait_for(lambda: len(receiver.delivered()) == 2)
        await receiver.stop()
        for _ in range(3):
            await timing.batch(token)
        await asyncio.sleep(0.2)
    # written while no server delivered (a CLI, another process)
    async with delivering(db_url, webhook_delivery=False) as rt:
        timing.rt = rt
        timing.key = await rt.access.authenticate(await rt.access.create_key("acme", "READ_WRITE"))
        await timing.batch(token)
        truth = [s for s, _ in await _log_seqs(rt, "acme", "timing/session/")]
    await receiver.start()
    async with delivering(db_url):
        await receiver.wait_for(lambda: {r.seq for r in receiver.delivered()} == set(truth))
    assert [s for s, _ in _first_deliveries(receiver)] == truth
    _assert_in_order(receiver)


async def test_every_kind_is_delivered_with_its_object(db_url: str, receiver: Receiver) -> None:
    async with delivering(db_url) as rt:
        created = await rt.webhooks.create("acme", receiver.url, "parking.session,paging.session")
        assert created.subscription.kinds == ("parking.session", "paging.session")
        await Timing(rt).session()  # not subscribed: never sent
        location = await rt.parking.create_location("acme", "Lot", 350, "USD")
        key = await rt.access.authenticate(await rt.access.create_key("acme", "READ_WRITE"))
        user = "6f1c1f0e-8c1e-4c57-9d0a-3f1e2b7a9c11"
        session = await rt.parking.create_session(key, location, bearer=None, user_id=user)
        await rt.parking.end_session(key, location, session.id)
        account_id = await rt.store.reads.accounts.account_id("acme")
        assert account_id is not None
        await rt.paging.open_session(account_id, 7, Fields(), None, None, station="bar")
        await rt.paging.update_session(account_id, 7, Fields(), Action.PAGE, None, station="bar")
        await rt.paging.update_session(account_id, 7, Fields(), Action.CLEAR, None, station="bar")
        await rt.paging.update_settings(account_id, datetime_ms=None, system_id=9, default_goal_s=None,
                                        stats_clear_mark=None, station="bar")  # a station change: not sent
        await receiver.wait_for(lambda: len(receiver.delivered()) == 5)
        bodies = [r.json for r in receiver.delivered()]
        assert [b["type"] for b in bodies] == ["parking.session"] * 2 + ["paging.session"] * 3
        assert [b["data"]["state"] for b in bodies[:2]] == ["started", "ended"]
        assert bodies[1]["data"]["cost"] is not None and bodies[1]["data"]["currency"] == "USD"
        assert [b["data"]["session"]["state"] for b in bodies[2:]] == ["started", "paged", "cleared"]
        assert {b["data"]["station"] for b in bodies[2:]} == {"bar"}
        await asyncio.sleep(0.3)
        assert len(receiver.got) == 5


async def test_urls_that_are_not_http_or_not_allowed_are_refused(db_url: str, receiver: Receiver) -> None:
    async with delivering(db_url, webhook_allow_networks=()) as rt:
        for url in ("ftp://example.com/x", "file:///etc/passwd", "http://127.0.0.1:9/x", "http://[::1]/x",
                    "http://169.254.169.254/latest", "http://10.0.0.1/", "http://user:pw@example.com/",
                    "http:///nohost", "javascript:alert(1)"):
            with pytest.raises(InvalidInput):
                await rt.webhooks.create("acme", url, "timing.session")
        with pytest.raises(InvalidInput):
            await rt.webhooks.create("acme", "https://example.com/", "timing.nope")
        # a name is checked at each connection, against what it resolves to
        created = await rt.webhooks.create("acme", f"http://localhost:{receiver.port}/hook", "timing.session")
        await Timing(rt).session()
        sid = created.subscription.id
        async def attempted() -> bool:
            return bool(await rt.webhooks.deliveries(sid, 5))

        await _eventually(attempted)
        log = await rt.webhooks.deliveries(sid, 5)
        assert log and log[-1].status is None and "not a public address" in (log[-1].error or "")
        assert receiver.got == []
        stats = rt.webhook_stats
        assert stats is not None and stats.outcomes["refused"] >= 1


async def test_two_delivering_servers_send_each_change_once_and_take_over(db_url: str, receiver: Receiver) -> None:
    """Two runtimes on one database (two processes, two hosts): the lease makes one of them deliver a
    subscription; when it stops, the other takes over at the cursor."""
    first = build(Settings(db=db_url, **{**FAST, "webhook_poll": 0.2}))  # type: ignore[arg-type]
    await first.store.apply_migrations()
    await first.start()
    try:
        await first.webhooks.create("acme", receiver.url, "timing.session")
        timing = Timing(first)
        token = await timing.session()
        async with delivering(db_url, webhook_poll=0.2) as second:
            await asyncio.sleep(0.3)  # the second looks, finds the lease held
            for _ in range(5):
                await timing.batch(token)
            truth = [s for s, _ in await _log_seqs(first, "acme", "timing/session/")]
            await receiver.wait_for(lambda: len(receiver.delivered()) >= len(truth))
            assert second.webhook_stats is not None and sum(second.webhook_stats.outcomes.values()) == 0
        await asyncio.sleep(0.3)
    finally:
        await first.stop()  # releases its lease
    async with delivering(db_url, webhook_poll=0.2) as third:
        timing.rt = third
        timing.key = await third.access.authenticate(await third.access.create_key("acme", "READ_WRITE"))
        for _ in range(3):
            await timing.batch(token)
        truth = [s for s, _ in await _log_seqs(third, "acme", "timing/session/")]
        await receiver.wait_for(lambda: len(receiver.delivered()) >= len(truth))
        await asyncio.sleep(0.3)
        assert [r.seq for r in receiver.got] == truth  # each once, in order, no overlap
