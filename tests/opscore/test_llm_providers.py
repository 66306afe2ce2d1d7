"""The real provider clients against fake HTTP transports, and the LLMCall ledger."""

import contextlib
import json
from decimal import Decimal

import httpx
import httpx2
import pytest

from opscore.actions import set_policy
from opscore.llm import (
    AnthropicProvider,
    LLMError,
    LLMRequest,
    OfflineProvider,
    OllamaProvider,
    OverBudget,
    TransientLLMError,
    call_llm,
)
from opscore.llm_deadline import answer_within
from opscore.models import LLMCall

pytestmark = pytest.mark.django_db
REQUEST = LLMRequest(system="You are terse.", messages=[{"role": "user", "content": "Hi"}])


@pytest.fixture(autouse=True)
def no_pause(settings):
    settings.OPS_LLM_RETRY_BASE_SECONDS = 0


def anthropic_reply(text="Hello there", model="claude-sonnet-4-6"):
    return httpx2.Response(
        200,
        json={
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 1000, "output_tokens": 200},
        },
    )


def anthropic_with(*responses, seen=None):
    replies = iter(responses)

    def handler(request):
        if seen is not None:
            seen.append(json.loads(request.content))
        return next(replies)

    return AnthropicProvider("sk-test", transport=httpx2.MockTransport(handler))


def error_response(status, kind="api_error"):
    return httpx2.Response(status, json={"type": "error", "error": {"type": kind, "message": "x"}})


def test_anthropic_sends_the_prompt_and_reads_text_and_usage(settings):
    seen = []
    provider = anthropic_with(anthropic_reply(), seen=seen)

    reply = provider.complete(REQUEST)

    assert (reply.text, reply.input_tokens, reply.output_tokens) == ("Hello there", 1000, 200)
    assert seen[0]["model"] == settings.OPS_ANTHROPIC_MODELS["main"]
    assert seen[0]["system"] == "You are terse."
    assert seen[0]["messages"] == [{"role": "user", "content": "Hi"}]
    assert "temperature" not in seen[0]


def test_anthropic_temperature_is_sent_only_when_enabled(settings):
    settings.OPS_ANTHROPIC_TEMPERATURE = True
    seen = []

    anthropic_with(anthropic_reply(), seen=seen).complete(REQUEST)

    assert seen[0]["temperature"] == 0.7


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, TransientLLMError), (529, TransientLLMError), (500, TransientLLMError), (400, LLMError)],
)
def test_anthropic_errors_are_sorted_into_transient_and_final(status, error):
    with pytest.raises(error) as raised:
        anthropic_with(error_response(status)).complete(REQUEST)
    assert isinstance(raised.value, TransientLLMError) == (error is TransientLLMError)


def test_a_redirect_elsewhere_is_an_error_and_the_prompt_stays_home():
    """A 307 keeps the method and the body: followed, the prompt went to whatever host a
    broken gateway named (and on, until too many redirects made it a connection fault)."""
    hosts = []

    def handler(request):
        hosts.append(request.url.host)
        return httpx2.Response(307, headers={"location": "https://collector.example/v1/messages"})

    provider = AnthropicProvider("sk-test-key", transport=httpx2.MockTransport(handler))
    with pytest.raises(LLMError, match="HTTP 307") as raised:
        provider.complete(REQUEST)

    assert not isinstance(raised.value, TransientLLMError)
    assert hosts == ["api.anthropic.com"]


def ollama_with(*responses, seen=None):
    replies = iter(responses)

    def handler(request):
        if seen is not None:
            seen.append((request.url.path, json.loads(request.content)))
        return next(replies)

    return OllamaProvider("http://ollama.test", transport=httpx.MockTransport(handler))


def test_ollama_posts_chat_and_reads_counts():
    seen = []
    body = {
        "model": "llama3.1",
        "message": {"role": "assistant", "content": "Yo"},
        "prompt_eval_count": 12,
        "eval_count": 3,
    }
    reply = ollama_with(httpx.Response(200, json=body), seen=seen).complete(REQUEST)

    path, sent = seen[0]
    assert path == "/api/chat" and sent["stream"] is False
    assert sent["messages"][0] == {"role": "system", "content": "You are terse."}
    assert (reply.text, reply.input_tokens, reply.output_tokens) == ("Yo", 12, 3)


def test_ollama_5xx_is_transient_and_garbage_is_final():
    with pytest.raises(TransientLLMError):
        ollama_with(httpx.Response(503, text="busy")).complete(REQUEST)
    with pytest.raises(LLMError, match="malformed"):
        ollama_with(httpx.Response(200, text="not json")).complete(REQUEST)


def test_offline_is_deterministic_and_says_so():
    first, second = OfflineProvider().complete(REQUEST), OfflineProvider().complete(REQUEST)

    assert first.text == second.text and first.text.startswith("[offline ")


