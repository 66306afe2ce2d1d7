"""The limits every boundary applies to what comes in (API, Give task, admin, CLI, agentbus,
LLM replies): one size limit, one nesting limit, no NUL characters, no lone surrogates, finite
numbers only, and a body that is UTF-8.

Postgres refuses NUL in text and jsonb, jsonb refuses NaN and Infinity, Python's JSON parser
recurses once per nesting level, and a JSON escape like "\\ud800" decodes to a lone surrogate
that no UTF-8 encoder (so no database driver) accepts: each of these used to surface as a 500
(or a traceback) after part of the work was done. Here they are refused up front, with the
field named.
"""

import json
import math
import re
from datetime import UTC, datetime

from django.conf import settings

# Half of a UTF-16 pair on its own: JSON may spell one ("\\udfff"), UTF-8 cannot carry it.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class FieldErrors(ValueError):
    """Bad input, nothing written: `errors` maps each field path to its messages, the shape
    every boundary answers with (API 400s, agentbus exit 2, form errors)."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))


class InputRefused(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message

    @property
    def errors(self) -> dict:
        return {self.field: [self.message]}


def max_bytes() -> int:
    return settings.OPS_MAX_INPUT_BYTES


def max_depth() -> int:
    return settings.OPS_MAX_INPUT_DEPTH


def parse_json(raw: str | bytes, field: str = "body"):
    """Parse JSON text within the limits; raise InputRefused naming `field`."""
    was_text = isinstance(raw, str)
    if was_text:
        raw = raw.encode("utf-8", errors="surrogatepass")
    if len(raw) > max_bytes():
        raise InputRefused(field, f"at most {max_bytes()} bytes")
    text = raw.decode("utf-8", errors="replace") if was_text else _utf8(raw, field)
    value = _loads(text, field, max_depth())
    try:
        check_clean(value, "")
    except InputRefused as refused:
        raise InputRefused(refused.field or field, refused.message) from None
    return value


def parse_frame(raw: bytes, field: str, depth: int):
    """JSON bytes that wrap a body (a JSON-RPC line around a tool call's arguments), read as
    strictly as parse_json reads one: UTF-8, finite numbers, each key once, nested at most
    `depth` levels. Its size and its strings are left to parse_json, which holds the body to
    the limits once it is unwrapped."""
    return _loads(_utf8(raw, field), field, depth)


def _loads(text: str, field: str, depth: int):
    if nesting_depth(text) > depth:  # json.loads recurses once per level
        raise InputRefused(field, f"nested deeper than {depth} levels")
    try:
        return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_one_each)
    except InputRefused:
        raise InputRefused(field, "NaN and Infinity are not numbers JSON allows") from None
    except _GivenTwice as twice:
        raise InputRefused(field, str(twice)) from None
    except ValueError as error:
        raise InputRefused(field, f"not valid JSON: {error}") from None


def _utf8(raw: bytes, field: str) -> str:
    """Bytes from the wire must be UTF-8 (RFC 8259); replacing what is not would store a
    different text than was sent, without a word."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        raise InputRefused(field, f"not valid UTF-8 (byte {bad.start})") from None


def _refuse_constant(name):
    raise InputRefused("", name)


class _GivenTwice(Exception):
    """A key given twice in one object."""


def _one_each(pairs: list) -> dict:
    """An object whose key comes twice is refused: the last value silently won, so a body a
    proxy checked by its first `target_agent` acted on its second."""
    value = {}
    for key, item in pairs:
        if key in value:
            raise _GivenTwice(f"the key {key!r} is given twice in one object: which is meant?")
        value[key] = item
    return value


def nesting_depth(text: str) -> int:
    """How deep [ and { nest, outside strings, without recursing."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _join(where: str, key) -> str:
    path = f"{where}.{key}"[:200] if where else str(key)[:200]
    return path.encode("utf-8", errors="replace").decode()  # a path is itself answered as text


def check_clean(value, field: str = "") -> None:
    """Refuse NUL characters, lone surrogates, non-finite numbers and excessive nesting anywhere
    in a value; the error names the path from `field` (`steps.0.payload.note`)."""
    stack = [(value, field, 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > max_depth():
            raise InputRefused(where, f"nested deeper than {max_depth()} levels")
        if isinstance(item, str):
            if "\x00" in item:
                raise InputRefused(where, "contains a NUL character (\\u0000)")
            if LONE_SURROGATE.search(item):
                raise InputRefused(where, "contains a lone surrogate (\\ud800-\\udfff), not text")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InputRefused(where, "must be a finite number")
        elif isinstance(item, dict):
            for key, inner in item.items():
                stack.append((key, _join(where, key), depth + 1))
                stack.append((inner, _join(where, key), depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((inner, _join(where, i), depth + 1) for i, inner in enumerate(item))


# The JSON kind a field wants, as a refusal says it (`int` a whole number, `float` any number).
EXPECTED = {
    str: "expected a string",
    bool: "expected true or false",
    int: "expected an integer",
    float: "expected a number",
}


def is_kind(value, kind: type) -> bool:
    """Whether a parsed JSON value is of `kind`, in JSON's terms, not Python's: `true` is no
    number (bool is an int), `2` is a number, `2.0` is no integer."""
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


# A number as a form, a query, a header or a stored reference writes it plainly.
WHOLE_NUMBER = re.compile(r"-?[0-9]+")


def whole_number(text: str) -> int | None:
    """`text` as an integer if it is one in ASCII digits (and a minus), else None. int() alone
    reads " 5", "5_0" and an Arabic-Indic five as 5, 50 and 5, and raises on "²" (which passes
    isdigit) and on more than 4300 digits: a lookup behind it was a 500."""
    if not WHOLE_NUMBER.fullmatch(text):
        return None
    try:
        return int(text)
    except ValueError:  # more digits than int() reads (sys.get_int_max_str_digits)
        return None


# Times a caller may name. PostgreSQL stores far wider, but psycopg cannot load a time outside
# Python's years 1-9999 in UTC ("9999-12-31T23:59-14:00"): such a row, once written, fails
# every page and sweeper that reads it. Nothing real is scheduled outside this span.
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC)


def time_in_range(when: datetime, field: str) -> datetime:
    """`when` (aware) if it lies between 1970 and 3000, else InputRefused naming `field`."""
    try:
        inside = EARLIEST <= when.astimezone(UTC) < LATEST
    except OverflowError:
        inside = False
    if not inside:
        raise InputRefused(field, f"{when.isoformat()} is out of range (1970 to 3000)")
    return when


def without_nul(text: str) -> str:
    """The rule for model output: NUL characters are dropped (they carry nothing readable)."""
    return text.replace("\x00", "")


class MalformedReply(ValueError):
    """A model's answer that fits no schema. The model would answer the same again, so the
    failure is final for that try — never retried, never held against the kind's breaker."""


def describe_invalid(invalid, limit: int = 300) -> str:
    """A pydantic ValidationError in one line: the first problem and its path, and how many
    more there were (pydantic's own text runs to a line per problem and a URL each)."""
    problems = invalid.errors(include_url=False, include_input=False)
    if not problems:
        return "invalid"
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"]) or "reply"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return " ".join(f"{where}: {first['msg']}{more}".split())[:limit]


def parse_reply(text: str, schema, what: str, error=MalformedReply):
    """A model's JSON answer checked against its pydantic schema; anything else raises `error`
    with a one-line reason, so one bad reply fails its step or run, never the worker."""
    from pydantic import ValidationError

    try:
        return schema.model_validate(parse_json(text, "reply"))
    except InputRefused as refused:
        raise error(f"malformed {what} reply: {' '.join(str(refused).split())[:300]}") from None
    except ValidationError as invalid:
        raise error(f"malformed {what} reply: {describe_invalid(invalid)}") from None
