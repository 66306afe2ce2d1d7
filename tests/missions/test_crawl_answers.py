"""What a crawled page's server answers is the page's doing, never the crawl kind's: a page
answering 500 (or 404, or hanging up on the crawler) failed its step as retryable, each attempt
counting toward the crawl breaker, so one proposal of such a URL, retried, switched crawling
off for everyone. Such an answer is refused, saying what came back, once."""

import pytest

from missions.models import StepAttempt
from missions.worker import handle_one_step
from opscore.models import Policy
from tests.factories import make_step
from tests.missions.test_crawl import dns, far_end  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db
ANSWERS = {
    "server-error": b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
    "not-found": b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    "hung-up": b"",
    "garbled": b"NOT HTTP AT ALL\r\n\r\n",
}


@pytest.mark.parametrize("answer", ANSWERS.values(), ids=ANSWERS)
def test_a_pages_bad_answer_is_refused_once_and_never_switches_crawling_off(
    dns,  # noqa: F811
    far_end,  # noqa: F811
    answer,
):
    dns["hostile.example"] = "93.184.216.34"
    steps = [make_step("crawl", payload={"url": "http://hostile.example/"}) for _ in range(3)]
    for _ in steps:
        far_end.serve(answer)
        handle_one_step("w1")

    for step in steps:
        step.refresh_from_db()
        assert (step.status, step.attempt_count) == ("failed", 1)
        assert step.last_error.startswith("crawl refused: ")
        assert StepAttempt.objects.get(step=step).outcome == "refused"
    assert Policy.objects.value("worker_switches").is_enabled("crawl") is True
