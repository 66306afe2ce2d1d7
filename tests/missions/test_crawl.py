"""The crawler refuses anything that is not a public web address, also after DNS and redirects;
and a hostile page cannot hold a crawl worker or its memory: one overall deadline however the
bytes trickle in, decompression streamed and capped, and what is not text refused with a reason.
Fake servers sit at the HTTP transport seam (the guard refuses loopback addresses). The
guard's lookup is held to the crawl's deadline too: a resolver that never answers a name
(tests/fake_sockets.Resolver, names under .hung.test) fails the step, saying why, at it."""

import gzip
import socket
import threading
import time
import tracemalloc

import httpx
import pytest

from missions.crawl import MAX_BYTES, CrawlRefused, check_public, fetch_main_text
from missions.work_executors import run_crawl
from opscore.http_deadline import LOOKUPS_AT_ONCE
from tests.factories import make_step


@pytest.fixture
def dns(monkeypatch):
    """Patch name resolution (an I/O seam) with a fixed table."""
    table = {}

    def getaddrinfo(host, *args, **kwargs):
        if host in table:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (table[host], 0))]
        try:
            socket.inet_aton(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (host, 0))]
        except OSError:
            raise socket.gaierror("unknown host") from None

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://10.1.2.3/admin",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",
        "ftp://example.com/file",
        "http://user:pw@example.com/",
    ],
)
def test_private_and_odd_targets_are_refused(dns, url):
    with pytest.raises(CrawlRefused):
        check_public(url)


def test_a_public_name_that_resolves_privately_is_refused(dns):
    dns["innocent.example"] = "10.0.0.7"

    with pytest.raises(CrawlRefused, match=r"non-public address 10\.0\.0\.7"):
        check_public("https://innocent.example/page")


def test_a_name_that_resolves_to_the_local_network_through_nat64_is_refused(dns):
    """64:ff9b::a00:7 is 10.0.0.7 where the network has a NAT64 gateway: it counted as public."""
    dns["innocent.example"] = "64:ff9b::a00:7"

    with pytest.raises(CrawlRefused, match="non-public address 64:ff9b::a00:7"):
        check_public("https://innocent.example/page")


class Streamed(httpx.SyncByteStream):
    """A body that arrives over the wire, as a server's does (the crawler reads it raw)."""

    def __init__(self, body: bytes):
        self.body = body

    def __iter__(self):
        yield self.body


def page_server(routes, seen=None):
    """Routes by the URL as named (the request itself goes to the checked address)."""

    def handler(request):
        if seen is not None:
            seen.append(request)
        named = f"{request.url.scheme}://{request.headers['host']}{request.url.raw_path.decode()}"
        status, headers, body = routes[named]
        return httpx.Response(status, headers=headers, stream=Streamed(body.encode()))

    return httpx.Client(transport=httpx.MockTransport(handler))


ARTICLE = """<html><head><title>Launch notes</title></head><body><article><h1>Launch</h1>
<p>We shipped the new onboarding flow today.\u200b It cuts setup time in half for new teams,
according to the first week of measurements across every cohort we track.</p>
<p>Next we will look at retention over the following month and report back.</p>
</article></body></html>"""


def test_a_public_page_is_fetched_and_its_main_text_kept_clean(dns):
    dns["news.example"] = "93.184.216.34"
    client = page_server({"https://news.example/a": (200, {"content-type": "text/html"}, ARTICLE)})

    page = fetch_main_text("https://news.example/a", client)

    assert "onboarding flow" in page.text
    assert "\u200b" not in page.text
    assert page.title.startswith("Launch")


def test_a_redirect_to_a_private_address_is_refused(dns):
    dns["news.example"] = "93.184.216.34"
    dns["sneaky.example"] = "192.168.0.10"
    client = page_server(
        {
            "https://news.example/a": (302, {"location": "http://sneaky.example/"}, ""),
        }
    )

    with pytest.raises(CrawlRefused, match=r"sneaky\.example resolves to non-public"):
        fetch_main_text("https://news.example/a", client)


def test_a_name_with_a_public_and_a_private_address_is_refused(monkeypatch):
    """Every address the name resolves to is checked, not only the one connected to."""
    found = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, 0)) for ip in SPLIT_ADDRESSES]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: found)

    with pytest.raises(CrawlRefused, match=r"split\.example resolves to non-public address 10\."):
        check_public("https://split.example/page")


SPLIT_ADDRESSES = ["93.184.216.34", "10.0.0.8"]


