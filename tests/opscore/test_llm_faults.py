"""A bad model reply is one recorded, cheap failure: through the real Anthropic client (the
`anthropic` SDK on a fake HTTP transport) and Ollama's, a malformed 200 is an LLMCall row with
what is known, a one-line reason on the step, no retry and no breaker count, while transport
faults still retry. A reply over the input limit (64 KiB) is refused, not stored."""

import json
from decimal import Decimal

import httpx
import httpx2
import pytest

from missions.models import Artifact, Step, StepAttempt
from missions.worker import handle_one_step
from opscore.llm import AnthropicProvider, OllamaProvider
from opscore.models import Event, LLMCall, Policy
from tests.factories import make_step

pytestmark = pytest.mark.django_db
MEGABYTE = "x" * (1024 * 1024)


@pytest.fixture(autouse=True)
def no_pause(settings):
    settings.OPS_LLM_RETRY_BASE_SECONDS = 0
    settings.OPS_RETRY_BASE_SECONDS = 0


def message(text="Disk usage is fine.", **overrides):
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 1000, "output_tokens": 200},
    }
    return {k: v for k, v in (body | overrides).items() if v is not ...}


def chat(text="Disk usage is fine.", **overrides):
    body = {
        "model": "llama3.1",
        "message": {"role": "assistant", "content": text},
        "prompt_eval_count": 1000,
        "eval_count": 200,
    }
    return {k: v for k, v in (body | overrides).items() if v is not ...}


def replies(status, body):
    """(status, body) as the fake transport serves it: a dict is sent as JSON."""
    raw = json.dumps(body).encode() if isinstance(body, dict) else body.encode()
    return status, raw


