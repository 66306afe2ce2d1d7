"""Reading the environment, strictly: a bad value stops the start with its name, never a
default silently taken instead (the settings' helpers)."""

import os

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}")


def parse_host_ports(text: str) -> list[tuple[str, int]]:
    """`api.anthropic.com:443,api.openai.com:443` → [(host, port)]; ValueError on a bad item."""
    found = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        host = host.strip("[]").lower()
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{item!r} is not host:port")
        found.append((host, int(port)))
    return found


def env_host_ports(name: str) -> list[tuple[str, int]]:
    try:
        return parse_host_ports(os.environ.get(name, ""))
    except ValueError as bad:
        raise ImproperlyConfigured(f"{name}: {bad}") from None


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def env_at_least(name: str, default: float, least: float) -> float:
    """A number of at least `least` (whole when `default` is): a model call made with 0 tries
    (OPS_LLM_MAX_TRIES=0) raised an AssertionError and left no row, a negative backoff a
    ValueError from time.sleep, and a word for one a traceback at start."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    kind, word = (int, "an integer") if isinstance(default, int) else (float, "a number")
    try:
        value = kind(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be {word}, got {raw!r}") from None
    if not value >= least:  # NaN too
        raise ImproperlyConfigured(f"{name} must be at least {least}, got {raw!r}")
    return value


def env_seconds(name: str, default: int) -> int:
    """Whole seconds, 0 or more (0: no deadline); a negative one is refused, not read as none."""
    value = env_int(name, default)
    if value < 0:
        raise ImproperlyConfigured(f"{name} must be 0 or more seconds, got {value}")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def env_database_url(name: str, **options) -> dict:
    """A database URL as Django's settings; one that does not parse is named, never echoed
    (it carries the password)."""
    import dj_database_url

    try:
        return dj_database_url.parse(os.environ[name], **options)
    except ValueError as error:  # ParseError, UnknownSchemeError
        raise ImproperlyConfigured(
            f"{name} is not a database URL ({type(error).__name__}): "
            "postgres://user:password@host:5432/name, its parts percent-encoded"
        ) from None


def env_http_url(name: str, default: str) -> str:
    """An http(s) URL of a host Opscore calls: one with no scheme (`localhost:11434`), no host
    or a port that is none made every call fail as if the host were down, retried, or raised
    as the client was made, leaving no row of the call. Named, never echoed (it may carry a
    password)."""
    from urllib.parse import urlsplit

    raw = env_str(name) or default  # set empty: the default, as unset
    try:
        parts = urlsplit(raw)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and raw.isprintable()
        parts.port  # noqa: B018 (it raises ValueError for a port that is none)
    except ValueError:
        usable = False
    if not usable:
        raise ImproperlyConfigured(
            f"{name} is not an http(s) URL: http://host:port, any user and password in it "
            "percent-encoded"
        )
    return raw
