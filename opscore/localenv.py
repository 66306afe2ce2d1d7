"""Secrets for a local install: generated once under .data/, never committed.

The environment always wins; the file only fills in what the environment leaves unset, so a
production deployment that sets every variable never reads it.
"""

import fcntl
import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("OPSCORE_DATA_DIR", BASE_DIR / ".data"))
SECRETS_FILE = DATA_DIR / "secrets.env"
GENERATED = ("SECRET_KEY", "OPS_API_TOKEN", "CRON_SECRET")


def ensure_generated(names: tuple[str, ...], path: Path = SECRETS_FILE) -> dict[str, str]:
    """Add any of `names` the file lacks, each a fresh random value, and return the file's pairs.

    Several processes start at once (web, workers, CLI): an exclusive lock on the file makes the
    first one write and the others read its values, so every process agrees on each secret."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "r+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        text = handle.read()
        pairs = _parse(text)
        missing = {name: secrets.token_urlsafe(48) for name in names if not pairs.get(name)}
        if missing:
            lines = "".join(f"{name}={value}\n" for name, value in missing.items())
            handle.write(lines if text.endswith("\n") or not text else "\n" + lines)
    return pairs | missing


def read_secrets_file(path: Path = SECRETS_FILE) -> dict[str, str]:
    if not path.exists():
        return {}
    return _parse(path.read_text())


def _parse(text: str) -> dict[str, str]:
    pairs = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip():
            pairs[name.strip()] = value.strip()
    return pairs


def load_local_secrets() -> None:
    if all(os.environ.get(name) for name in GENERATED):
        return
    for name, value in ensure_generated(GENERATED).items():
        os.environ.setdefault(name, value)
