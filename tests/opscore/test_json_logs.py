"""OPS_LOG_FORMAT=json: every log line is one JSON object a log shipper can parse, and secrets
never reach it (nor the default text lines)."""

import io
import json
import logging
import os
import subprocess
import sys
import textwrap

import pytest

from opscore.logs import RedactingJsonFormatter, RedactingTextFormatter
from tests.processes import ROOT

TOKEN = "ops-api-token-0123456789"

# What uvicorn does before importing the app (its own handlers on its loggers), then Django's
# start-up, then lines from our code, Django, a worker-ish logger with extras, and uvicorn.
SCRIPT = textwrap.dedent(
    f"""
    import logging, logging.config
    import django
    from uvicorn.config import LOGGING_CONFIG

    logging.config.dictConfig(LOGGING_CONFIG)
    django.setup()
    logging.getLogger("opscore.supervisor").warning("token is %s", {TOKEN!r})
    logging.getLogger("missions.work").info(
        "step done", extra={{"step_id": 7, "api_key": "plain-key-value"}}
    )
    logging.getLogger("django.request").error("Authorization: Bearer abcdefghijklmnopqrstu")
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/healthz", "1.1", 200
    )
    try:
        raise RuntimeError("failed with {TOKEN}")
    except RuntimeError:
        logging.getLogger("opscore.worker").exception("crashed")
    """
)


def run_logging(log_format: str) -> subprocess.CompletedProcess:
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "opscore.settings",
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",  # parsed, never connected to
        "OPS_API_TOKEN": TOKEN,
        "OPS_LOG_FORMAT": log_format,
        "LOG_LEVEL": "INFO",
    }
    command = [sys.executable, "-c", SCRIPT]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_it_writes_every_line_as_one_json_object_with_secrets_masked():
    result = run_logging("json")

    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    by_logger = {record["logger"]: record for record in records}
    assert set(by_logger) >= {
        "opscore.supervisor",
        "missions.work",
        "django.request",
        "uvicorn.error",
        "uvicorn.access",
        "opscore.worker",
    }
    supervisor = by_logger["opscore.supervisor"]
    assert supervisor["level"] == "WARNING"
    assert supervisor["message"] == "token is [redacted]"
    assert isinstance(supervisor["process"], int)
    assert supervisor["timestamp"].endswith("+00:00")
    assert by_logger["missions.work"]["step_id"] == 7
    assert by_logger["missions.work"]["api_key"] == "[redacted]"
    assert by_logger["django.request"]["message"] == "Authorization: Bearer [redacted]"
    assert by_logger["uvicorn.error"]["message"] == "Started server process [42]"
    assert "color_message" not in by_logger["uvicorn.error"]
    assert by_logger["uvicorn.access"]["message"] == '127.0.0.1:5000 - "GET /healthz HTTP/1.1" 200'
    assert "RuntimeError: failed with [redacted]" in by_logger["opscore.worker"]["exc_info"]
    assert TOKEN not in result.stderr


def test_it_keeps_text_lines_by_default_with_secrets_masked():
    result = run_logging("")

    assert result.returncode == 0, result.stderr
    assert "WARNING opscore.supervisor: token is [redacted]" in result.stderr
    assert TOKEN not in result.stderr


def test_it_refuses_an_unknown_log_format():
    result = run_logging("xml")

    assert result.returncode != 0
    assert "OPS_LOG_FORMAT must be text or json: 'xml'" in result.stderr


def log_through(formatter: logging.Formatter, *args, **kwargs) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.Logger("opscore.tests.logs")
    logger.addHandler(handler)
    logger.warning(*args, **kwargs)
    return stream.getvalue()


def test_it_masks_secrets_nested_in_extra_fields(settings):
    settings.OPS_API_TOKEN = TOKEN
    extra = {"call": {"url": f"https://x.test/?t={TOKEN}", "password": "hunter22", "tries": 2}}

    line = log_through(RedactingJsonFormatter(), "called", extra=extra)

    assert json.loads(line)["call"] == {
        "url": "https://x.test/?t=[redacted]",
        "password": "[redacted]",
        "tries": 2,
    }