def test_the_connection_goes_to_the_address_that_was_checked(monkeypatch):
    """DNS rebinding: the name answers public for the check and private right after."""
    answers = iter(["93.184.216.34", "10.0.0.5", "10.0.0.5"])

    def rebinding(host, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), 0))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    seen = []
    html = (200, {"content-type": "text/html"}, ARTICLE)
    client = page_server({"https://rebind.example/a": html}, seen)

    fetch_main_text("https://rebind.example/a", client)

    assert [r.url.host for r in seen] == ["93.184.216.34"]
    assert seen[0].headers["host"] == "rebind.example"
    assert seen[0].extensions["sni_hostname"] == "rebind.example"


CHUNK = 64 * 1024


class Served(httpx.SyncByteStream):
    """A response body served chunk by chunk, counting what the client pulled."""

    def __init__(self, chunks):
        self.chunks = chunks
        self.pulled = 0

    def __iter__(self):
        for chunk in self.chunks:
            self.pulled += len(chunk)
            yield chunk


def serving(headers, body: Served) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, headers=headers, stream=body))


def server(headers, body: Served) -> httpx.Client:
    return httpx.Client(transport=serving(headers, body))


class FarEnd:
    """The socket seam: whatever address the crawler connects to (a checked public one), the
    connection lands on a real server of the test's own on 127.0.0.1, which answers raw HTTP
    in pieces at its own pace."""

    def __init__(self, monkeypatch):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.sent = 0
        self.served = self.accepted = 0
        self.turns = threading.Condition()

        def create_connection(address, timeout=None, **kwargs):
            sock = socket.socket()  # by address, not through the `dns` fixture's table
            sock.settimeout(timeout)
            sock.connect(self.listener.getsockname())
            return sock

        monkeypatch.setattr(socket, "create_connection", create_connection)

    def serve(self, response: bytes, piece=1 << 16, pause=0.0, at_once=0) -> None:
        """Send the first `at_once` bytes together, then `piece` bytes after every `pause`.
        Responses answer connections in the order they were served: each thread waits its turn
        to accept (on a loaded machine a later thread took the first connection, and a
        redirect's test got its 404 first)."""
        turn, self.served = self.served, self.served + 1
        args = (turn, response, piece, pause, at_once)
        threading.Thread(target=self._answer, args=args, daemon=True).start()

    def _accept_in_turn(self, turn: int) -> socket.socket:
        with self.turns:
            self.turns.wait_for(lambda: self.accepted == turn)
            conn, _ = self.listener.accept()
            self.accepted += 1
            self.turns.notify_all()
        return conn

    def _answer(self, turn, response, piece, pause, at_once):
        conn = self._accept_in_turn(turn)
        with conn:
            conn.recv(65536)  # the request
            conn.sendall(response[:at_once])
            self.sent = at_once
            for start in range(at_once, len(response), piece):
                time.sleep(pause)  # the server's pace, not something a test measures
                try:
                    conn.sendall(response[start : start + piece])
                except OSError:  # the crawler hung up
                    return
                self.sent += len(response[start : start + piece])


@pytest.fixture
def far_end(monkeypatch):
    end = FarEnd(monkeypatch)
    yield end
    end.listener.close()


def http_response(head: str, body: bytes) -> bytes:
    return f"HTTP/1.1 200 OK\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def test_a_page_trickling_its_body_ends_at_the_overall_deadline(dns, far_end, settings):
    dns["slow.example"] = "93.184.216.34"
    settings.OPS_CRAWL_DEADLINE_SECONDS = 1
    response = http_response("Content-Type: text/html\r\n", b"<p>" + b"x" * 300)
    # the headers at once, then a byte of the body every 50 ms: every read succeeds
    far_end.serve(response, piece=1, pause=0.05, at_once=len(response) - 300)

    with pytest.raises(CrawlRefused, match=r"did not arrive within 1 s"):
        fetch_main_text("http://slow.example/")

    assert far_end.sent < len(response)  # 15 s of trickle, cut off


def test_a_page_trickling_its_headers_ends_at_the_overall_deadline(dns, far_end, settings):
    """httpcore gives all the headers one read timeout: only a limit on each read ends this."""
    dns["slow.example"] = "93.184.216.34"
    settings.OPS_CRAWL_DEADLINE_SECONDS = 1
    response = http_response("X-Padding: " + "a" * 300 + "\r\n", b"<p>late</p>")
    far_end.serve(response, piece=1, pause=0.05)

    with pytest.raises(CrawlRefused, match=r"did not arrive within 1 s"):
        fetch_main_text("http://slow.example/")

    assert far_end.sent < len(response)


def bomb_chunks():
    """256 MB of zeros, gzipped to about 250 kB, served in 64 kB chunks."""
    packed = gzip.compress(bytes(256 * 1024 * 1024), compresslevel=6)
    return [packed[i : i + CHUNK] for i in range(0, len(packed), CHUNK)]


