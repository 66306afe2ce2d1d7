"""Whether a URL names an address one can connect to: it parses, its port (if it names one) is
a number from 1 to 65535, and it holds no control character (httpx refuses to send one).
urllib reads the port only when asked for it, and then raises a bare ValueError (out of range,
not a number, more digits than int() reads), as urlsplit does for an unclosed [IPv6] host:
checked here once, by the intake where a URL is taken, by the crawl at every hop and for an
agent's wake URL (validate_usable_url), each problem said in one line. A host named in Unicode
(bücher.example) is given as its IDNA A-label (xn--bcher-kva.example), encoded once so the
lookup, the Host header and the TLS name agree (httpx cannot send a header holding ü); a name
IDNA refuses is unusable. Here in opscore, below missions, so that a model can use it too."""

from urllib.parse import SplitResult, urlsplit

import idna
from django.core.exceptions import ValidationError

PORTS = range(1, 65536)


class UnusableURL(ValueError):
    """The URL names no address one could connect to; the message says why, in one line."""


def usable(url: str) -> SplitResult:
    """`url`'s parts, its port readable (`.port` no longer raises) and its host ASCII, or
    UnusableURL."""
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
    return ascii_named(parts)


def ascii_named(parts: SplitResult) -> SplitResult:
    """`parts` with a Unicode host name as its A-label (UTS 46 mapping, IDNA 2008 rules, as
    browsers do; the resolver's own codec is IDNA 2003, which reads ß differently)."""
    host = parts.hostname
    if not host or host.isascii():  # an ASCII name or address goes as it is
        return parts
    try:
        a_label = idna.encode(host, uts46=True).decode("ascii")
    except UnicodeError as error:  # idna.IDNAError, or a label its codec cannot take
        raise UnusableURL(
            f"the URL's host name is no international domain name ({error})"
        ) from None
    user = parts.netloc.rpartition("@")[0]
    port = f":{parts.port}" if parts.port is not None else ""
    return parts._replace(netloc=(f"{user}@" if user else "") + a_label + port)


def validate_usable_url(url: str) -> None:
    """A model field's validator: Django's URLField reads any five digits as a port (99999)."""
    try:
        usable(url)
    except UnusableURL as problem:
        raise ValidationError(str(problem), code="unusable_url") from None
