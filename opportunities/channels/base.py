"""What every publishing channel shares: the HTTP client (one deadline for every call, and the
transport seam tests fill with httpx.MockTransport), the answers a channel gives, and how an
error body is kept: truncated and redacted, never with a credential in it.

httpx directly rather than each network's client library: atproto, Mastodon.py and tweepy do
not take an injectable transport (the latter two are built on requests), and the calls we need
are a handful of documented REST endpoints each.
"""

import contextlib
import email.utils
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.conf import settings

from missions.crawl import deadline_client
from opscore.redaction import redact_text
from opscore.text import strip_invisible
from opscore.web_urls import UnusableURL, usable

# Tests install an httpx.MockTransport here; None is the real network.
TRANSPORT: httpx.BaseTransport | None = None
ERROR_BODY_CHARS = 300
DEFAULT_RETRY_SECONDS = 60
MAX_RETRY_SECONDS = 24 * 3600
MAX_COUNT = 2**31 - 1  # ContentMetric's impressions and engagements
CLOCK_SKEW = timedelta(minutes=5)  # a channel's clock against ours
MAX_URL_CHARS = 500  # Publication.url
MAX_ID_CHARS = 200  # Publication.external_id
# What is never in one of Mastodon's or X's ids (digits; Pleroma's base62, GoToSocial's ULIDs),
# each put into a path we ask for with our token: `../` led it to another path (httpx folds
# dot segments away), a `?` or `#` cut it short, a `%2F` is a slash to many a server.
NOT_IN_PATH_IDS = re.compile(r"[^A-Za-z0-9_-]")


class ChannelError(Exception):
    """Anything a channel answered that is not what we asked for; the text is safe to store."""


class Unavailable(ChannelError):
    """A network failure or a 5xx: the outbox's backoff retries it."""


class RateLimited(ChannelError):
    def __init__(self, reason: str, retry_after: float):
        super().__init__(reason)
        self.retry_after = retry_after


class CredentialsRefused(ChannelError):
    """401 (or a 403 that names the token): the channel is blocked until a human acts."""


class PostRejected(ChannelError):
    """The channel refused this post (too long, invalid): retrying the same words cannot help."""


class Duplicate(ChannelError):
    """The channel says it already has this post (a retry after a lost answer)."""


class Malformed(ChannelError):
    """A 2xx whose body is not the documented shape."""


@dataclass(frozen=True)
class Posted:
    post_id: str
    url: str


@dataclass(frozen=True)
class Measured:
    """Public numbers only. Channels that report no impressions (Bluesky, Mastodon) give 0."""

    impressions: int = 0
    engagements: int = 0
    deleted: bool = False


def client(base_url: str, **headers) -> httpx.Client:
    """Each call (connect, send, headers, body) is over within OPS_CHANNEL_TIMEOUT seconds in
    all: httpx's timeouts bound one read each, and a server trickling its answer a byte at a
    time would hold a post past the outbox's claim (then sent twice)."""
    seconds = float(settings.OPS_CHANNEL_TIMEOUT)
    return deadline_client(seconds, TRANSPORT, base_url=base_url, headers=headers)


def error_body(answer: httpx.Response) -> str:
    """The first few hundred characters, any credential in them masked, and no NUL or other
    control character: Postgres refuses a NUL, and the reason's row (and the deliverer or the
    poll writing it) failed on it."""
    text = " ".join(strip_invisible(answer.text).split())
    return redact_text(text)[:ERROR_BODY_CHARS]


def retry_seconds(answer: httpx.Response) -> float:
    """Retry-After as seconds or an HTTP date; X's x-rate-limit-reset (epoch seconds) too."""
    value = answer.headers.get("retry-after", "").strip()
    if value.isdecimal():  # not isdigit: "²" (a Latin-1 byte 0xb2) is a digit float() refuses
        return min(float(value), MAX_RETRY_SECONDS)
    when = None
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value).timestamp() if value else None
    reset = answer.headers.get("x-rate-limit-reset", "")  # X: epoch seconds
    reset = (reset or answer.headers.get("ratelimit-reset", "")).strip()  # Bluesky: the same
    if when is None and reset.isdecimal():
        when = float(reset)
    iso = answer.headers.get("x-ratelimit-reset", "").strip()  # Mastodon: an ISO 8601 time
    if when is None and iso:
        with contextlib.suppress(ValueError):
            when = datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    if when is None:
        return DEFAULT_RETRY_SECONDS
    return min(max(when - time.time(), 1.0), MAX_RETRY_SECONDS)


