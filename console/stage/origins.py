"""Which pages may open the Stage's socket: its own, as Django's CSRF check decides for posts.

A browser sends a host's cookies with a socket opened from any page on that host, whatever its
port, so checking the Origin's host against ALLOWED_HOSTS (channels' validator) let a page of
another program on the same host (another origin) open a private Stage with the signed-in
person's session. The Origin must name the socket's own host and port (the Host header, itself
one of ALLOWED_HOSTS, so a rebound name is no way in), or be one of CSRF_TRUSTED_ORIGINS (a proxy
that rewrites Host). The scheme is not compared: a TLS proxy makes it http on the inside."""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

DEBUG_HOSTS = [".localhost", "127.0.0.1", "[::1]"]  # Django's own, with DEBUG and none set


class SameOriginValidator:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not same_origin(dict(scope.get("headers", ()))):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


def same_origin(headers: dict) -> bool:
    origin = headers.get(b"origin", b"").decode("latin-1").lower()
    host = headers.get(b"host", b"").decode("latin-1").lower()
    if not origin or not host or not allowed_host(host):
        return False
    return urlsplit(origin).netloc == host or trusted(origin)


def allowed_host(host: str) -> bool:
    allowed = settings.ALLOWED_HOSTS or (DEBUG_HOSTS if settings.DEBUG else [])
    domain, _ = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


def trusted(origin: str) -> bool:
    """CSRF_TRUSTED_ORIGINS as Django reads them: exact, or `scheme://*.domain` for its
    subdomains."""
    parts = urlsplit(origin)
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        entry = entry.lower()
        if entry == origin:
            return True
        scheme, _, netloc = entry.partition("://")
        wildcard = "*" in netloc and scheme == parts.scheme
        if wildcard and is_same_domain(parts.netloc, netloc.replace("*", "")):
            return True
    return False
