"""What a provider's error answer says reaches rows: its reason, kept storable whatever it
quotes, and its Retry-After, honoured within a bound. Through the real clients on fake
transports (tests.opscore.test_llm_faults)."""

import json

import pytest

from missions.models import StepAttempt
from missions.worker import handle_one_step
from opscore.models import LLMCall
from tests.factories import make_step
from tests.opscore.test_llm_faults import (  # noqa: F401 (no_pause is a fixture)
    PROVIDERS,
    Served,
    no_pause,
    one_line,
)

pytestmark = pytest.mark.django_db


def error_answer(provider: str, said: str) -> bytes:
    """Anthropic's JSON, whose escapes spell NUL and a lone surrogate; Ollama's raw bytes."""
    if provider == "ollama":
        return said.encode("utf-8", errors="surrogatepass")
    error = {"type": "error", "error": {"type": "invalid_request_error", "message": said}}
    return json.dumps(error).encode()


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("quoted", ["\x00", "\ud800"])
def test_an_error_answer_quoting_what_no_row_stores_fails_the_step_once(
    monkeypatch, provider, quoted
):
    """A NUL or a lone surrogate in an error answer's reason made the LLMCall row's write fail:
    the worker crashed with the step still leased."""
    PROVIDERS[provider][0](monkeypatch, Served((400, error_answer(provider, f"bad{quoted}input"))))
    step = make_step("analyze", max_attempts=3)

    handle_one_step("w1")

    step.refresh_from_db()
    assert (step.status, step.attempt_count) == ("failed", 1)
    assert "HTTP 400" in step.last_error and "input" in step.last_error
    assert one_line(step.last_error)
    assert StepAttempt.objects.get(step=step).outcome == "failed"
    call = LLMCall.objects.get(step=step)
    assert call.outcome == "error" and "\x00" not in call.error