def check(answer: httpx.Response, channel: str) -> httpx.Response:
    """Turn the status codes every channel shares into our errors; 2xx passes through. A
    redirect is not followed (it would carry the credential or the signed post elsewhere) and
    is no post made: a webhook answering one was recorded as published."""
    code = answer.status_code
    if 300 <= code < 400:
        raise Unavailable(f"{channel} answered {code}, a redirect: not followed")
    said = f"{channel} answered {code}: {error_body(answer)}"
    if code == 429:
        raise RateLimited(said, retry_seconds(answer))
    if code == 401:
        raise CredentialsRefused(said)
    if code >= 500:
        raise Unavailable(said)
    if code >= 400:
        raise PostRejected(said)
    return answer


def parsed(answer: httpx.Response, channel: str):
    """The answer's JSON. Nested deeper than the reader goes (a hundred thousand `[`, well
    under the answer's cap) it raises RecursionError, no ValueError: that passed every
    caller's handling and failed the whole engagement order, on every run."""
    try:
        return answer.json()
    except ValueError:
        raise Malformed(f"{channel} answered {answer.status_code} with no JSON") from None
    except RecursionError:
        said = f"{channel} answered {answer.status_code} with JSON nested too deep to read"
        raise Malformed(said) from None


def json_of(answer: httpx.Response, channel: str) -> dict:
    data = parsed(answer, channel)
    if not isinstance(data, dict):
        raise Malformed(f"{channel} answered JSON that is not an object")
    return data


def count_of(data: dict, field: str, channel: str) -> int:
    """A whole number a metric row holds (an integer column): one past it failed the row's
    write, and with it the poll order, on every run."""
    value = data.get(field, 0)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
        raise Malformed(f"{channel} metric {field!r} is not a count: {str(value)[:40]!r}")
    return value


def engagements_of(data: dict, fields: tuple[str, ...], channel: str) -> int:
    total = sum(count_of(data, field, channel) for field in fields)
    if total > MAX_COUNT:
        raise Malformed(f"{channel} engagements are not a count: {total}")
    return total


def measured(impressions: int, engagements: int, channel: str) -> Measured:
    """A channel's numbers as the metrics API takes them (missions.metrics): engagements past
    impressions are no measurement, and their rate (engagements over impressions, in the
    billions) topped every tweet_high_engagement threshold and the calibration's averages.
    No impressions reported (0) is a rate of 0, whatever the engagements."""
    if impressions and engagements > impressions:
        said = f"{channel} engagements ({engagements}) exceed impressions ({impressions})"
        raise Malformed(said)
    return Measured(impressions, engagements)


def path_id(value, what: str, channel: str) -> str:
    """A Mastodon or X id as one segment of a path we ask for, or Malformed: an answer's id
    that leads to another path (or an earlier row's) is never asked for with our token."""
    text = value if isinstance(value, str) else ""
    if not text or len(text) > MAX_ID_CHARS or NOT_IN_PATH_IDS.search(text):
        raise Malformed(f"{channel}: {what} {text[:40]!r} is not an id")
    return text


def post_link(value) -> str:
    """A post's URL as the channel gave it, kept only when it is a web address: the Stage
    links to it, and an answer's `javascript:` (or `data:`) URL was a script behind that link.
    Anything else is no URL (the post id is still kept)."""
    url = value if isinstance(value, str) else ""
    try:
        parts = usable(url)
    except UnusableURL:
        return ""
    web = parts.scheme in ("http", "https") and parts.hostname and url.isprintable()
    return url if web and " " not in url and len(url) <= MAX_URL_CHARS else ""


def looked_since(request) -> datetime:
    """Where a retry's look for the post starts: the outbox row was written, less the skew.
    An older post with the same words (last week's 'New release: <link>', X comparing words
    without links) is not this one."""
    return request.created_at - CLOCK_SKEW


def made_since(post: dict, since: datetime) -> bool:
    try:
        made = datetime.fromisoformat(str(post.get("created_at")))
    except ValueError:
        return False
    return made.tzinfo is not None and made >= since
