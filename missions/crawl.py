"""Fetch a public web page, safely, and keep its main text.

The guard refuses private, loopback, link-local and other non-public addresses for the first
URL and for every redirect, checking what the name resolves to (not just how it is spelled).
Size and time are bounded: one overall deadline (OPS_CRAWL_DEADLINE_SECONDS) for every hop and
read, since a per-read timeout never fires on a server that trickles a byte at a time, and a cap
on the *decompressed* bytes, enforced while inflating, so a small gzip bomb never expands in
memory. Only text is kept; the text is extracted with trafilatura and cleaned of invisible
characters. Whatever comes back is untrusted content.
"""

import functools
import math
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from time import monotonic
from urllib.parse import urljoin, urlunsplit

import httpx
from django.conf import settings

from missions.text import strip_invisible
from opscore.addresses import inward
from opscore.http_deadline import held_to, looked_up
from opscore.inflating import ACCEPT_ENCODING, inflater
from opscore.web_urls import UnusableURL, usable

MAX_BYTES = 2 * 1024 * 1024
# Past this, a page is extracted by trafilatura's own pass alone: its backup extractors' cost
# grows with the square of the page (a 1 MB page of short lists took 67 s of CPU, 2 MB five
# minutes), theirs with the page (2 MB: a few seconds).
FULL_EXTRACTION_BYTES = 256 * 1024
MAX_ANSWER_BYTES = 1024 * 1024  # an outside call's answer (deadline_client), inflated
MAX_REDIRECTS = 5
READ_SECONDS, CONNECT_SECONDS = 10.0, 5.0
USER_AGENT = "OpscoreCrawler/1.0 (+https://github.com/opscore)"
TEXT_TYPES = ("application/xhtml+xml", "application/xml", "application/json")
HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.I)
# Images, archives, documents, executables: what a page's first bytes never are.
BINARY_STARTS = (
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"%PDF-",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ\x00",
    b"7z\xbc\xaf\x27\x1c",
    b"Rar!\x1a\x07",
    b"\x7fELF",
    b"RIFF",
    b"OggS",
    b"\x1aE\xdf\xa3",
    b"\x00asm",
)
SNIFFED_CHARS = 1445  # a page's head, as browsers sniff it (WHATWG MIME Sniffing)
META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?([\w.:-]+)""", re.I)


class CrawlRefused(ValueError):
    """The URL is not something we fetch (scheme, address, size, redirects)."""


@dataclass(frozen=True)
class Page:
    url: str
    title: str
    text: str
    size: int


def resolve(host: str, port: int, deadline: float = math.inf) -> list[str]:
    """Every address of `host`, looked up by the end of the crawl's deadline: the resolver
    takes no timeout, and one that never answers would hold the crawl's worker for as long as
    it likes. Past LOOKUPS_AT_ONCE lookups waiting on the resolver, the OSError saying so."""
    left = deadline - monotonic()
    if left <= 0:
        raise over_deadline()
    try:
        addresses = looked_up(host, port, None if left == math.inf else left)
    except (socket.gaierror, UnicodeError) as error:  # unknown, or no name (a label too long)
        raise CrawlRefused(f"cannot resolve {host!r}: {error}") from None
    except TimeoutError:
        raise CrawlRefused(f"{over_deadline()}: {host} was still being looked up") from None
    return sorted(set(addresses))


def check_public(url: str, deadline: float = math.inf) -> str:
    """Refuse a URL that is not public; return the checked address to connect to, looked up
    by `deadline`."""
    try:
        parts = usable(url)
    except UnusableURL as problem:
        raise CrawlRefused(str(problem)) from None
    if parts.scheme not in ("http", "https"):
        raise CrawlRefused(f"only http and https are fetched, not {parts.scheme!r}")
    if not parts.hostname:
        raise CrawlRefused("the URL has no host")
    if parts.username or parts.password:
        raise CrawlRefused("URLs with credentials are not fetched")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(parts.hostname, port, deadline)
    for address in addresses:
        if inward(address):
            ip = address.split("%")[0]
            raise CrawlRefused(f"{parts.hostname} resolves to non-public address {ip}")
    return addresses[0]


def pinned(url: str, address: str) -> tuple[str, dict, dict]:
    """The request for `url` sent to the address that was checked, so a name that resolves
    differently a moment later (DNS rebinding) cannot steer the connection. The Host header,
    TLS SNI and certificate check still use the name (its A-label: check_public passed it)."""
    parts = usable(url)
    host = f"[{address}]" if ":" in address else address
    netloc = host + (f":{parts.port}" if parts.port else "")
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    return urlunsplit(parts._replace(netloc=netloc)), {"Host": parts.netloc}, extensions


def fetch(url: str, client: httpx.Client | None = None) -> tuple[str, bytes, str]:
    """The final URL, body and content type, all by one deadline."""
    deadline = monotonic() + settings.OPS_CRAWL_DEADLINE_SECONDS
    client = client or crawler_client(deadline)
    try:
        return fetch_by_hops(url, client, deadline)
    except httpx.TimeoutException:
        if monotonic() >= deadline:
            raise over_deadline() from None
        raise


def fetch_by_hops(url: str, client: httpx.Client, deadline: float) -> tuple[str, bytes, str]:
    """GET with redirects followed by hand, so each hop passes the guard."""
    for _ in range(MAX_REDIRECTS + 1):
        target, headers, extensions = pinned(url, check_public(url, deadline))
        with client.stream(
            "GET",
            target,
            headers=headers | {"Accept-Encoding": ACCEPT_ENCODING},
            extensions=extensions,
            follow_redirects=False,
            timeout=hop_timeout(deadline),
        ) as response:
            if response.is_redirect:
                url = redirected(url, response.headers.get("location", ""))
                continue
            if response.status_code != 200:  # the page's answer: the same on a retry
                raise CrawlRefused(f"HTTP {response.status_code} from {url}")
            content_type = response.headers.get("content-type", "")
            refuse_unless_text(content_type)
            return url, read_capped(response, deadline), content_type
    raise CrawlRefused(f"more than {MAX_REDIRECTS} redirects")


def redirected(url: str, location: str) -> str:
    """The next hop's URL, refused here when it names no usable address: the page's fault, so
    never retried (the guard then checks where it goes)."""
    try:
        target = urljoin(url, location)
        usable(target)
    except ValueError as problem:  # urljoin's own parse, or UnusableURL
        raise CrawlRefused(f"redirected to an unusable URL: {problem}") from None
    return target


def refuse_unparsable_location(response: httpx.Response) -> None:
    """A response hook: httpx parses a redirect's Location before the crawl sees the answer,
    and one it cannot parse (http://[::1/) failed as a protocol error, retried like a dropped
    connection and counted toward the crawl breaker; it is the page's fault, refused here."""
    if not response.has_redirect_location:
        return
    location = response.headers["location"]
    try:
        usable(location)  # said as the intake and every hop say it
        httpx.URL(location)  # whatever else httpx cannot take
    except (ValueError, httpx.InvalidURL) as problem:
        raise CrawlRefused(f"redirected to an unusable URL: {problem}") from None


@functools.cache
def ssl_context():
    """Loading the CA bundle costs ~0.1 s: once per process, not per fetch."""
    return httpx.create_ssl_context()


def deadline_transport(deadline: Callable[[], float]) -> httpx.HTTPTransport:
    """httpx's own transport, whose connections keep `deadline()` (opscore.http_deadline)."""
    return held_to(httpx.HTTPTransport(verify=ssl_context()), deadline)


def deadline_client(seconds: float, transport=None, **options) -> httpx.Client:
    """A client each of whose calls (connect, send, headers, body) is over within `seconds` in
    all: httpx's timeouts bound one read each, so a server trickling its answer a byte at a
    time would hold the caller as long as it liked. Its answers are capped too (CappedAnswers).
    `transport`: a test's, instead."""
    ends = {"at": monotonic() + seconds}

    def starting(request: httpx.Request) -> None:
        ends["at"] = monotonic() + seconds

    headers = {"Accept-Encoding": ACCEPT_ENCODING} | options.pop("headers", {})
    return httpx.Client(
        timeout=httpx.Timeout(seconds),
        transport=CappedAnswers(transport or deadline_transport(lambda: ends["at"])),
        event_hooks={"request": [starting]},
        headers=headers,
        **options,
    )


class AnswerRefused(httpx.HTTPError):
    """An answer not read: larger than MAX_ANSWER_BYTES once inflated, or in an encoding we
    cannot inflate with a cap. An httpx error: a caller handles it as any failed call."""


class CappedAnswers(httpx.BaseTransport):
    """Answers inflated here, at most MAX_ANSWER_BYTES of them held: an outside call's answer
    is a few hundred bytes of JSON, and a 5xx streaming its body as fast as it could (or a
    small gzip inflating to gigabytes) filled the caller's memory within its deadline."""

    def __init__(self, transport: httpx.BaseTransport):
        self.transport = transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.transport.handle_request(request)
        encoding = response.headers.pop("content-encoding", "")  # inflated here, with a cap
        response.stream = CappedBody(response.stream, encoding)
        return response

    def close(self) -> None:
        self.transport.close()


class CappedBody(httpx.SyncByteStream):
    def __init__(self, raw, encoding: str):
        self.raw, self.encoding = raw, encoding

    def __iter__(self) -> Iterator[bytes]:
        held = 0
        try:
            inflate = inflater(self.encoding, CrawlRefused)
            for raw in self.raw:
                for piece in inflate(raw, MAX_ANSWER_BYTES + 1 - held):
                    held += len(piece)
                    yield piece
                if held > MAX_ANSWER_BYTES:
                    raise AnswerRefused(f"the answer is larger than {MAX_ANSWER_BYTES} bytes")
        except CrawlRefused as refused:  # an encoding we do not take, or not inflating
            raise AnswerRefused(str(refused)) from None

    def close(self) -> None:
        self.raw.close()


def crawler_client(deadline: float) -> httpx.Client:
    transport = deadline_transport(lambda: deadline)
    hooks = {"response": [refuse_unparsable_location]}
    return httpx.Client(headers={"User-Agent": USER_AGENT}, transport=transport, event_hooks=hooks)


def over_deadline() -> CrawlRefused:
    return CrawlRefused(f"the page did not arrive within {settings.OPS_CRAWL_DEADLINE_SECONDS} s")


def hop_timeout(deadline: float) -> httpx.Timeout:
    """No single connect or read may outlast what is left of the overall deadline."""
    left = deadline - monotonic()
    if left <= 0:
        raise over_deadline()
    return httpx.Timeout(min(READ_SECONDS, left), connect=min(CONNECT_SECONDS, left))


def refuse_unless_text(content_type: str) -> None:
    media = content_type.split(";")[0].strip().lower()
    if media and not (media.startswith("text/") or media.endswith("+xml") or media in TEXT_TYPES):
        raise CrawlRefused(f"{media} is not text")


def refuse_unless_text_bytes(body: bytes, text: str, content_type: str) -> None:
    """A page is judged by its bytes too, whatever type it names: a PNG or a PDF served as
    text/html was kept as the crawl's words. A NUL is never in the head of a text once decoded
    (a UTF-16 page's bytes hold them, its text none; a stray one deep in a page is a careless
    server's, stripped), and a file format's magic number never starts it."""
    if "\x00" in text[:SNIFFED_CHARS] or body.startswith(BINARY_STARTS):
        media = content_type.split(";")[0].strip().lower()
        said = f"served as {media}" if media else "served with no type"
        raise CrawlRefused(f"{said}, but its bytes are not text")


def read_capped(response: httpx.Response, deadline: float) -> bytes:
    """The decoded body, read raw and inflated here with a cap, so at most MAX_BYTES (+1) are
    ever held; the deadline is checked after every read."""
    inflate = inflater(response.headers.get("content-encoding", ""), CrawlRefused)
    body = bytearray()
    for raw in response.iter_raw():  # as it arrives (a chunk size would buffer up to it)
        for piece in inflate(raw, MAX_BYTES + 1 - len(body)):
            body.extend(piece)
        if len(body) > MAX_BYTES:
            raise CrawlRefused(f"page is larger than {MAX_BYTES} bytes")
        if monotonic() > deadline:
            raise over_deadline()
    return bytes(body)


def fetch_main_text(url: str, client: httpx.Client | None = None) -> Page:
    """A connection refused, reset or answered in garbage is the far end's doing, which whoever
    names the URL chooses (its DNS too): refused, as a missed deadline is. Counted toward the
    crawl's breaker, one such URL retried switched crawling off for everyone."""
    try:
        final_url, body, content_type = fetch(url, client)
    except httpx.TransportError as error:
        raise CrawlRefused(f"fetching {url} failed: {error or type(error).__name__}") from None
    except httpx.HTTPError as error:
        raise OSError(f"fetching {url} failed: {error}") from error
    html = decoded(body, content_type)
    refuse_unless_text_bytes(body, html, content_type)
    if "html" not in content_type and not html.lstrip().startswith("<"):
        text = html
        title = ""
    else:
        extractor = load_extractor()
        fast = len(body) > FULL_EXTRACTION_BYTES  # its cost held to the page's size
        text = extractor.extract(html, url=final_url, fast=fast) or ""
        metadata = extractor.extract_metadata(html)
        title = (metadata.title if metadata and metadata.title else "") or ""
    return Page(final_url, strip_invisible(title), strip_invisible(text), len(body))


def decoded(body: bytes, content_type: str) -> str:
    """The page's text in the charset it declares (its Content-Type, else a <meta> in its first
    KB), as a browser reads it: decoded as UTF-8 whatever it said, a Latin-1 page lost every
    accented letter to U+FFFD. A charset Python does not know, or a codec that is no text
    encoding (rot13, base64, idna refuses "replace"), is read as UTF-8."""
    named = HEADER_CHARSET.search(content_type) or META_CHARSET.search(body[:1024])
    charset = named.group(1) if named else "utf-8"
    if isinstance(charset, bytes):
        charset = charset.decode("ascii")
    try:
        return body.decode(charset, errors="replace")
    except (LookupError, UnicodeError):
        return body.decode("utf-8", errors="replace")


def load_extractor():
    """trafilatura, imported on first use: ~0.25 s that only crawling processes should pay."""
    import trafilatura

    return trafilatura
