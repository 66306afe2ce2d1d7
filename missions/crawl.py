"""Fetch a public web page, safely, and keep its main text.

The guard refuses private, loopback, link-local and other non-public addresses for the first
URL and for every redirect, checking what the name resolves to (not just how it is spelled).
Size and time are bounded; the text is extracted with trafilatura and cleaned of invisible
characters. Whatever comes back is untrusted content.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from missions.text import strip_invisible

MAX_BYTES = 2 * 1024 * 1024
MAX_REDIRECTS = 5
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
USER_AGENT = "OpscoreCrawler/1.0 (+https://github.com/opscore)"


class CrawlRefused(ValueError):
    """The URL is not something we fetch (scheme, address, size, redirects)."""


@dataclass(frozen=True)
class Page:
    url: str
    title: str
    text: str
    size: int


def resolve(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        raise CrawlRefused(f"cannot resolve {host!r}: {error}") from None
    return sorted({info[4][0] for info in infos})


def check_public(url: str) -> str:
    """Refuse a URL that is not public; return the checked address to connect to."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise CrawlRefused(f"only http and https are fetched, not {parts.scheme!r}")
    if not parts.hostname:
        raise CrawlRefused("the URL has no host")
    if parts.username or parts.password:
        raise CrawlRefused("URLs with credentials are not fetched")
    addresses = resolve(parts.hostname)
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global or ip.is_multicast:
            raise CrawlRefused(f"{parts.hostname} resolves to non-public address {ip}")
    return addresses[0]


def pinned(url: str, address: str) -> tuple[str, dict, dict]:
    """The request for `url` sent to the address that was checked, so a name that resolves
    differently a moment later (DNS rebinding) cannot steer the connection. The Host header,
    TLS SNI and certificate check still use the name."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = host + (f":{parts.port}" if parts.port else "")
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    return urlunsplit(parts._replace(netloc=netloc)), {"Host": parts.netloc}, extensions


def fetch(url: str, client: httpx.Client | None = None) -> tuple[str, bytes, str]:
    """GET with redirects followed by hand, so each hop passes the guard."""
    client = client or httpx.Client(timeout=TIMEOUT, headers={"User-Agent": USER_AGENT})
    for _ in range(MAX_REDIRECTS + 1):
        target, headers, extensions = pinned(url, check_public(url))
        with client.stream(
            "GET", target, headers=headers, extensions=extensions, follow_redirects=False
        ) as response:
            if response.is_redirect:
                url = urljoin(url, response.headers.get("location", ""))
                continue
            if response.status_code != 200:
                raise OSError(f"HTTP {response.status_code} from {url}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > MAX_BYTES:
                    raise CrawlRefused(f"page is larger than {MAX_BYTES} bytes")
            return url, bytes(body), response.headers.get("content-type", "")
    raise CrawlRefused(f"more than {MAX_REDIRECTS} redirects")


def fetch_main_text(url: str, client: httpx.Client | None = None) -> Page:
    try:
        final_url, body, content_type = fetch(url, client)
    except httpx.HTTPError as error:
        raise OSError(f"fetching {url} failed: {error}") from error
    html = body.decode("utf-8", errors="replace")
    if "html" not in content_type and not html.lstrip().startswith("<"):
        text = html
        title = ""
    else:
        extractor = load_extractor()
        text = extractor.extract(html, url=final_url) or ""
        metadata = extractor.extract_metadata(html)
        title = (metadata.title if metadata and metadata.title else "") or ""
    return Page(final_url, strip_invisible(title), strip_invisible(text), len(body))


def load_extractor():
    """trafilatura, imported on first use: ~0.25 s that only crawling processes should pay."""
    import trafilatura

    return trafilatura
