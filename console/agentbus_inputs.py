"""What every agent-bus transport (CLI, HTTP, MCP) shares: the errors a verb may raise and the
parsing of its text arguments. Each transport maps the errors onto its own answer: the CLI to
exit codes 2 and 3, HTTP to 400/403/404/409, MCP to a tool error — the same JSON body in all."""

import sys
import uuid
from contextvars import ContextVar
from datetime import datetime

from opscore.inputs import InputRefused, max_bytes, parse_json, time_in_range

# Set while a remote caller (HTTP, MCP) is served: '-' and @path would read the server's own
# stdin and files, so only JSON literals are taken then.
REMOTE = ContextVar("agentbus_remote", default=False)


def flag(option: str) -> str:
    """An option as the command line spells it: lease_seconds is --lease-seconds."""
    return f"--{option.replace('_', '-')}"


def json_key(option: str) -> str:
    """An option as an HTTP or MCP caller spells it: the JSON key it sent, lease_seconds."""
    return option


class BadInput(Exception):
    """The request itself is wrong: nothing was written (CLI exit 2, HTTP 400).

    An option at fault is named by its dest (`option`, and the keys of `errors` listed in
    `options`), never by a spelling: each transport answers with its own (`as_json(flag)` on the
    command line, `as_json(json_key)` over HTTP and MCP), so a remote caller is never told of a
    --flag it cannot send."""

    status = 400

    def __init__(self, message, errors=None, *, option=None, options=()):
        super().__init__(message)
        self.option = option
        self.errors = errors or ({option: [message]} if option else {})
        self.options = {*options, option} - {None}

    def as_json(self, spell) -> dict:
        errors = {spell(k) if k in self.options else k: v for k, v in self.errors.items()}
        error = f"{spell(self.option)}: {self}" if self.option else str(self)
        return {"ok": False, "error": error, "errors": errors}


class Forbidden(BadInput):
    """Not this caller's to do (HTTP 403): a coding-lane job, another agent's name."""

    status = 403


class NotFound(BadInput):
    """No such row for this caller (HTTP 404); another agent's row is answered the same way, so
    a token cannot probe what exists outside its scope."""

    status = 404


class Refused(BadInput):
    """A well-formed write that no longer applies: a lost lease, a closed run (exit 3, 409)."""

    status = 409


def refuse(message: str, code: int = 3):
    raise Refused(message)


def check_sizes(opts: dict) -> None:
    """Text arguments obey the same size limit as JSON ones (and as API bodies)."""
    for name, value in opts.items():
        if isinstance(value, str) and len(value.encode()) > max_bytes():
            raise BadInput(f"at most {max_bytes()} bytes", {name: ["too large"]}, option=name)


def json_arg(text: str, name: str):
    """A JSON literal, '-' for stdin, or @path for a file; within the input limits."""
    limit = max_bytes()
    if REMOTE.get() and (text == "-" or text.startswith("@")):
        raise BadInput("give the JSON itself", {name: ["a JSON literal only"]}, option=name)
    if text == "-":
        text = sys.stdin.read(limit + 1)
    elif text.startswith("@"):
        try:
            with open(text[1:], "rb") as handle:
                text = handle.read(limit + 1)
        except OSError as error:
            raise BadInput(f"cannot read {text[1:]}: {error.strerror}") from None
    try:
        return parse_json(text, name)
    except InputRefused as refused:
        raise BadInput(refused.message, option=name) from None


def json_object(text: str, name: str) -> dict:
    value = json_arg(text, name)
    if not isinstance(value, dict):
        raise BadInput("must be a JSON object", option=name)
    return value


def iso_time(text: str, name: str) -> datetime:
    """The time option `name` gave, aware and in range; its errors name that option."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"not an ISO-8601 time: {text!r}", option=name) from None
    if value.tzinfo is None:
        raise BadInput(f"time needs a zone (e.g. Z): {text!r}", option=name)
    try:
        return time_in_range(value, name)
    except InputRefused as refused:
        raise BadInput(refused.message, option=name) from None


def token(text: str):
    try:
        return uuid.UUID(text)
    except ValueError:
        raise BadInput(f"not a UUID: {text!r}", option="lease_token") from None
