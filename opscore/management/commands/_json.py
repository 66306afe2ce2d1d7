"""Shared output helpers for commands that speak JSON to scripts and text to people."""

import json
import sys

from django.core.management.base import CommandError


def dump(data) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str)


def fail(message: str, *, as_json: bool, errors: dict | None = None, code: int = 1):
    """Report bad input: a JSON error object on stdout for scripts, CommandError for people."""
    if not as_json:
        details = "".join(f"\n  {k}: {'; '.join(v)}" for k, v in (errors or {}).items())
        raise CommandError(message + details)
    sys.stdout.write(dump({"error": message, "errors": errors or {}}) + "\n")
    raise SystemExit(code)
