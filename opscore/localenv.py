"""Secrets for a local install: generated once under .data/, never committed.

The environment always wins; the file only fills in what the environment leaves unset, so a
production deployment that sets every variable never reads it.
"""

import contextlib
import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("OPSCORE_DATA_DIR", BASE_DIR / ".data"))
SECRETS_FILE = DATA_DIR / "secrets.env"
GENERATED = ("SECRET_KEY", "OPS_API_TOKEN", "CRON_SECRET")


def _generate_secrets_file() -> None:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    lines = [f"{name}={secrets.token_urlsafe(48)}" for name in GENERATED]
    fd = os.open(SECRETS_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")


def read_secrets_file() -> dict[str, str]:
    if not SECRETS_FILE.exists():
        return {}
    pairs = {}
    for line in SECRETS_FILE.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip():
            pairs[name.strip()] = value.strip()
    return pairs


def load_local_secrets() -> None:
    if all(os.environ.get(name) for name in GENERATED):
        return
    if not SECRETS_FILE.exists():
        with contextlib.suppress(FileExistsError):  # another process was first; read theirs
            _generate_secrets_file()
    for name, value in read_secrets_file().items():
        os.environ.setdefault(name, value)
