"""A crawl URL that names no address one can connect to (a port out of range or no number, a
host that does not parse, a control character, a name too long to look up) is refused once,
saying why: urllib and the resolver raise a bare ValueError for these, which crashed the step,
was retried and counted toward the crawl's breaker. The intake refuses them where they are
taken (tests/missions/test_intake.py); a step from before, or a redirect, meets the crawl's.
Names are looked up in the `dns` fixture's table and no connection is made: nothing here
reaches the network."""

import socket

import pytest

from missions.crawl import CrawlRefused, fetch_main_text
from missions.models import StepAttempt
from missions.worker import handle_one_step
from opscore.models import Policy
from tests.factories import make_step
from tests.fake_sockets import Clock, Host, Network
from tests.missions.test_crawl import dns, page_server  # noqa: F401 (dns: a fixture)

NO_PORT = "the URL's port is not a number from 1 to 65535"
UNUSABLE = {
    "port-out-of-range": ("http://news.example:99999/", NO_PORT),
    "negative-port": ("http://news.example:-1/", NO_PORT),
    "port-of-5000-digits": ("http://news.example:" + "9" * 5000 + "/", NO_PORT),
    "port-zero": ("http://news.example:0/", NO_PORT),
    "unclosed-ipv6-host": ("http://[::1/", "the URL does not parse: Invalid IPv6 URL"),
    "control-character": ("http://news.example/a\x01b", "the URL holds a control character"),
}


@pytest.fixture(autouse=True)
def public_news(dns, monkeypatch):  # noqa: F811
    """news.example is public; a crawl that got as far as connecting finds nobody there."""
    dns["news.example"] = "93.184.216.34"

    def nobody_there(address, *args, **kwargs):
        raise ConnectionRefusedError(f"nothing listens at {address}")

    monkeypatch.setattr(socket, "create_connection", nobody_there)


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "reason"), UNUSABLE.values(), ids=UNUSABLE)
def test_a_crawl_of_a_url_naming_no_usable_address_is_refused_once_saying_why(url, reason):
    step = make_step("crawl", payload={"url": url}, max_attempts=3)

    handle_one_step("w1")

    step.refresh_from_db()
    assert (step.status, step.attempt_count) == ("failed", 1)
    assert step.last_error == f"crawl refused: {reason}"
    assert StepAttempt.objects.get(step=step).outcome == "refused"


@pytest.mark.django_db
def test_crawls_of_such_urls_never_switch_crawling_off():
    """Anyone who may propose could otherwise turn the lane off with three bad ports."""
    for url, _ in UNUSABLE.values():
        make_step("crawl", payload={"url": url}, max_attempts=1)
        handle_one_step("w1")

    assert Policy.objects.value("worker_switches").is_enabled("crawl") is True


def test_a_redirect_to_a_port_out_of_range_is_refused_saying_so():
    redirect = (302, {"location": "http://news.example:99999/"}, "")
    client = page_server({"https://news.example/a": redirect})

    with pytest.raises(CrawlRefused) as refused:
        fetch_main_text("https://news.example/a", client)

    assert str(refused.value) == f"redirected to an unusable URL: {NO_PORT}"


def test_a_host_name_too_long_to_look_up_is_refused_saying_why(monkeypatch):
    """The resolver encodes a name (IDNA) before it asks anyone: a label past 63 characters
    fails there with a UnicodeError, a ValueError, not the socket.gaierror of a name unknown."""

    def encoding_first(host, *args, **kwargs):
        host.encode("idna")
        raise socket.gaierror("unknown host")

    monkeypatch.setattr(socket, "getaddrinfo", encoding_first)
    host = "a" * 64 + ".example"

    with pytest.raises(CrawlRefused) as refused:
        fetch_main_text(f"https://{host}/a")

    assert str(refused.value).startswith(f"cannot resolve {host!r}: ")
    assert "label empty or too long" in str(refused.value)


BUECHER = "xn--bcher-kva.example"  # bücher.example's IDNA A-label


def test_a_host_named_in_unicode_is_fetched_by_its_ascii_name(dns):  # noqa: F811
    """The lookup, the Host header and the TLS name all carry the A-label: httpx cannot send a
    header holding ü, which crashed the crawl."""
    dns[BUECHER] = "93.184.216.34"
    seen = []
    html = (200, {"content-type": "text/plain"}, "Neue Bücher der Woche")
    client = page_server({f"https://{BUECHER}/neu": html}, seen)

    page = fetch_main_text("https://Bücher.example/neu", client)

    assert page.text == "Neue Bücher der Woche"
    assert [r.url.host for r in seen] == ["93.184.216.34"]
    assert seen[0].headers["host"] == BUECHER
    assert seen[0].extensions["sni_hostname"] == BUECHER


def test_a_host_named_in_unicode_that_resolves_privately_is_refused(dns):  # noqa: F811
    dns[BUECHER] = "10.0.0.7"

    with pytest.raises(
        CrawlRefused, match=rf"{BUECHER} resolves to non-public address 10\.0\.0\.7"
    ):
        fetch_main_text("https://bücher.example/neu")


@pytest.mark.django_db
def test_a_crawl_of_a_host_name_idna_refuses_is_refused_once_saying_why():
    step = make_step("crawl", payload={"url": "http://☃.example/"}, max_attempts=3)

    handle_one_step("w1")

    step.refresh_from_db()
    assert (step.status, step.attempt_count) == ("failed", 1)
    assert step.last_error == (
        "crawl refused: the URL's host name is no international domain name"
        " (Codepoint U+2603 at position 1 of '☃' not allowed)"
    )


def redirecting_to(monkeypatch, location: str) -> None:
    """news.example (the socket seam) answers every request with a 302 to `location`."""
    answer = f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
    hosts = [Host(answers=[(0.0, answer.encode())]) for _ in range(4)]
    monkeypatch.setattr(socket, "create_connection", Network(Clock(), *hosts).create_connection)


@pytest.mark.django_db
def test_a_redirect_whose_location_httpx_cannot_parse_is_refused_once_saying_why(monkeypatch):
    """httpx reads the Location before the crawl sees the answer, and one it cannot parse
    failed as a protocol error: retried, and counted toward the crawl breaker."""
    redirecting_to(monkeypatch, "http://[::1/")
    steps = [make_step("crawl", payload={"url": "http://news.example/a"}) for _ in range(4)]

    for _ in steps:
        handle_one_step("w1")

    for step in steps:
        step.refresh_from_db()
        assert (step.status, step.attempt_count) == ("failed", 1)
        assert step.last_error == (
            "crawl refused: redirected to an unusable URL: the URL does not parse: Invalid IPv6 URL"
        )
    assert Policy.objects.value("worker_switches").is_enabled("crawl") is True
