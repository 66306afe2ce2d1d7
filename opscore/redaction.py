"""Keep secrets out of anything that is stored for people to read (events, errors, the Stage)."""

import base64
import functools
import os
import re
from urllib.parse import quote, unquote, urlsplit

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

SECRET_KEY_PATTERN = re.compile(r"(secret|token|password|passwd|api[_-]?key|authorization)", re.I)
BEARER_PATTERN = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
# An agent API token (console.models.PREFIX) pasted anywhere: its first letters may stay.
AGENT_TOKEN_PATTERN = re.compile(r"(opsa_[A-Za-z0-9_-]{4})[A-Za-z0-9_-]{12,}")
REDACTED = "[redacted]"
# URLs read from the environment that may carry a password, besides the settings: the
# database's (the settings keep its password decoded), the Anthropic client's own (a gateway's)
# and the proxies' a model call may go through.
DATABASE_URLS = ("DATABASE_URL", "DATABASE_ADMIN_URL")
PROXIES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")
HOST_URLS = ("ANTHROPIC_BASE_URL", *PROXIES, *(name.lower() for name in PROXIES))
# A URL's user with no password is taken for a token (url_credentials) from this length on.
TOKEN_AS_USER_CHARS = 16
# Credentials handed out while running (a channel's session token), newest last: as secret as
# a setting, yet known only once a server gave them. Bounded, the oldest (long expired) forgotten.
RUNTIME_SECRETS_KEPT = 32
_runtime_secrets: tuple[str, ...] = ()  # replaced whole, never changed while read


@functools.cache
def _known_secrets() -> tuple[str, ...]:
    """Read once per process (every event, step result and log line is redacted, and reading
    sixteen settings each time was a tenth of a worker's own CPU a step); a changed setting
    (a test's override) or a credential learned at runtime (know_secret) clears it."""
    names = ("SECRET_KEY", "OPS_API_TOKEN", "CRON_SECRET", "ANTHROPIC_API_KEY")
    names += ("OPS_AGENT_HOOK_TOKEN", "OPS_X_ACCESS_TOKEN", "OPS_BLUESKY_APP_PASSWORD")
    names += ("OPS_MASTODON_TOKEN", "OPS_POST_WEBHOOK_SECRET", "OPS_METRICS_TOKEN")
    names += ("EMAIL_HOST_PASSWORD", "OPS_WEBHOOK_URL")  # a chat webhook's URL is its key
    names += ("OPS_POST_WEBHOOK_URL",)  # so is a posting webhook's
    values = [getattr(settings, name, "") or "" for name in names]
    values.append(settings.DATABASES["default"].get("PASSWORD") or "")
    values.append(getattr(settings, "OPS_DATABASE_ADMIN", {}).get("PASSWORD") or "")
    for name in ("REDIS_URL", "OLLAMA_URL", "EMAIL_URL"):
        values += url_credentials(getattr(settings, name, ""))
    for name in DATABASE_URLS:  # as written: an encoding its decoded password does not spell
        values += url_credentials(os.environ.get(name, ""), users_too=False)
    for name in HOST_URLS:
        values += url_credentials(os.environ.get(name, ""))
    values += _runtime_secrets
    values = [value for value in values if isinstance(value, str) and len(value) >= 8]
    return tuple(dict.fromkeys(spelling for value in values for spelling in spellings(value)))


def spellings(value: str) -> tuple[str, ...]:
    """A secret as written and as a URL carries it (a DSN's password with '@' or '/',
    percent-encoded; a path an HTTP library quoted, '/' left as it is)."""
    return (value, quote(value, safe=""), quote(value))


def base64_cores(value: str) -> list[str]:
    """What of a secret's base64 no text around it changes, at each of the three places in a
    3-byte group it may start, standard and URL-safe; at most two of its bytes stay readable.
    For text from something that holds the secret and may wrap it to pass the plain masking
    (a harness and its own key): ten more replaces a secret, too dear for every event."""
    raw, cores = value.encode(), []
    for start in range(3):
        whole = raw[start:][: (len(raw) - start) // 3 * 3]
        if len(whole) >= 6:
            core = base64.b64encode(whole).decode()
            cores += [core, core.replace("+", "-").replace("/", "_")]
    return cores


def know_secret(value: str) -> None:
    """A credential obtained at runtime (a session's access token) is masked from now on, as
    the configured ones are, wherever a server's answer or an error quotes it bare."""
    global _runtime_secrets
    if not isinstance(value, str) or len(value) < 8 or value in _runtime_secrets:
        return
    _runtime_secrets = (*_runtime_secrets, value)[-RUNTIME_SECRETS_KEPT:]
    _known_secrets.cache_clear()


@receiver(setting_changed, dispatch_uid="opscore.redaction.forget_known_secrets")
def forget_known_secrets(**kwargs) -> None:
    _known_secrets.cache_clear()


def url_credentials(url: str, users_too: bool = True) -> list[str]:
    """A URL's password as written and decoded, and the Basic credential an HTTP client makes
    of its userinfo (httpx sends OLLAMA_URL's as an Authorization header a proxy may echo).
    With no password, a user as long as a token is one (https://TOKEN@host): it was kept
    readable; a shorter one is a name, whose every mention masked would hide innocent words.
    Not `users_too`: a database's user is a role's name, which messages name, never a token."""
    try:
        parts = urlsplit(url or "")
        written = parts.password
        user_written = parts.username or ""
    except ValueError:
        return []
    user, password = unquote(user_written), unquote(written or "")
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    if written:
        return [written, password, basic]
    token = users_too and len(user) >= TOKEN_AS_USER_CHARS
    return [user_written, user, basic] if token else []


def mask_known(text: str) -> str:
    """Only the environment's own secrets masked: for words that are kept as written (a
    model's reply), where a pattern (`bearer` and eight letters) would also mask innocent
    words."""
    for secret in _known_secrets():
        text = text.replace(secret, REDACTED)
    return text


def redact_text(text: str) -> str:
    text = AGENT_TOKEN_PATTERN.sub(_kept_prefix, mask_known(text))
    return BEARER_PATTERN.sub(_kept_prefix, text)


def _kept_prefix(match: re.Match) -> str:
    """What a match becomes: its first group, then REDACTED. A function, not a template naming
    the group: re calls into Python to parse a template on every sub(), match or not, and every
    event, result and log line is redacted (a worker: each key and text of every step's
    result)."""
    return match.group(1) + REDACTED


# What a secret-looking key may hold and still be shown: a count (`input_tokens`), a price, a
# flag (`password_set`), nothing. No secret here is a number; masked, the counts were lost.
NEVER_SECRET = (bool, int, float, type(None))


def redact(value):
    """Return a copy of a JSON-like value with secret-looking keys and known secrets masked
    (in its keys too: a secret used as a key is as readable as one used as a value)."""
    if isinstance(value, dict):
        return {
            scrub(key): redact(item)
            if isinstance(item, NEVER_SECRET) or not SECRET_KEY_PATTERN.search(str(key))
            else REDACTED
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def scrub(value):
    """Known secrets masked wherever they appear in a JSON-like value, its keys included, and
    nothing else changed (a `lease_token` keeps its value): what an outside caller sends (the
    agent API) is scrubbed before any of it is parsed, stored or echoed."""
    if isinstance(value, dict):
        return {scrub(key): scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
