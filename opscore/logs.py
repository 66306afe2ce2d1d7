"""Log formatters for LOGGING: plain text or one JSON object a line, secrets masked in both.

The formatters redact what they print rather than filtering records, so a record other handlers
(the test runner's capture, Sentry-style hooks) see is left as the caller made it.
"""

import logging

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonEncoder, JsonFormatter

from opscore.redaction import redact, redact_text

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# uvicorn adds an ANSI-coloured copy of each message as `extra`; it would only be noise in JSON.
NOT_EXTRA = (*RESERVED_ATTRS, "color_message", "taskName")


def without_client_traceback(record: logging.LogRecord) -> logging.LogRecord:
    """A copy without the traceback when Django logs a 4xx it answered (a PermissionDenied in the
    admin, a bad request): the caller's mistake is one warning line, not forty lines of Django's
    own frames in `make run`'s output. A 5xx, and every other record, keeps its traceback."""
    status = getattr(record, "status_code", None)
    if not record.exc_info or not isinstance(status, int) or status >= 500:
        return record
    return logging.makeLogRecord(record.__dict__ | {"exc_info": None, "exc_text": None})


class RedactingTextFormatter(logging.Formatter):
    """The familiar one-line text, with known secrets and bearer tokens masked."""

    def __init__(self, fmt: str = TEXT_FORMAT, **kwargs):
        super().__init__(fmt, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(without_client_traceback(record)))


class RedactingJsonEncoder(JsonEncoder):
    """Extras that are no JSON value (Django's `request`, an exception) become text only here,
    after process_log_record redacted the record, so what they turn into is redacted too.
    Bytes are written as text: the library's base64 would hide a secret from the masking."""

    def default(self, o):
        if isinstance(o, bytes | bytearray):
            return redact_text(bytes(o).decode("utf-8", "backslashreplace"))
        return redact(super().default(o))


class RedactingJsonFormatter(JsonFormatter):
    """One JSON object a line for log shippers: timestamp, level, logger, message, process and
    any `extra=` fields; the message, traceback and extras go through the same redaction as
    events, so a secret-looking key (`token`, `password`) is masked whatever its value."""

    def __init__(self, **kwargs):
        kwargs.setdefault("fmt", ["levelname", "name", "message", "process"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("reserved_attrs", NOT_EXTRA)
        kwargs.setdefault("timestamp", True)
        kwargs.setdefault("json_encoder", RedactingJsonEncoder)
        super().__init__(**kwargs)

    def format(self, record: logging.LogRecord) -> str:
        return super().format(without_client_traceback(record))

    def process_log_record(self, log_data: dict) -> dict:
        return redact(log_data)
