"""What a reply says besides its words is input too: a provider answering 200 with a lone
surrogate in its text, a NUL or an overlong model name, or token counts no column can hold (or
below zero) gets a recorded bad reply with a one-line reason, never a worker that falls over
in the middle of writing the call's row and leaves its step running."""

import json

import pytest

from missions.worker import handle_one_step
from opscore.models import LLMCall
from tests.factories import make_step
from tests.opscore.test_llm_faults import (  # noqa: F401 (no_pause is a fixture)
    PROVIDERS,
    Served,
    assert_failed_once_without_retry,
    message,
    no_pause,
    replies,
)

pytestmark = pytest.mark.django_db


def usage(provider, body, given, taken):
    if provider == "anthropic":
        return body(usage={"input_tokens": given, "output_tokens": taken})
    return body(prompt_eval_count=given, eval_count=taken)


def answer(monkeypatch, provider, raw):
    served = Served((200, raw))
    PROVIDERS[provider][0](monkeypatch, served)
    step = make_step("analyze", payload={"topic": "disk"}, max_attempts=3)
    handle_one_step("w1")
    return step, served


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_lone_surrogate_in_the_reply_text_is_a_bad_reply(monkeypatch, provider):
    body = PROVIDERS[provider][1]
    step, served = answer(monkeypatch, provider, json.dumps(body(text="fine \ud800")).encode())

    assert_failed_once_without_retry(step, served)
    assert "lone surrogate" in step.last_error
    assert LLMCall.objects.get(step=step).outcome == "bad_reply"


NOT_BELIEVED = "more than the request could cost"


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "given, taken, said",
    [
        (10**30, 200, "token count"),
        (1000, -5, "token count"),
        (2**31, 0, "token count"),
        # Two billion tokens fit the row's column: claimed for a 600-token answer to a short
        # prompt, they cost $30,000 and spent every budget of the day in one call.
        (1000, 2_000_000_000, NOT_BELIEVED),
        (2_000_000_000, 200, NOT_BELIEVED),
    ],
)
def test_token_counts_no_column_holds_are_a_bad_reply(monkeypatch, provider, given, taken, said):
    body = PROVIDERS[provider][1]
    step, served = answer(
        monkeypatch, provider, replies(200, usage(provider, body, given, taken))[1]
    )

    assert_failed_once_without_retry(step, served)
    assert said in step.last_error
    call = LLMCall.objects.get(step=step)
    assert call.outcome == "bad_reply" and 0 <= call.input_tokens < 100_000
    assert call.output_tokens <= 600 and call.cost_usd < 1  # billed at most what was asked


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("model", ["claude\u0000x", "m" * 300])
def test_a_model_name_is_kept_as_a_row_can_hold_it(monkeypatch, provider, model):
    body = PROVIDERS[provider][1]
    step, _ = answer(monkeypatch, provider, replies(200, body(model=model))[1])

    step.refresh_from_db()
    assert step.status == "succeeded", step.last_error
    call = LLMCall.objects.get(step=step)
    assert "\x00" not in call.model and len(call.model) <= 100 and call.model.startswith(model[:5])


TOOL_CALL = {"type": "tool_use", "id": "toolu_1", "name": "shell", "input": {"cmd": "ls"}}


@pytest.mark.parametrize(
    "stop, content",
    [
        ("tool_use", [{"type": "text", "text": "I'll check the disk."}, TOOL_CALL]),
        ("pause_turn", [{"type": "text", "text": "Searching first"}]),
        ("refusal", [{"type": "text", "text": "I"}]),
    ],
)
def test_a_reply_that_stopped_for_anything_but_an_answer_is_a_bad_reply(monkeypatch, stop, content):
    """A preamble to a tool call no request offers (or a paused turn, a refusal) was taken as
    the answer: the step succeeded with "I'll check the disk." as its artifact."""
    raw = json.dumps(message(content=content, stop_reason=stop)).encode()
    step, served = answer(monkeypatch, "anthropic", raw)

    assert_failed_once_without_retry(step, served)
    assert f"no answer: stop_reason {stop}" in step.last_error
    call = LLMCall.objects.get(step=step)
    assert (call.outcome, call.input_tokens, call.output_tokens) == ("bad_reply", 1000, 200)


UNFINISHED = {
    "anthropic": {"stop_reason": None},  # a stream's first event, a message still being written
    "ollama": {"done": False},  # the first chunk of a stream, the body closed after it
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_reply_that_never_said_it_ended_is_a_bad_reply(monkeypatch, provider):
    """A body that is one chunk of a stream parses as a whole reply, but the model was not done:
    "Disk usage is" became the step's artifact as if it were the answer."""
    body = PROVIDERS[provider][1]
    raw = json.dumps(body(text="Disk usage is", **UNFINISHED[provider])).encode()
    step, served = answer(monkeypatch, provider, raw)

    assert_failed_once_without_retry(step, served)
    assert "never said it ended" in step.last_error
    call = LLMCall.objects.get(step=step)
    assert call.outcome == "bad_reply" and "never said it ended" in call.error


def test_the_model_a_reply_names_is_shown_with_its_hidden_characters_named(monkeypatch, client):
    """The model's name is the reply's word like its text: a right-to-left override in it
    reversed the rest of the Stage's line about the call (tokens, cost, prompt) unseen."""
    raw = json.dumps(message(model="claude-sonnet-4-6\u202e tsoc")).encode()
    step, _ = answer(monkeypatch, "anthropic", raw)

    page = client.get(f"/stage/missions/{step.mission_id}").content.decode()

    assert "\u202e" not in page and "claude-sonnet-4-6⟨U+202E⟩ tsoc" in page
