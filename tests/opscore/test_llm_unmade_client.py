"""A provider whose client cannot be made (a proxy in the environment it cannot use: a scheme
it does not speak, SOCKS without its package) raised as call_llm began, before any row: the
call left no LLMCall row, and what waited on it (a step, the chat) crashed on an error no
caller expects. Now the call is a row saying why, and fails as a model call does."""

import pytest

from missions.worker import handle_one_step
from opscore.llm import LLMError, LLMRequest, call_llm
from opscore.models import LLMCall
from tests.factories import make_step

pytestmark = pytest.mark.django_db
PROXIES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
REQUEST = LLMRequest(system="You write reports.", messages=[{"role": "user", "content": "Go"}])


@pytest.fixture(params=["anthropic", "ollama"])
def unusable_proxy(request, monkeypatch, settings):
    settings.OPSCORE_LLM, settings.ANTHROPIC_API_KEY = request.param, "sk-test"
    settings.OLLAMA_URL = "http://ollama.test"
    settings.OPS_LLM_RETRY_BASE_SECONDS = 0
    for name in PROXIES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("ALL_PROXY", "ftp://opscore:proxy-pass-0123456789@proxy.test")
    return request.param


def test_a_call_whose_client_cannot_be_made_is_a_row_saying_why(unusable_proxy, agent):
    with pytest.raises(LLMError) as raised:
        call_llm(REQUEST, agent=agent, purpose="report", prompt_version="report-v1")

    call = LLMCall.objects.get()
    assert (call.provider, call.outcome, call.attempt) == (unusable_proxy, "error", 1)
    assert call.error == str(raised.value)
    assert "proxy" in call.error and "\n" not in call.error
    assert "proxy-pass" not in call.error


def test_a_step_whose_client_cannot_be_made_fails_with_the_reason(unusable_proxy):
    step = make_step("analyze", max_attempts=3)

    handle_one_step("w1")

    step.refresh_from_db()
    assert (step.status, step.attempt_count) == ("failed", 1)
    assert step.last_error.startswith("LLM call failed: ") and "proxy" in step.last_error
    assert LLMCall.objects.get(step=step).outcome == "error"
