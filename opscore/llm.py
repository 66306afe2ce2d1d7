"""LLM providers behind one call, and the ledger of every call made.

`complete(request)` is the provider interface: system prompt, messages, temperature, max tokens
and a model tier in; text and usage out. `call_llm` adds what Opscore needs around it: the daily
budget, bounded retries of transient errors, and one LLMCall row per try.
"""

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal

import httpx
from django.conf import settings

from opscore.inputs import without_nul

TIERS = ("cheap", "main")


class LLMError(Exception):
    """A failure that retrying will not fix (bad request, auth, malformed reply)."""


class TransientLLMError(LLMError):
    """429, 5xx, timeouts, connection trouble: worth another try after a pause."""


class OverBudget(LLMError):
    """The llm_budget policy says no more spend today for this agent or overall."""


@dataclass(frozen=True)
class LLMRequest:
    system: str
    messages: list[dict]
    temperature: float = 0.7
    max_tokens: int = 800
    tier: str = "main"
    # What an offline stand-in needs to answer a structured request plausibly (ignored online).
    offline_hint: dict | None = None
    # What was put into the prompt besides the task (memory ids, the voice's version): every
    # LLMCall row keeps it, so any call can be reproduced.
    injected: dict = field(default_factory=dict)


@dataclass(frozen=True)
class LLMReply:
    text: str
    input_tokens: int
    output_tokens: int
    model: str
    provider: str
    extra: dict = field(default_factory=dict)