def test_it_masks_an_agent_token_in_a_text_line():
    line = log_through(RedactingTextFormatter(), "agent used %s", "opsa_abcdEFGHIJKLMNOPQRSTUV")

    assert line.rstrip().endswith("agent used opsa_abcd[redacted]")


class Described:
    """An extra that is no JSON value (Django's django.request logger passes the request):
    the formatter turns it into text only when it writes the line."""

    def __str__(self):
        return f"<WSGIRequest: GET '/cron?key={TOKEN}'>"


def test_it_masks_secrets_in_extras_it_writes_as_text(settings):
    settings.OPS_API_TOKEN = TOKEN
    extra = {"request": Described(), "error": ValueError(f"refused {TOKEN}"), "seen": [Described()]}
    extra |= {"body": f"token={TOKEN}".encode()}

    line = log_through(RedactingJsonFormatter(), "Internal Server Error", extra=extra)

    assert TOKEN not in line
    assert json.loads(line)["request"] == "<WSGIRequest: GET '/cron?key=[redacted]'>"


HTTPX_SCRIPT = textwrap.dedent(
    """
    import logging.config
    import django, httpx
    from django.conf import settings

    django.setup()
    logging.config.dictConfig(settings.LOGGING)
    sent = httpx.MockTransport(lambda request: httpx.Response(200))
    httpx.Client(transport=sent).post(settings.OPS_WEBHOOK_URL, json={"text": "hi"})
    """
)


def run_logged(script: str, log_format: str, **env) -> subprocess.CompletedProcess:
    """`script` run as Opscore starts, logging at INFO in `log_format`, with `env` set."""
    env = (
        os.environ
        | env
        | {
            "DJANGO_SETTINGS_MODULE": "opscore.settings",
            "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",  # parsed, never connected to
            "OPS_LOG_FORMAT": log_format,
            "LOG_LEVEL": "INFO",
        }
    )
    command = [sys.executable, "-c", script]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_an_http_call_leaves_no_webhook_key_in_the_log(log_format):
    """httpx logs each request's URL at INFO, spelled as httpx normalised it (the host
    lowercased), which masking the setting's value does not catch; a chat webhook's URL is
    its key."""
    webhook = "https://Hooks.Example.com/services/T000/B000/XXXXsecretXXXX"
    result = run_logged(HTTPX_SCRIPT, log_format, OPS_WEBHOOK_URL=webhook)

    assert result.returncode == 0, result.stderr
    assert "secret" not in result.stderr


ANTHROPIC_SCRIPT = textwrap.dedent(
    """
    import logging.config
    import django, httpx2
    from django.conf import settings

    django.setup()
    logging.config.dictConfig(settings.LOGGING)
    from opscore.llm import AnthropicProvider, LLMError, LLMRequest

    refused = {"type": "error", "error": {"type": "authentication_error", "message": "no"}}
    sent = httpx2.MockTransport(lambda request: httpx2.Response(401, json=refused))
    try:
        AnthropicProvider("sk-test", transport=sent).complete(
            LLMRequest(system="s", messages=[{"role": "user", "content": "hi"}])
        )
    except LLMError as error:
        print(error)
    """
)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_model_call_leaves_no_gateway_password_in_the_log(log_format):
    """The Anthropic client's own httpx (httpx2) logs each request's URL at INFO, as httpx
    does, yet was left at INFO: a gateway's ANTHROPIC_BASE_URL with a password in it was
    written into the log on every call, a URL no masking knew."""
    gateway = "https://opscore:gw-pass-0123456789@gateway.example.com/anthropic"
    result = run_logged(ANTHROPIC_SCRIPT, log_format, ANTHROPIC_BASE_URL=gateway)

    assert result.returncode == 0 and "HTTP 401" in result.stdout, result.stderr
    assert "gw-pass" not in result.stderr + result.stdout
