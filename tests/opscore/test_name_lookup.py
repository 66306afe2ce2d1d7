"""A connect held to a deadline looks its host's name up within what is left of it: the system
resolver takes no timeout (getaddrinfo only ends by its own retries, often after 10-30 s), so
the lookup runs in a thread of its own and the call stops waiting for it at the deadline; an
address is never looked up. At most LOOKUPS_AT_ONCE lookups wait on the resolver at once (a
name already being looked up is shared): past them one more is refused at once, saying why,
rather than piling up threads a resolver that does not answer holds for as long as it likes.
The model calls' cut-offs at a slow lookup are in tests/opscore/test_step_call_deadline.py and
tests/console/test_chat_deadline.py."""

import socket
import time

import httpcore
import httpx
import pytest

from opscore.http_deadline import LOOKUPS_AT_ONCE, DeadlineBackend, held_to, looked_up
from tests.fake_sockets import Clock, Host, Lookup, Network

HUNG = [f"name-{number}.hung.test" for number in range(LOOKUPS_AT_ONCE)]
REFUSED = f"not looking up one-more.hung.test: {LOOKUPS_AT_ONCE} name lookups already wait"


def test_a_lookup_that_does_not_answer_in_time_is_not_waited_for(hung_resolver):
    hung_resolver.given_up_on("api.hung.test")


def test_past_the_most_lookups_at_once_one_more_is_refused_saying_why(hung_resolver):
    hung_resolver.given_up_on(*HUNG)

    with pytest.raises(OSError) as refused:
        looked_up("one-more.hung.test", 443, 0)

    assert len(hung_resolver.threads()) == LOOKUPS_AT_ONCE
    assert REFUSED in str(refused.value)


def test_a_name_already_being_looked_up_is_not_looked_up_again(hung_resolver):
    hung_resolver.given_up_on(*HUNG)

    hung_resolver.given_up_on(HUNG[0], HUNG[0])

    assert len(hung_resolver.threads()) == LOOKUPS_AT_ONCE


@pytest.mark.parametrize("failure", [None, socket.gaierror(-2, "Name or service not known")])
def test_lookups_that_end_after_their_callers_gave_up_make_room_again(hung_resolver, failure):
    hung_resolver.given_up_on(*HUNG)

    hung_resolver.answer(failure)

    if failure:
        with pytest.raises(socket.gaierror, match="Name or service not known"):
            looked_up("one-more.hung.test", 443, None)
    else:
        assert looked_up("one-more.hung.test", 443, None) == ["10.0.0.1"]


def test_a_call_past_the_most_lookups_at_once_fails_to_connect_saying_why(hung_resolver):
    hung_resolver.given_up_on(*HUNG)
    transport = held_to(httpx.HTTPTransport(), lambda: time.monotonic() + 60)

    client = httpx.Client(transport=transport, trust_env=False)

    with pytest.raises(httpx.ConnectError, match=REFUSED) as refused:
        client.get("https://one-more.hung.test/")

    assert "\n" not in str(refused.value)
    assert len(hung_resolver.threads()) == LOOKUPS_AT_ONCE


def test_a_lookup_gives_each_address_once_in_the_resolvers_order(monkeypatch):
    found = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, 443)) for ip in ["10.0.0.2"] * 2]
    found.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fd00::1", 443, 0, 0)))
    monkeypatch.setattr("socket.getaddrinfo", lambda *args, **kwargs: found)

    assert looked_up("api.example.test", 443, None) == ["10.0.0.2", "fd00::1"]


def test_a_lookup_past_the_deadline_ends_the_connect_at_it(monkeypatch):
    network = Network(Clock()).install(monkeypatch)
    network.lookups.append(Lookup(seconds=300))
    backend = DeadlineBackend(lambda: network.clock.now + 20)
    start = network.clock.now

    with pytest.raises(httpcore.ConnectTimeout, match="deadline passed looking up api"):
        backend.connect_tcp("api.example.test", 443, timeout=60)

    assert network.timeouts("lookup", "connect") == [20]
    assert network.clock.now - start == 20


def test_an_address_is_connected_to_without_a_lookup(monkeypatch):
    network = Network(Clock(), Host(connect=5)).install(monkeypatch)
    backend = DeadlineBackend(lambda: network.clock.now + 20)

    backend.connect_tcp("10.0.0.9", 443, timeout=60)

    assert network.handed == [("connect", 20)]


def test_without_a_deadline_each_connect_keeps_its_own_timeout(monkeypatch):
    network = Network(Clock()).install(monkeypatch)
    network.lookups.append(Lookup(addresses=["10.0.0.1", "10.0.0.2"]))
    backend = DeadlineBackend(lambda: float("inf"))

    with pytest.raises(httpcore.ConnectTimeout):
        backend.connect_tcp("api.example.test", 443, timeout=60)

    assert network.timeouts("lookup", "connect") == [None, 60, 60]