class OfflineProvider:
    """Deterministic, no network, and honest about it: every reply says it is offline."""

    name = "offline"

    def model_for(self, tier: str) -> str:
        return f"offline-{tier}"

    def complete(self, request: LLMRequest) -> LLMReply:
        prompt = request.system + "".join(m["content"] for m in request.messages)
        digest = hashlib.sha256(prompt.encode()).hexdigest()[:8]
        last = request.messages[-1]["content"].strip().splitlines()[0][:80]
        text = f"[offline {digest}] Noted: {last}"
        if request.offline_hint and "json" in request.offline_hint:
            text = json.dumps(request.offline_hint["json"])
        elif request.offline_hint and "text" in request.offline_hint:
            text = f"[offline] {request.offline_hint['text']}"
        return LLMReply(
            text=text,
            input_tokens=max(len(prompt) // 4, 1),
            output_tokens=max(len(text) // 4, 1),
            model=self.model_for(request.tier),
            provider=self.name,
        )


class AnthropicProvider:
    """The real `anthropic` client. `http_client` lets tests pass a fake transport."""

    name = "anthropic"

    def __init__(self, api_key: str, http_client=None):
        import anthropic

        self._anthropic = anthropic
        self.client = anthropic.Anthropic(
            api_key=api_key,
            max_retries=0,  # call_llm owns retries, so every try is a row
            timeout=settings.OPS_LLM_TIMEOUT_SECONDS,
            http_client=http_client,
        )

    def model_for(self, tier: str) -> str:
        return settings.OPS_ANTHROPIC_MODELS[tier]

    def complete(self, request: LLMRequest) -> LLMReply:
        anthropic = self._anthropic
        extra = {"temperature": request.temperature} if settings.OPS_ANTHROPIC_TEMPERATURE else {}
        try:
            message = self.client.messages.create(
                model=self.model_for(request.tier),
                max_tokens=request.max_tokens,
                system=request.system,
                messages=request.messages,
                extra_body=extra or None,
            )
        except (anthropic.APITimeoutError, anthropic.APIConnectionError) as error:
            raise TransientLLMError(f"anthropic: {type(error).__name__}") from error
        except anthropic.APIStatusError as error:
            kind = TransientLLMError if _transient_status(error.status_code) else LLMError
            raise kind(f"anthropic: HTTP {error.status_code}: {error.message}") from error
        text = "".join(block.text for block in message.content if block.type == "text")
        return LLMReply(
            text=text,
            input_tokens=message.usage.input_tokens,
            output_tokens=message.usage.output_tokens,
            model=message.model,
            provider=self.name,
        )


class OllamaProvider:
    """Ollama's /api/chat over HTTP (httpx)."""

    name = "ollama"

    def __init__(self, base_url: str, transport: httpx.BaseTransport | None = None):
        self.client = httpx.Client(
            base_url=base_url, timeout=settings.OPS_LLM_TIMEOUT_SECONDS, transport=transport
        )

    def model_for(self, tier: str) -> str:
        return settings.OPS_OLLAMA_MODELS[tier]

    def complete(self, request: LLMRequest) -> LLMReply:
        body = {
            "model": self.model_for(request.tier),
            "messages": [{"role": "system", "content": request.system}, *request.messages],
            "stream": False,
            "options": {"temperature": request.temperature, "num_predict": request.max_tokens},
        }
        try:
            response = self.client.post("/api/chat", json=body)
        except httpx.TransportError as error:
            raise TransientLLMError(f"ollama: {type(error).__name__}") from error
        if response.status_code != 200:
            kind = TransientLLMError if _transient_status(response.status_code) else LLMError
            raise kind(f"ollama: HTTP {response.status_code}: {response.text[:200]}")
        try:
            data = response.json()
            text = data["message"]["content"]
        except (ValueError, KeyError, TypeError) as error:
            raise LLMError(f"ollama: malformed reply ({error})") from error
        return LLMReply(
            text=text,
            input_tokens=int(data.get("prompt_eval_count") or 0),
            output_tokens=int(data.get("eval_count") or 0),
            model=data.get("model", body["model"]),
            provider=self.name,
        )


def _transient_status(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


def get_provider():
    choice = settings.OPSCORE_LLM
    if choice == "anthropic":
        return AnthropicProvider(settings.ANTHROPIC_API_KEY)
    if choice == "ollama":
        return OllamaProvider(settings.OLLAMA_URL)
    return OfflineProvider()


def cost_of(model: str, input_tokens: int, output_tokens: int) -> Decimal:
    """USD, from per-million-token prices in settings (unknown models cost nothing known)."""
    price_in, price_out = settings.OPS_LLM_PRICES.get(model, (0, 0))
    total = Decimal(str(price_in)) * input_tokens + Decimal(str(price_out)) * output_tokens
    return (total / Decimal(1_000_000)).quantize(Decimal("0.000001"))


def backoff_pause(attempt: int) -> float:
    return min(settings.OPS_LLM_RETRY_BASE_SECONDS * 2 ** (attempt - 1), 30)


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def call_llm(
    request: LLMRequest, *, agent, purpose: str, prompt_version: str, step=None, provider=None
) -> LLMReply:
    """One model call with budget, bounded retries and an LLMCall row per try."""
    from opscore.budgets import check_budget, lane_of
    from opscore.models import LLMCall, LLMCallOutcome

    provider, lane = provider or get_provider(), lane_of(purpose)
    row = dict(
        agent=agent,
        step=step,
        purpose=purpose,
        lane=lane,
        provider=provider.name,
        prompt_version=prompt_version,
        injected=request.injected,
    )
    try:
        tier = check_budget(agent, lane, request.tier)
    except OverBudget as refused:
        row |= {"model": provider.model_for(request.tier), "tier": request.tier}
        LLMCall.objects.create(**row, outcome=LLMCallOutcome.OVER_BUDGET, error=str(refused))
        raise
    request = dataclasses.replace(request, tier=tier)  # cheap once the lane passed its soft limit
    row |= {"model": provider.model_for(tier), "tier": tier}
    tries = settings.OPS_LLM_MAX_TRIES
    for attempt in range(1, tries + 1):
        reply = _try_once(provider, request, row, attempt, last=attempt == tries)
        if reply is not None:
            return reply
        sleep(backoff_pause(attempt))
    raise AssertionError("unreachable")


def _try_once(provider, request, row: dict, attempt: int, *, last: bool) -> LLMReply | None:
    """One try, recorded. None means a transient failure worth another try."""
    from opscore.models import LLMCall, LLMCallOutcome
    from opscore.redaction import redact_text

    started = time.perf_counter()
    try:
        reply = provider.complete(request)
    except LLMError as error:
        transient = isinstance(error, TransientLLMError)
        LLMCall.objects.create(
            **row,
            attempt=attempt,
            error=redact_text(str(error))[:2000],
            latency_ms=int((time.perf_counter() - started) * 1000),
            outcome=LLMCallOutcome.TRANSIENT_ERROR if transient else LLMCallOutcome.ERROR,
        )
        if not transient or last:
            raise
        return None
    LLMCall.objects.create(
        **(row | {"model": reply.model}),
        attempt=attempt,
        outcome=LLMCallOutcome.OK,
        input_tokens=reply.input_tokens,
        output_tokens=reply.output_tokens,
        cost_usd=cost_of(reply.model, reply.input_tokens, reply.output_tokens),
        latency_ms=int((time.perf_counter() - started) * 1000),
    )
    # Postgres stores no NUL character, and it carries nothing readable: the rule is to drop it.
    return dataclasses.replace(reply, text=without_nul(reply.text))
