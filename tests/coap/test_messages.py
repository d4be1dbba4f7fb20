"""The sans-I/O message layer and observer registry with a fake clock: no sockets, no sleeping."""

from __future__ import annotations

from sessionhub.coap import numbers as N
from sessionhub.coap.messages import Fate, MessageLayer
from sessionhub.coap.observe import Observations
from sessionhub.coap.wire import Message, decode, encode, uint

A = ("10.0.0.1", 5683)
B = ("10.0.0.2", 5683)


def layer() -> MessageLayer:
    return MessageLayer(lambda: 0.0, 100)


def request(code: int, mid: int, mtype: int = N.CON) -> bytes:
    return encode(Message(mtype, code, mid, b"\x07", [(N.URI_PATH, b"v1")]))


def test_a_duplicate_post_gets_the_stored_response_without_reprocessing() -> None:
    ml = layer()
    m = ml.receive(request(N.POST, 9), A, 0.0)
    assert m is not None
    data = ml.respond(m, A, N.CREATED, b"", b"{}")
    assert ml.receive(request(N.POST, 9), A, 10.0) is None
    assert ml.outbox == [(data, A)]
    assert ml.receive(request(N.POST, 9), B, 10.0) is not None  # another remote: another exchange


def test_a_duplicate_still_in_progress_is_ignored_and_ids_expire() -> None:
    ml = layer()
    assert ml.receive(request(N.PUT, 9), A, 0.0) is not None
    assert ml.receive(request(N.PUT, 9), A, 1.0) is None and ml.outbox == []
    assert ml.receive(request(N.PUT, 10), A, N.EXCHANGE_LIFETIME + 1) is not None  # expires MID 9 on the way
    assert ml.receive(request(N.PUT, 9), A, N.EXCHANGE_LIFETIME + 1) is not None


def test_get_is_processed_afresh_and_the_cache_is_bounded() -> None:
    ml = MessageLayer(lambda: 0.0, 0, dedup_max=3)
    assert ml.receive(request(N.GET, 1), A, 0) is not None and ml.receive(request(N.GET, 1), A, 0) is not None
    for mid in range(10):
        ml.receive(request(N.DELETE, mid), A, 0)
    assert ml.remembered == 3


def test_piggybacked_and_non_responses() -> None:
    ml = layer()
    m = ml.receive(request(N.GET, 77), A, 0)
    assert m is not None
    ack = decode(ml.respond(m, A, N.CONTENT, b"", b"x"))
    assert (ack.mtype, ack.mid, ack.token, ack.payload) == (N.ACK, 77, b"\x07", b"x")
    n = ml.receive(request(N.GET, 78, N.NON), A, 0)
    assert n is not None
    non = decode(ml.respond(n, A, N.CONTENT, b"", b""))
    assert non.mtype == N.NON and non.mid != 78 and non.token == b"\x07"


def test_pings_malformed_cons_and_stray_responses_get_rst() -> None:
    ml = layer()
    assert ml.receive(bytes((0x40, 0, 0x12, 0x34)), A, 0) is None  # CoAP ping
    assert ml.receive(bytes((0x40, 1, 0x12, 0x35, 0xFF)), A, 0) is None  # malformed CON
    assert ml.receive(encode(Message(N.CON, N.CONTENT, 0x1236, b"")), A, 0) is None  # unasked response
    assert ml.receive(bytes((0x50, 1, 0x12, 0x37, 0xFF)), A, 0) is None  # malformed NON: silence
    assert [decode(d) .mid for d, _ in ml.outbox] == [0x1234, 0x1235, 0x1236]
    assert all(decode(d).mtype == N.RST for d, _ in ml.outbox)


def test_confirmable_retransmits_with_backoff_then_times_out() -> None:
    ml = layer()
    mid = ml.send_confirmable(A, Message(N.CON, N.CONTENT, 0, b"t"), "tag", 0.0)
    ml.outbox.clear()
    times = []
    now = 0.0
    while (d := ml.next_deadline()) is not None:
        now = d
        ml.poll(now)
        if ml.outbox:
            times.append(now)
            assert decode(ml.outbox.pop()[0]).mid == mid
    assert times == [2.0, 6.0, 14.0, 30.0] and now == 62.0
    assert ml.events == [(Fate.TIMED_OUT, "tag", A)]


def test_ack_and_rst_settle_a_confirmable() -> None:
    ml = layer()
    m1 = ml.send_confirmable(A, Message(N.CON, N.CONTENT, 0, b"t"), "one", 0.0)
    m2 = ml.send_confirmable(A, Message(N.CON, N.CONTENT, 0, b"t"), "two", 0.0)
    ml.receive(bytes((0x60, 0, m1 >> 8, m1 & 255)), A, 1.0)
    ml.receive(bytes((0x70, 0, m2 >> 8, m2 & 255)), A, 1.0)
    ml.receive(bytes((0x60, 0, m2 >> 8, m2 & 255)), A, 1.0)  # a late duplicate: nothing
    assert ml.events == [(Fate.ACKED, "one", A), (Fate.RESET, "two", A)] and ml.next_deadline() is None


