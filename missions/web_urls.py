"""Whether a URL names an address one can connect to: it parses, its port (if it names one) is
a number from 1 to 65535, and it holds no control character (httpx refuses to send one).
urllib reads the port only when asked for it, and then raises a bare ValueError (out of range,
not a number, more digits than int() reads), as urlsplit does for an unclosed [IPv6] host:
checked here once, by the intake where a URL is taken and by the crawl at every hop, each
problem said in one line."""

from urllib.parse import SplitResult, urlsplit

PORTS = range(1, 65536)


class UnusableURL(ValueError):
    """The URL names no address one could connect to; the message says why, in one line."""


def usable(url: str) -> SplitResult:
    """`url`'s parts, its port readable (`.port` no longer raises), or UnusableURL."""
    try:
        parts = urlsplit(url)  # drops tabs and newlines, and controls around the URL
    except ValueError as error:
        raise UnusableURL(f"the URL does not parse: {error}") from None
    if any(ord(char) < 32 or ord(char) == 127 for char in parts.geturl()):
        raise UnusableURL("the URL holds a control character")
    try:
        usable_port = parts.port is None or parts.port in PORTS
    except ValueError:  # out of range, not a number, or too many digits to be one
        usable_port = False
    if not usable_port:
        raise UnusableURL(f"the URL's port is not a number from {PORTS[0]} to {PORTS[-1]}")
    return parts
