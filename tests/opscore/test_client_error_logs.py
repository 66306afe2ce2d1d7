"""What `make run` prints when a request is refused: a 4xx Django raised as an exception is one
warning line; a 5xx keeps its traceback for whoever has to fix it."""

import io
import logging
import sys

import pytest

from opscore.logs import RedactingJsonFormatter, RedactingTextFormatter


@pytest.fixture
def request_log():
    """django.request's lines as the console handler of `make run` writes them."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(RedactingTextFormatter())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    yield out
    logger.removeHandler(handler)


@pytest.mark.django_db
def test_a_refused_admin_page_is_one_warning_line_without_a_traceback(admin_client, request_log):
    """Opening the delete page of an evidence row (or its add page) answers 403, and printed
    ~40 lines of Django's frames under "Forbidden (Permission denied)" into `make run`'s output
    each time: 186 tracebacks in one newcomer's walk through the admin."""
    answer = admin_client.get("/admin/opscore/event/add/")

    printed = request_log.getvalue()
    assert answer.status_code == 403
    assert "WARNING django.request: Forbidden (Permission denied): /admin/opscore/event/add/" in (
        printed
    )
    assert "Traceback" not in printed and len(printed.strip().splitlines()) == 1


def server_error_record(status: int) -> logging.LogRecord:
    try:
        raise RuntimeError("the view crashed")
    except RuntimeError:
        info = sys.exc_info()
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "failed", (), info)
    record.status_code = status
    return record


@pytest.mark.parametrize("formatter", [RedactingTextFormatter(), RedactingJsonFormatter()])
def test_a_server_error_keeps_its_traceback_and_a_client_error_drops_it(formatter):
    crashed = formatter.format(server_error_record(500))
    refused = formatter.format(server_error_record(403))

    assert "Traceback" in crashed and "the view crashed" in crashed
    assert "Traceback" not in refused and "failed" in refused
