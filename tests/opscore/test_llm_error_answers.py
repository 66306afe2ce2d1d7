"""What a provider's error answer says reaches rows: its reason, kept storable whatever it
quotes, and its Retry-After, honoured within a bound. Through the real clients on fake
transports (tests.opscore.test_llm_faults)."""

import json

import pytest

from console.chat import send_message
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
from tests.opscore.test_llm_reply_secrets import tables_holding

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


def busy_then_fine(provider: str, headers: dict) -> Served:
    """A 429 asking for a pause (`headers`), then the answer."""
    _, body = PROVIDERS[provider]
    busy = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    return Served((429, json.dumps(busy).encode(), headers), (200, json.dumps(body()).encode()))


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "headers, paused",
    [
        ({"retry-after": "7"}, [7.0]),
        ({"retry-after-ms": "2500"}, [2.5]),
        ({"retry-after": "86400"}, [30.0]),  # honoured, within the longest pause
        ({"retry-after": "soon"}, [0]),  # nothing that makes sense: the backoff
    ],
)
def test_a_rate_limited_answer_is_retried_after_the_pause_it_asked_for(
    monkeypatch, provider, headers, paused
):
    """The next try came after the backoff (2 s, then 4 s), however long the 429 or 529 had
    asked to wait: refused again, and the try spent."""
    pauses = []
    monkeypatch.setattr("opscore.llm.sleep", pauses.append)
    served = busy_then_fine(provider, headers)
    PROVIDERS[provider][0](monkeypatch, served)
    step = make_step("analyze", max_attempts=3)

    handle_one_step("w1")

    step.refresh_from_db()
    assert (step.status, served.requests) == ("succeeded", 2), step.last_error
    assert pauses == paused
    outcomes = LLMCall.objects.filter(step=step).order_by("id").values_list("outcome", flat=True)
    assert list(outcomes) == ["transient_error", "ok"]


def test_a_pause_past_a_persons_deadline_ends_the_call_now(monkeypatch, agent):
    """Waited on by a person (20 s for every try), a 429 asking for 25 s is no reason to hold
    them 25 s: the call ends with the reason, and no second try is made."""
    from opscore.llm import LLMRequest, TransientLLMError, call_llm
    from opscore.llm_deadline import answer_within

    pauses = []
    monkeypatch.setattr("opscore.llm.sleep", pauses.append)
    served = busy_then_fine("anthropic", {"retry-after": "25"})
    PROVIDERS["anthropic"][0](monkeypatch, served)
    request = LLMRequest(system="s", messages=[{"role": "user", "content": "hi"}])

    with pytest.raises(TransientLLMError, match="no time for another try"), answer_within(20):
        call_llm(request, agent=agent, purpose="chat.answer", prompt_version="t")

    assert (pauses, served.requests) == ([], 1)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_error_answer_quoting_the_key_shows_it_on_no_page_and_no_row(
    monkeypatch, settings, agent, provider
):
    """A 401 that quotes the key it refused ("invalid x-api-key sk-ant-…"): the call's row
    masked it, but the chat answer the operator reads printed it whole."""
    key = "sk-ant-api03-seeded-0123456789-abcdefghij"
    settings.OPSCORE_LLM, settings.ANTHROPIC_API_KEY = provider, key
    PROVIDERS[provider][0](monkeypatch, Served((401, error_answer(provider, f"bad key {key}"))))

    answer = send_message("what is running?", actor="operator:ann")

    assert "HTTP 401" in answer.text and "bad key [redacted]" in answer.text
    assert key not in answer.text and tables_holding(key) == []


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("inside", ["\x00", "\ud800"])
def test_an_error_answer_quoting_the_key_split_by_what_no_row_stores_shows_none_of_it(
    monkeypatch, settings, agent, provider, inside
):
    """A NUL or a lone surrogate is taken out of an error's reason (no row stores either), but
    it was taken out after the masking: a key quoted with one inside it passed the masking
    whole and was joined up again in the chat answer (the row, masked once more, hid it)."""
    key = "sk-ant-api03-seeded-0123456789-abcdefghij"
    settings.OPSCORE_LLM, settings.ANTHROPIC_API_KEY = provider, key
    said = f"bad key {key[:9]}{inside}{key[9:]}"
    PROVIDERS[provider][0](monkeypatch, Served((401, error_answer(provider, said))))

    answer = send_message("what is running?", actor="operator:ann")

    assert "HTTP 401" in answer.text and "bad key" in answer.text
    assert key not in answer.text and tables_holding(key) == []
