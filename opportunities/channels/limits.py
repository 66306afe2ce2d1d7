"""What may be posted, checked before anything leaves: each network's length rule as it counts
(X's weighted characters, Bluesky's graphemes, Mastodon's instance limit) and no text that
looks like a credential. A refusal says which rule and by how much."""

import re
import unicodedata

import regex  # \X: user-perceived characters (grapheme clusters), as Bluesky and Mastodon count

from opscore.redaction import _known_secrets

URL = re.compile(r"https?://\S+", re.I)
URL_WEIGHT = 23  # X (t.co) and Mastodon count every link as 23 characters
X_LIMIT, BLUESKY_LIMIT, BLUESKY_BYTES = 280, 300, 3000
# twitter-text v3: these code point ranges weigh 1, everything else (CJK, emoji) 2.
X_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
SECRET_SHAPES = {
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "an AWS access key": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "an API key": re.compile(r"\b(sk|pk|rk)[-_](live_|test_|ant-|proj-)?[A-Za-z0-9_-]{20,}"),
    "a GitHub token": re.compile(r"\b(ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}"),
    "a Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "a JSON web token": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+"),
    "an agent token": re.compile(r"\bopsa_[A-Za-z0-9_-]{16,}"),
    "a bearer credential": re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{16,}"),
    "a password assignment": re.compile(r"(?i)\b(password|passwd|secret|api_?key)\s*[:=]\s*\S{6,}"),
}


def graphemes(text: str) -> int:
    return len(regex.findall(r"\X", text))


def without_urls(text: str) -> tuple[str, int]:
    """The text with its links taken out, and how many there were."""
    return URL.subn("", text)


def x_length(text: str) -> int:
    rest, links = without_urls(unicodedata.normalize("NFC", text))
    weight = 0
    for cluster in regex.findall(r"\X", rest):
        point = ord(cluster[0])
        light = any(low <= point <= high for low, high in X_LIGHT) and len(cluster) == 1
        weight += 1 if light else 2
    return weight + links * URL_WEIGHT


def mastodon_length(text: str) -> int:
    rest, links = without_urls(text)
    return graphemes(rest) + links * URL_WEIGHT


def too_long(channel: str, text: str, limit: int | None = None) -> str | None:
    """Why `text` is too long for `channel`, or None. Mastodon needs its instance's `limit`."""
    if channel == "x" and (n := x_length(text)) > X_LIMIT:
        return f"too long for X: {n} weighted characters (links count 23), limit {X_LIMIT}"
    if channel == "bluesky" and (n := graphemes(text)) > BLUESKY_LIMIT:
        return f"too long for Bluesky: {n} characters, limit {BLUESKY_LIMIT}"
    if channel == "bluesky" and len(text.encode()) > BLUESKY_BYTES:
        return f"too long for Bluesky: over {BLUESKY_BYTES} bytes"
    if channel == "mastodon" and limit and (n := mastodon_length(text)) > limit:
        return f"too long for this Mastodon instance: {n} characters, limit {limit}"
    return None


def secret_in(text: str) -> str | None:
    """What secret-looking thing a post contains (never the thing itself), or None."""
    for secret in _known_secrets():
        if secret in text:
            return "one of this installation's configured secrets"
    for label, shape in SECRET_SHAPES.items():
        if shape.search(text):
            return label
    return None