def test_a_gzip_bomb_stops_at_the_cap_without_inflating_in_memory(dns):
    dns["bomb.example"] = "93.184.216.34"
    chunks = bomb_chunks()
    body = Served(chunks)
    client = server({"content-type": "text/html", "content-encoding": "gzip"}, body)

    tracemalloc.start()
    try:
        with pytest.raises(CrawlRefused, match=f"larger than {MAX_BYTES} bytes"):
            fetch_main_text("https://bomb.example/", client)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 10 * 1024 * 1024
    assert body.pulled <= 2 * CHUNK < sum(map(len, chunks))  # stopped reading at the cap


PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


@pytest.mark.parametrize(
    ("content_type", "payload"),
    [
        ("image/png", PNG),
        ("application/octet-stream", b"\x00\x01\x02binary"),
        ("application/pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
        ("", PNG),  # no type given: the bytes themselves are not text
    ],
    ids=["png", "octet-stream", "pdf", "untyped-png"],
)
def test_content_that_is_not_text_is_refused_with_a_reason(dns, content_type, payload):
    dns["files.example"] = "93.184.216.34"
    headers = {"content-type": content_type} if content_type else {}

    with pytest.raises(CrawlRefused, match="not text"):
        fetch_main_text("https://files.example/f", server(headers, Served([payload])))


@pytest.mark.django_db
def test_a_crawl_step_of_a_png_is_refused_not_stored(dns, far_end):
    dns["files.example"] = "93.184.216.34"
    far_end.serve(http_response("Content-Type: image/png\r\n", PNG))
    step = make_step("crawl", payload={"url": "http://files.example/logo.png"})

    outcome = run_crawl(type("Run", (), {"step": step})())

    assert outcome.input_refused and not outcome.retryable
    assert "crawl refused: image/png is not text" in outcome.error


def test_plain_text_is_still_kept(dns):
    dns["files.example"] = "93.184.216.34"
    text = server({"content-type": "text/plain; charset=utf-8"}, Served([b"release notes"]))

    page = fetch_main_text("https://files.example/notes.txt", text)

    assert page.text == "release notes"


def crawled(url: str):
    """The crawl step's outcome, the step run in a thread of its own so that a crawl still
    waiting on the resolver fails the test instead of holding it (the resolver answers when
    the test ends, and the crawl ends with it)."""
    step = make_step("crawl", payload={"url": url})
    outcome = []
    run = type("Run", (), {"step": step})()
    crawling = threading.Thread(target=lambda: outcome.append(run_crawl(run)), daemon=True)
    crawling.start()
    crawling.join(timeout=60)  # far past the test's 1 s deadline: only a crawl that hangs
    assert outcome, f"the crawl of {url} was still waiting on the resolver after 60 s"
    return outcome[0]


@pytest.mark.django_db
def test_a_crawl_whose_name_the_resolver_never_answers_fails_at_its_deadline(
    hung_resolver, settings
):
    settings.OPS_CRAWL_DEADLINE_SECONDS = 1

    outcome = crawled("https://news.hung.test/a")

    assert outcome.error == (
        "crawl refused: the page did not arrive within 1 s: news.hung.test was still being"
        " looked up"
    )
    assert outcome.input_refused and not outcome.retryable


@pytest.mark.django_db
def test_a_crawl_past_the_most_lookups_at_once_fails_saying_why(hung_resolver, settings):
    """Other names' lookups hold every slot: this crawl's is refused at once, to be retried."""
    settings.OPS_CRAWL_DEADLINE_SECONDS = 1
    hung_resolver.given_up_on(*(f"name-{n}.hung.test" for n in range(LOOKUPS_AT_ONCE)))

    outcome = crawled("https://news.hung.test/a")

    assert outcome.error == (
        f"crawl failed: not looking up news.hung.test: {LOOKUPS_AT_ONCE} name lookups already"
        " wait on the resolver, the most allowed at once"
    )
    assert outcome.retryable and not outcome.input_refused


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        ("64:ff9b:1::a00:7", "10.0.0.7"),  # local-use NAT64 (RFC 8215)
        ("2002:a00:7::1", "10.0.0.7"),  # 6to4: a relay delivers it to 10.0.0.7
        ("2002:7f00:1::1", "127.0.0.1"),
        ("::a00:7", "10.0.0.7"),  # IPv4-compatible, tunnelled where the host still takes it
        ("fec0::7", "a site-local network"),
    ],
)
def test_a_name_resolving_to_an_ipv6_wrapping_of_an_inward_address_is_refused(dns, address, inside):
    """Each of these reaches `inside` from a network that routes it; each counted as public."""
    dns["innocent.example"] = address

    with pytest.raises(CrawlRefused, match=f"non-public address {address}"):
        check_public("https://innocent.example/page")