def test_every_try_is_a_row_and_transient_errors_retry_boundedly(agent):
    provider = anthropic_with(error_response(429, "rate_limit_error"), anthropic_reply())

    reply = call_llm(REQUEST, agent=agent, purpose="test", prompt_version="t.v1", provider=provider)

    assert reply.text == "Hello there"
    rows = list(LLMCall.objects.order_by("id").values_list("attempt", "outcome"))
    assert rows == [(1, "transient_error"), (2, "ok")]
    ok = LLMCall.objects.get(outcome="ok")
    assert ok.cost_usd == Decimal("0.006000")  # 1000 in at $3/M + 200 out at $15/M
    assert (ok.input_tokens, ok.output_tokens, ok.prompt_version) == (1000, 200, "t.v1")


def test_retries_stop_after_the_configured_tries(agent, settings):
    provider = anthropic_with(*[error_response(500)] * 5)

    with pytest.raises(TransientLLMError):
        call_llm(REQUEST, agent=agent, purpose="test", prompt_version="t", provider=provider)

    assert LLMCall.objects.count() == settings.OPS_LLM_MAX_TRIES


def test_over_budget_is_refused_and_recorded(agent):
    set_policy(
        "llm_budget",
        {"enabled": True, "per_agent_daily_usd": 0.005, "total_daily_usd": 10.0},
        actor="t",
    )
    call_llm(
        REQUEST,
        agent=agent,
        purpose="t",
        prompt_version="t",
        provider=anthropic_with(anthropic_reply()),
    )

    with pytest.raises(OverBudget, match="devops's daily LLM budget spent"):
        call_llm(
            REQUEST,
            agent=agent,
            purpose="t",
            prompt_version="t",
            provider=anthropic_with(anthropic_reply()),
        )

    assert LLMCall.objects.filter(outcome="over_budget").count() == 1


@pytest.mark.parametrize("answer", ["ok", "bad_reply"])
def test_a_reply_naming_a_model_the_prices_do_not_know_costs_the_asked_ones(agent, answer):
    """Asked for an alias, Anthropic names the dated model that answered: priced by that name
    alone the call cost $0, and no budget ever held."""
    dated = anthropic_reply(model="claude-sonnet-4-6-20260101")
    if answer == "bad_reply":  # cut off: billed all the same
        body = json.loads(dated.content) | {"stop_reason": "max_tokens"}
        dated = httpx2.Response(200, json=body)
    provider = anthropic_with(dated)

    with contextlib.suppress(LLMError):
        call_llm(REQUEST, agent=agent, purpose="t", prompt_version="t", provider=provider)

    call = LLMCall.objects.get()
    assert (call.outcome, call.model) == (answer, "claude-sonnet-4-6-20260101")
    assert call.cost_usd == Decimal("0.006000")  # the asked claude-sonnet-4-6's prices


@pytest.mark.parametrize("answer", ["ok", "bad_reply"])
def test_a_reply_naming_a_cheaper_model_costs_what_was_asked(agent, answer):
    """The model a reply names is the reply's word: one asked of claude-sonnet-4-6 that says
    claude-haiku-4-5 answered was counted at a third of its price, and the budget held less."""
    cheaper = anthropic_reply(model="claude-haiku-4-5")
    if answer == "bad_reply":
        body = json.loads(cheaper.content) | {"stop_reason": "max_tokens"}
        cheaper = httpx2.Response(200, json=body)

    with contextlib.suppress(LLMError):
        call_llm(
            REQUEST, agent=agent, purpose="t", prompt_version="t", provider=anthropic_with(cheaper)
        )

    call = LLMCall.objects.get()
    assert (call.outcome, call.model) == (answer, "claude-haiku-4-5")
    assert call.cost_usd == Decimal("0.006000")  # claude-sonnet-4-6's prices, not haiku's 0.002


def test_a_call_no_time_was_left_for_is_still_a_row(agent):
    """A person's deadline spent before the first try (a recall, a slow budget check): the call
    was refused with "try 1 not made" and the ledger had no row of it at all."""
    seen = []
    provider = anthropic_with(anthropic_reply(), seen=seen)
    with answer_within(0), pytest.raises(TransientLLMError, match="try 1 not made"):
        call_llm(REQUEST, agent=agent, purpose="t", prompt_version="t", provider=provider)

    call = LLMCall.objects.get()
    assert seen == [] and (call.outcome, call.attempt) == ("transient_error", 1)
    assert "try 1 not made" in call.error and call.cost_usd == 0


def test_a_local_model_that_names_a_priced_one_costs_nothing(agent):
    """Ollama's llama3.1 answering as "claude-opus-4-6" was charged Opus's prices: a local
    model's reply could spend the day's budget without a cent being spent."""
    body = {"model": "claude-opus-4-6", "message": {"role": "assistant", "content": "Yo"}}
    body |= {"prompt_eval_count": 1000, "eval_count": 200}
    provider = ollama_with(httpx.Response(200, json=body))

    call_llm(REQUEST, agent=agent, purpose="t", prompt_version="t", provider=provider)

    call = LLMCall.objects.get()
    assert (call.outcome, call.model, call.cost_usd) == ("ok", "claude-opus-4-6", 0)