class Served:
    """The fake server: answers each request with the next scripted (status, bytes or an
    iterator of bytes, streamed[, headers])."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests = 0

    def __call__(self, module):
        def handler(request):
            self.requests += 1
            status, raw, *more = self.answers.pop(0)
            headers = {"content-type": "application/json", **(more[0] if more else {})}
            return module.Response(status, content=raw, headers=headers)

        return handler


def use_anthropic(monkeypatch, served):
    provider = AnthropicProvider("sk-test", transport=httpx2.MockTransport(served(httpx2)))
    monkeypatch.setattr("opscore.llm.get_provider", lambda: provider)


def use_ollama(monkeypatch, served):
    provider = OllamaProvider("http://ollama.test", transport=httpx.MockTransport(served(httpx)))
    monkeypatch.setattr("opscore.llm.get_provider", lambda: provider)


PROVIDERS = {"anthropic": (use_anthropic, message), "ollama": (use_ollama, chat)}
MALFORMED = {
    "not json": "{'this is': not json",
    "a list": "[1, 2, 3]",
    "another shape": '{"unexpected": true}',
}


def one_line(reason: str) -> bool:
    return "\n" not in reason and "Traceback" not in reason and 0 < len(reason) <= 500


def assert_failed_once_without_retry(step, served):
    step.refresh_from_db()
    assert (step.status, step.attempt_count) == ("failed", 1)
    assert one_line(step.last_error), step.last_error
    assert served.requests == 1  # billed once: no retry by call_llm, none by the step
    attempt = StepAttempt.objects.get(step=step)
    assert attempt.outcome == "bad_reply" and one_line(attempt.error)
    assert not Artifact.objects.filter(step=step).exists()


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", MALFORMED)
def test_a_malformed_200_is_one_recorded_failure_not_retried(monkeypatch, provider, fault):
    use, _ = PROVIDERS[provider]
    served = Served(replies(200, MALFORMED[fault]))
    use(monkeypatch, served)
    step = make_step("analyze", payload={"topic": "disk"}, max_attempts=3)

    handle_one_step("w1")

    assert_failed_once_without_retry(step, served)
    call = LLMCall.objects.get(step=step)
    assert (call.provider, call.outcome, call.attempt) == (provider, "bad_reply", 1)
    assert call.error and one_line(call.error)
    assert provider in step.last_error and "reply" in step.last_error


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_reply_missing_its_text_keeps_the_tokens_it_was_billed_for(monkeypatch, provider):
    use, body = PROVIDERS[provider]
    broken = body(content=...) if provider == "anthropic" else body(message={"role": "x"})
    served = Served(replies(200, broken))
    use(monkeypatch, served)
    step = make_step("analyze", max_attempts=3)

    handle_one_step("w1")

    assert_failed_once_without_retry(step, served)
    call = LLMCall.objects.get(step=step)
    assert (call.outcome, call.input_tokens, call.output_tokens) == ("bad_reply", 1000, 200)
    if provider == "anthropic":
        assert call.cost_usd == Decimal("0.006000")  # billed: 1000 in at $3/M + 200 out at $15/M


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_reply_over_the_input_limit_is_refused_not_stored(monkeypatch, provider, settings):
    use, body = PROVIDERS[provider]
    served = Served(replies(200, body(text=MEGABYTE)))
    use(monkeypatch, served)
    step = make_step("analyze", payload={"topic": "disk"}, max_attempts=3)

    handle_one_step("w1")

    assert_failed_once_without_retry(step, served)
    assert f"over the {settings.OPS_MAX_INPUT_BYTES}-byte limit" in step.last_error
    assert step.result in ({}, None)
    call = LLMCall.objects.get(step=step)
    assert (call.outcome, call.input_tokens, call.output_tokens) == ("bad_reply", 1000, 200)
    assert len(call.error) < 500


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_overloaded_answer_then_success_retries_inside_one_attempt(monkeypatch, provider):
    use, body = PROVIDERS[provider]
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    served = Served(replies(529, overloaded), replies(200, body()))
    use(monkeypatch, served)
    step = make_step("analyze", payload={"topic": "disk"})

    handle_one_step("w1")

    step.refresh_from_db()
    assert (step.status, step.attempt_count, served.requests) == ("succeeded", 1, 2)
    assert step.result["text"] == "Disk usage is fine."
    calls = LLMCall.objects.filter(step=step).order_by("id")
    assert list(calls.values_list("attempt", "outcome")) == [(1, "transient_error"), (2, "ok")]


def test_transport_faults_that_outlast_the_tries_still_retry_the_step(monkeypatch, settings):
    down = [replies(503, {"error": "down"})] * settings.OPS_LLM_MAX_TRIES
    served = Served(*down)
    use_ollama(monkeypatch, served)
    step = make_step("analyze", max_attempts=3)

    handle_one_step("w1")

    step.refresh_from_db()
    assert (step.status, step.attempt_count) == ("queued", 1)
    assert one_line(step.last_error) and "HTTP 503" in step.last_error
    assert StepAttempt.objects.get(step=step).outcome == "failed"
    assert LLMCall.objects.filter(step=step, outcome="transient_error").count() == len(down)


def test_bad_replies_never_trip_the_breaker(monkeypatch, settings):
    threshold = settings.OPS_BREAKER_THRESHOLD
    served = Served(*[replies(200, "not json")] * (threshold + 2))
    use_anthropic(monkeypatch, served)
    for _ in range(threshold + 2):
        make_step("analyze", max_attempts=1)
        handle_one_step("w1")

    assert Policy.objects.value("worker_switches").is_enabled("analyze") is True
    assert not Event.objects.filter(kind="breaker.tripped").exists()
    assert set(Step.objects.values_list("status", flat=True)) == {"failed"}
    assert LLMCall.objects.filter(outcome="bad_reply").count() == threshold + 2


def test_an_empty_reply_is_a_content_fault_too(monkeypatch, settings):
    threshold = settings.OPS_BREAKER_THRESHOLD
    served = Served(*[replies(200, message(content=[]))] * threshold)
    use_anthropic(monkeypatch, served)
    for _ in range(threshold):
        make_step("draft_tweet", max_attempts=3)
        handle_one_step("w1")

    assert set(Step.objects.values_list("status", flat=True)) == {"failed"}
    assert set(StepAttempt.objects.values_list("outcome", flat=True)) == {"bad_reply"}
    assert Policy.objects.value("worker_switches").is_enabled("draft_tweet") is True
    calls = set(LLMCall.objects.values_list("outcome", "error"))  # the ledger agrees
    assert calls == {("bad_reply", "anthropic: the model returned no text")}


def test_a_reply_that_fits_no_schema_is_a_one_line_malformed_reply():
    from pydantic import BaseModel, ConfigDict

    from opscore.inputs import MalformedReply, parse_reply

    class Answer(BaseModel):
        model_config = ConfigDict(extra="forbid")
        decision: str
        reason: str

    with pytest.raises(MalformedReply) as raised:
        parse_reply('{"decision": 1, "extra": true}', Answer, "review")

    assert str(raised.value).startswith("malformed review reply: ")
    assert one_line(str(raised.value)), str(raised.value)
    with pytest.raises(MalformedReply, match="at most 65536 bytes"):
        parse_reply(json.dumps({"decision": MEGABYTE}), Answer, "review")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_endless_reply_body_is_not_read_whole(monkeypatch, provider, settings):
    """The body is read in chunks up to a cap (64 times the reply limit), never to its end."""
    settings.OPS_MAX_INPUT_BYTES = 1024
    sent = []

    def endless():
        while len(sent) < 200:  # 13 MB, were it all read
            sent.append(1)
            yield b" " * 65536

    served = Served((200, endless()))
    PROVIDERS[provider][0](monkeypatch, served)
    step = make_step("analyze", max_attempts=3)

    handle_one_step("w1")

    assert_failed_once_without_retry(step, served)
    assert "reply body over 65536 bytes" in step.last_error
    assert len(sent) <= 2
    assert LLMCall.objects.get(step=step).outcome == "bad_reply"


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "status, reason",
    [(200, "reply not complete within the 180 s a reply may take"), (503, "HTTP 503")],
)
def test_a_body_trickling_past_its_deadline_is_cut_off_and_retried(
    monkeypatch, provider, settings, status, reason
):
    """Each read arrives within the per-read timeout, yet the whole body (a reply's, or an
    error answer's) has a deadline: the try ends there as a transient fault (retried with
    backoff), not a worker held for ever."""
    settings.OPS_LLM_MAX_TRIES = 1
    clock = iter(range(0, 10_000, 30))  # each chunk "arrives" 30 s after the last
    monkeypatch.setattr("opscore.llm.time.monotonic", lambda: next(clock))
    sent = []

    def trickle():
        while len(sent) < 100:
            sent.append(1)
            yield b" "

    served = Served((status, trickle()))
    PROVIDERS[provider][0](monkeypatch, served)
    step = make_step("analyze", max_attempts=3)

    handle_one_step("w1")

    step.refresh_from_db()
    assert len(sent) < 10
    assert reason in step.last_error
    assert step.status == "queued"  # a transient fault: the step retries after backoff


def test_a_provider_fault_nobody_foresaw_is_still_a_row_and_one_line(agent):
    from opscore.llm import LLMError, LLMReplyError, LLMRequest, call_llm

    class Broken:
        name = "broken"

        def model_for(self, tier):
            return "broken-1"

        def complete(self, request):
            raise RuntimeError("the SDK changed\nunder us")

    request = LLMRequest(system="s", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(LLMError) as raised:
        call_llm(request, agent=agent, purpose="t", prompt_version="t", provider=Broken())

    assert not isinstance(raised.value, LLMReplyError)  # not known to be the model's answer
    assert str(raised.value) == "broken: RuntimeError: the SDK changed under us"
    call = LLMCall.objects.get()
    assert (call.outcome, call.error, call.attempt) == ("error", str(raised.value), 1)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_endless_error_body_is_not_read_whole(monkeypatch, provider, settings):
    """An error answer's body gives its reason a few hundred bytes: a broken proxy answering
    502 with a body without end is read no further, and the try is a transient fault."""
    settings.OPS_LLM_MAX_TRIES = 1
    sent = []

    def endless():
        while len(sent) < 200:  # 13 MB, were it all read
            sent.append(1)
            yield b"<html>bad gateway" + b" " * 65536

    PROVIDERS[provider][0](monkeypatch, Served((502, endless())))
    step = make_step("analyze", max_attempts=3)

    handle_one_step("w1")

    step.refresh_from_db()
    assert len(sent) <= 2
    assert step.status == "queued" and "HTTP 502" in step.last_error and one_line(step.last_error)
    assert LLMCall.objects.get(step=step).outcome == "transient_error"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_body_that_does_not_decode_is_a_transport_fault_and_retried(
    monkeypatch, provider, settings
):
    """A proxy that says gzip and sends something else: the bytes were spoilt on the way, so
    the try is retried like a broken connection, not failed as a fault nobody foresaw."""
    module = httpx2 if provider == "anthropic" else httpx
    spoilt = {"content-type": "application/json", "content-encoding": "gzip"}
    _, body = PROVIDERS[provider]

    def handler(request):
        if handler.calls:
            return module.Response(200, json=body())
        handler.calls += 1
        return module.Response(200, content=b"not gzip at all", headers=spoilt)

    handler.calls = 0
    fake = module.MockTransport(handler)
    provider_of = {"anthropic": AnthropicProvider, "ollama": OllamaProvider}[provider]
    made = provider_of("sk-test" if provider == "anthropic" else "http://ollama.test", fake)
    monkeypatch.setattr("opscore.llm.get_provider", lambda: made)
    step = make_step("analyze", max_attempts=3)

    handle_one_step("w1")

    step.refresh_from_db()
    assert (step.status, step.attempt_count) == ("succeeded", 1), step.last_error
    outcomes = LLMCall.objects.filter(step=step).order_by("id").values_list("outcome", flat=True)
    assert list(outcomes) == ["transient_error", "ok"]


TRUNCATED = {
    "anthropic": message(text='{"summary": "Disk usage is', stop_reason="max_tokens"),
    "ollama": chat(text='{"summary": "Disk usage is', done_reason="length", done=True),
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_reply_cut_off_at_max_tokens_is_a_bad_reply_not_an_answer(monkeypatch, provider):
    """The model stopped because it ran out of tokens, not because it was done: what it wrote
    so far is no answer, however well it parses."""
    served = Served(replies(200, TRUNCATED[provider]))
    PROVIDERS[provider][0](monkeypatch, served)
    step = make_step("analyze", payload={"topic": "disk"}, max_attempts=3)

    handle_one_step("w1")

    assert_failed_once_without_retry(step, served)
    assert "cut off at the reply's token limit" in step.last_error
    call = LLMCall.objects.get(step=step)
    assert (call.outcome, call.input_tokens, call.output_tokens) == ("bad_reply", 1000, 200)
    assert "cut off at the reply's token limit" in call.error and one_line(call.error)