class Net:
    """Observers over a message layer; acknowledges (or not) on behalf of the clients."""

    def __init__(self, interval: float = 30.0) -> None:
        self.ml = layer()
        self.obs = Observations(self.ml, lambda: b"ping", ping_interval=interval, max_observers=2, max_queue=2)

    def run(self, until: float, answer: dict[tuple[str, int], int | None]) -> list[tuple[Message, tuple[str, int]]]:
        """Advance time to ``until``; each remote answers ACK, RST or nothing (None) to what it gets."""
        seen = []
        now = 0.0
        while True:
            for data, remote in self.ml.outbox:
                m = decode(data)
                seen.append((m, remote))
                kind = answer.get(remote)
                if kind is not None:
                    self.ml.receive(bytes((0x40 | kind << 4, 0, m.mid >> 8, m.mid & 255)), remote, now)
            self.ml.outbox.clear()
            for fate, tag, _ in self.ml.events:
                self.obs.on_fate(fate, tag, now)
            self.ml.events.clear()
            if self.ml.outbox:
                continue
            deadlines = [d for d in (self.ml.next_deadline(), self.obs.next_deadline()) if d is not None]
            if not deadlines or min(deadlines) > until:
                return seen
            now = min(deadlines)
            self.ml.poll(now)
            self.obs.poll(now)


def test_notifications_are_confirmable_numbered_and_queued_in_order() -> None:
    net = Net()
    assert net.obs.register(A, b"a", 0.0) == 2
    net.obs.notify(b"one", 0.0)
    net.obs.notify(b"two", 0.0)  # queued behind "one"
    seen = net.run(1.0, {A: N.ACK})
    assert [(m.payload, m.mtype, m.option(N.OBSERVE)) for m, _ in seen] == [
        (b"one", N.CON, uint(3)), (b"two", N.CON, uint(4))]


def test_a_full_queue_drops_the_oldest() -> None:
    net = Net()
    net.obs.register(A, b"a", 0.0)
    for p in (b"1", b"2", b"3", b"4"):
        net.obs.notify(p, 0.0)
    assert [m.payload for m, _ in net.run(1.0, {A: N.ACK})] == [b"1", b"3", b"4"]


def test_pings_every_interval_and_three_misses_drop_the_observer() -> None:
    net = Net(interval=30.0)
    net.obs.register(A, b"a", 0.0)
    net.obs.register(B, b"b", 0.0)
    seen = net.run(200.0, {A: N.ACK, B: None})
    pings_a = [m for m, r in seen if r == A]
    assert len(pings_a) == 6 and all(m.payload == b"ping" for m in pings_a)
    assert len([m for m, r in seen if r == B]) == 3  # never retransmitted; dropped after the third
    assert (A, b"a") in net.obs and (B, b"b") not in net.obs and net.obs.dropped == 1


def test_rst_and_deregistration_and_the_limit() -> None:
    net = Net()
    net.obs.register(A, b"a", 0.0)
    net.obs.register(B, b"b", 0.0)
    assert net.obs.register(("10.0.0.3", 1), b"c", 0.0) is None  # full: served as a plain GET
    net.obs.deregister(B, b"b")
    net.obs.notify(b"x", 0.0)
    net.run(1.0, {A: N.RST})
    assert len(net.obs) == 0


def test_a_notification_that_is_never_acknowledged_drops_the_observer() -> None:
    net = Net(interval=1000.0)
    net.obs.register(A, b"a", 0.0)
    net.obs.notify(b"first", 0.0)
    net.run(1.0, {A: N.ACK})  # it has answered once: later notifications are retransmitted
    net.obs.notify(b"x", 1.0)
    seen = net.run(100.0, {A: None})
    assert len(seen) == 5 and len(net.obs) == 0  # sent, retransmitted 4 times (back-off), given up


def test_an_observer_that_never_answered_gets_one_datagram_and_is_dropped() -> None:
    net = Net(interval=1000.0)
    net.obs.register(A, b"a", 0.0)
    net.obs.notify(b"x", 0.0)
    net.obs.notify(b"y", 0.0)
    seen = net.run(100.0, {A: None})
    assert [m.payload for m, _ in seen] == [b"x"] and len(net.obs) == 0 and net.obs.dropped == 1


def test_an_unverified_registration_gets_nothing_until_activated_and_expires() -> None:
    net = Net(interval=30.0)
    assert net.obs.register(A, b"a", 0.0, verified=False) is not None
    assert net.obs.register(B, b"b", 0.0, verified=False) is not None
    net.obs.notify(b"x", 0.0)
    assert net.run(5.0, {A: N.ACK, B: N.ACK}) == [] and net.obs.active == 0  # no notification, no ping
    net.obs.activate(A, 5.0)
    net.obs.notify(b"y", 5.0)
    assert [(m.payload, r) for m, r in net.run(6.0, {A: N.ACK, B: N.ACK})] == [(b"y", A)]
    net.run(20.0, {A: N.ACK, B: N.ACK})  # B's pending registration expires (10 s)
    assert (A, b"a") in net.obs and (B, b"b") not in net.obs


def test_one_host_cannot_take_every_observer_slot() -> None:
    ml = layer()
    obs = Observations(ml, lambda: b"ping", max_observers=100, max_per_host=3)
    assert [obs.register(("10.0.0.9", port), b"t", 0.0) is not None for port in range(5)] == [
        True, True, True, False, False]
    assert obs.register(A, b"a", 0.0) is not None  # another host still gets a slot
    obs.deregister(("10.0.0.9", 0), b"t")
    assert obs.register(("10.0.0.9", 7), b"t", 0.0) is not None
