"""The sans-I/O rules of webhooks: the Standard Webhooks signature, kinds, URLs and addresses, back-off."""

from __future__ import annotations

import pytest

from sessionhub.core import webhooks as core
from sessionhub.core.errors import InvalidInput


def test_signature_matches_the_standard_webhooks_reference_vector() -> None:
    # the example of the Standard Webhooks specification's reference libraries
    assert core.sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                     b'{"test": 2432232314}') == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    headers = dict(core.headers("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 42, 1614265330, b"{}"))
    assert headers["webhook-id"] == "42" and headers["webhook-timestamp"] == "1614265330"
    assert headers["webhook-signature"] == core.sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "42", 1614265330, b"{}")


def test_a_secret_is_24_random_bytes_in_base64() -> None:
    secret = core.new_secret("ab" * 24)
    assert secret.startswith("whsec_") and core.secret_key(secret) == b"\xab" * 24
    with pytest.raises(ValueError):
        core.new_secret("ab" * 8)


def test_kinds_are_parsed_deduplicated_and_mapped_to_topics() -> None:
    assert core.parse_kinds(" timing.session,parking.session,timing.session ") == ("parking.session", "timing.session")
    for bad in ("", ",", "parking", "parking.session,nope"):
        with pytest.raises(InvalidInput):
            core.parse_kinds(bad)
    assert core.kind_of("parking/session/5") == "parking.session"
    assert core.kind_of("parking/location/5") is None and core.kind_of("keys") is None
    assert core.kind_of("paging/1/default/session/7") == "paging.session"
    assert core.kind_of("paging/1/default/station") is None  # settings and pages: not a guest session
    assert core.prefix("paging.session", 4) == "paging/4/" and core.prefix("timing.session", 4) == "timing/session/"


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.1.2.3", "192.168.0.1", "172.16.5.5", "169.254.169.254",
                                     "0.0.0.0", "::", "224.0.0.1", "fe80::1", "fc00::1", "::ffff:127.0.0.1",
                                     "100.64.0.1", "240.0.0.1"])
def test_non_public_addresses_are_refused_unless_their_network_is_allowed(address: str) -> None:
    assert not core.address_allowed(address, ())
    net = "::/0" if ":" in address and "ffff" not in address else "0.0.0.0/0"
    assert core.address_allowed(address, core.networks([net]))


def test_public_addresses_are_allowed() -> None:
    assert core.address_allowed("93.184.216.34", ()) and core.address_allowed("2606:2800:220:1::1", ())
    assert core.check_url("https://hooks.example.com:8443/in?x=1", ()) == "https://hooks.example.com:8443/in?x=1"
    with pytest.raises(ValueError):
        core.networks(["not-a-cidr"])


@pytest.mark.parametrize("url", ["ftp://example.com/", "example.com/x", "http://", "http://u:p@example.com/",
                                 "http://example.com:0/", "http://example.com:99999/", "https://exa mple.com/",
                                 "http://example.com/#frag", "http://127.0.0.1/", "http://[::1]:80/",
                                 "https://example.com/" + "x" * 2100, "http://é.example/"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        core.check_url(url, ())


def test_back_off_doubles_is_capped_jittered_and_gives_up() -> None:
    policy = core.RetryPolicy(base_s=1.0, cap_s=60.0, max_failures=5)
    assert [policy.delay(n, 0.0) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert policy.delay(3, 0.999) == pytest.approx(2.002)
    assert policy.delay(10_000, 0.5) == 45.0
    assert not policy.gives_up(4) and policy.gives_up(5)
