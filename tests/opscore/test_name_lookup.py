"""A connect held to a deadline looks its host's name up within what is left of it: the system
resolver takes no timeout (getaddrinfo only ends by its own retries, often after 10-30 s), so
the lookup runs in a thread of its own and the call stops waiting for it at the deadline; an
address is never looked up. The model calls' cut-offs at a slow lookup are in
tests/opscore/test_step_call_deadline.py and tests/console/test_chat_deadline.py."""

import socket
import threading

import httpcore
import pytest

from opscore.http_deadline import DeadlineBackend, looked_up
from tests.fake_sockets import Clock, Host, Lookup, Network


@pytest.fixture
def hung_resolver(monkeypatch):
    """getaddrinfo that never answers (its Event is set only to let the thread go after)."""
    never = threading.Event()
    monkeypatch.setattr("socket.getaddrinfo", lambda *args, **kwargs: never.wait())
    yield
    never.set()


def test_a_lookup_that_does_not_answer_in_time_is_not_waited_for(hung_resolver):
    with pytest.raises(TimeoutError):
        looked_up("api.example.test", 443, 0)


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
