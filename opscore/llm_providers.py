"""LLM providers behind one interface, and the types a call passes through them.

`complete(request)` is the provider interface: system prompt, messages, temperature, max tokens
and a model tier in; text and usage out. `get_provider()` is the configured one, unless a replay
is `answering` every call (opscore.replay); the ledger around a call is opscore.llm. What
crosses the wire — a body read capped and in time, an error answer's reason, and the three
classes every failure is sorted into at this boundary — is opscore.llm_wire.
"""

import contextlib
import contextvars
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal

import httpx
from django.conf import settings

from opscore.inputs import describe_invalid
from opscore.llm_deadline import (
    held_to_reply_limit,
    in_time,
    seconds_left,
    timed_out,
)
from opscore.llm_wire import (
    LLMError,
    LLMReplyError,
    ShortErrors,
    TransientLLMError,
    count,
    failed_on_the_way,
    held_client,
    json_object,
    model_name,
    network_errors,
    own_reason,
    proxy_mounts,
    read_capped,
    read_head,
    status_error,
)
from opscore.redaction import redact_text

TIERS = ("cheap", "main")
# Why a provider says it stopped when the reply is cut short (Anthropic's stop_reason,
# Ollama's done_reason): such a reply is a bad reply, never parsed as if complete.
CUT_OFF = {"anthropic": {"max_tokens", "model_context_window_exceeded"}, "ollama": {"length"}}
# Anthropic's other stops that end no answer: what was written before them is a preamble (to a
# tool call no request offers, a turn paused) or a refusal, never the answer asked for.
NO_ANSWER = {
    "tool_use": "it asked to use a tool, and none was offered",
    "pause_turn": "it paused its turn",
    "refusal": "it refused",
}


@dataclass(frozen=True)
class LLMRequest:
    system: str
    messages: list[dict]
    temperature: float = 0.7
    max_tokens: int = 800
    tier: str = "main"
    # What an offline stand-in needs to answer a structured request plausibly (ignored online).
    offline_hint: dict | None = None
    # What was put into the prompt besides the task (the ids of what was recalled, the voice's
    # version): every LLMCall row keeps it, so any call can be reproduced.
    injected: dict = field(default_factory=dict)


@dataclass(frozen=True)
class LLMReply:
    text: str
    input_tokens: int
    output_tokens: int
    model: str
    provider: str
    extra: dict = field(default_factory=dict)
    call_id: int | None = None  # its LLMCall row, once call_llm recorded it


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
            output_tokens=min(max(len(text) // 4, 1), request.max_tokens),
            model=self.model_for(request.tier),
            provider=self.name,
        )


class AnthropicProvider:
    """The real `anthropic` client. `transport` lets tests pass a fake one."""

    name = "anthropic"

    def __init__(self, api_key: str, transport=None):
        import anthropic
        import httpcore2
        import httpx2  # the SDK's HTTP client; its errors can surface while a body is read

        self._anthropic, self._httpx = anthropic, httpx2

        def direct_or_via(proxy=None):
            return ShortErrors(in_time(httpx2.HTTPTransport(proxy=proxy), httpcore2), self.name)

        mounts = {} if transport else proxy_mounts(direct_or_via)
        transport = ShortErrors(transport, self.name) if transport else direct_or_via()
        self.client = anthropic.Anthropic(
            api_key=api_key,
            max_retries=0,  # call_llm owns retries, so every try is a row
            timeout=settings.OPS_LLM_TIMEOUT_SECONDS,
            # A redirect is an answer, not followed: a 307 would carry the prompt to any host.
            http_client=anthropic.DefaultHttpxClient(
                transport=transport, mounts=mounts, follow_redirects=False
            ),
        )

    def model_for(self, tier: str) -> str:
        return settings.OPS_ANTHROPIC_MODELS[tier]

    @held_to_reply_limit
    def complete(self, request: LLMRequest) -> LLMReply:
        anthropic = self._anthropic
        extra = {"temperature": request.temperature} if settings.OPS_ANTHROPIC_TEMPERATURE else {}
        try:
            with self.client.messages.with_streaming_response.create(
                model=self.model_for(request.tier),
                max_tokens=request.max_tokens,
                system=request.system,
                messages=request.messages,
                extra_body=extra or None,
                timeout=seconds_left(settings.OPS_LLM_TIMEOUT_SECONDS),
            ) as response:
                raw = read_capped(response.iter_bytes(), self.name)
        except (anthropic.APITimeoutError, self._httpx.TimeoutException) as error:
            reason = own_reason(error, network_errors(self._httpx))
            raise TransientLLMError(timed_out(self.name, error, reason)) from error
        except anthropic.APIConnectionError as error:  # the SDK's message says why, and only that
            telling = (anthropic.APIConnectionError,)
            raise TransientLLMError(failed_on_the_way(self.name, error, telling)) from error
        except anthropic.APIStatusError as error:
            headers = error.response.headers
            raise status_error("anthropic", error.status_code, error.message, headers) from error
        except self._httpx.TransportError as error:  # the body broke off while being read
            telling = network_errors(self._httpx)
            raise TransientLLMError(failed_on_the_way(self.name, error, telling)) from error
        return self.reply_from(raw)

    def reply_from(self, raw: bytes) -> LLMReply:
        """Checked by the SDK's own Message schema, so a reply of any other shape is a bad
        reply with its usage kept, never an AttributeError deep in our code."""
        from pydantic import ValidationError

        data = json_object(raw, self.name)
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        known = {
            "input_tokens": count(usage.get("input_tokens")),
            "output_tokens": count(usage.get("output_tokens")),
            "model": model_name(data.get("model")),
        }
        try:
            message = self._anthropic.types.Message.model_validate(data)
        except ValidationError as invalid:
            why = describe_invalid(invalid)
            raise LLMReplyError(f"anthropic: malformed reply: {why}", **known) from None
        if message.stop_reason is None:
            raise LLMReplyError(unfinished("anthropic", "no stop_reason"), **known)
        if message.stop_reason in CUT_OFF["anthropic"]:
            raise LLMReplyError(cut_off("anthropic", message.stop_reason), **known)
        if why := NO_ANSWER.get(message.stop_reason or ""):
            said = f"anthropic: no answer: stop_reason {message.stop_reason} ({why}); not used"
            raise LLMReplyError(said, **known)
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
        self.client = held_client(base_url, settings.OPS_LLM_TIMEOUT_SECONDS, transport)

    def model_for(self, tier: str) -> str:
        return settings.OPS_OLLAMA_MODELS[tier]

    @held_to_reply_limit
    def complete(self, request: LLMRequest) -> LLMReply:
        body = {
            "model": self.model_for(request.tier),
            "messages": [{"role": "system", "content": request.system}, *request.messages],
            "stream": False,
            "options": {"temperature": request.temperature, "num_predict": request.max_tokens},
        }
        try:
            read = seconds_left(settings.OPS_LLM_TIMEOUT_SECONDS)
            with self.client.stream("POST", "/api/chat", json=body, timeout=read) as response:
                if response.status_code != 200:
                    head = read_head(response.iter_bytes(), self.name)
                    # masked before it is cut: cut first, a secret's head would stay
                    said = redact_text(head.decode(errors="replace"))[:200]
                    raise status_error("ollama", response.status_code, said, response.headers)
                raw = read_capped(response.iter_bytes(), self.name)
        except httpx.TimeoutException as error:
            reason = own_reason(error, network_errors(httpx))
            raise TransientLLMError(timed_out(self.name, error, reason)) from error
        except (httpx.TransportError, httpx.DecodingError) as error:  # spoilt on the way
            telling = network_errors(httpx)
            raise TransientLLMError(failed_on_the_way(self.name, error, telling)) from error
        return self.reply_from(raw, body["model"])

    def reply_from(self, raw: bytes, asked_for: str) -> LLMReply:
        data = json_object(raw, self.name)
        known = {
            "input_tokens": count(data.get("prompt_eval_count")),
            "output_tokens": count(data.get("eval_count")),
            "model": model_name(data.get("model") or asked_for),
        }
        message = data.get("message")
        text = message.get("content") if isinstance(message, dict) else None
        if not isinstance(text, str):
            raise LLMReplyError("ollama: malformed reply: no message.content text", **known)
        if data.get("done", True) is not True:
            raise LLMReplyError(unfinished("ollama", f"done is {data['done']!r}"), **known)
        if data.get("done_reason") in CUT_OFF["ollama"]:
            raise LLMReplyError(cut_off("ollama", data["done_reason"]), **known)
        # Ollama leaves a count out (a cached prompt); one it gives is checked by call_llm.
        given = {"input_tokens": data.get("prompt_eval_count") or 0}
        given["output_tokens"] = data.get("eval_count") or 0
        return LLMReply(text=text, **(known | given), provider=self.name)


def cut_off(provider: str, why: str) -> str:
    """A reply that stopped for want of tokens (or context), not because the model was done:
    what it wrote so far may parse, and is still not the answer."""
    return f"{provider}: reply cut off at the reply's token limit ({why}): incomplete, not used"


def unfinished(provider: str, why: str) -> str:
    """A body that is one chunk of a stream (a proxy's, a server's that ignored `stream`:
    false) parses like a whole reply, yet the model had not finished writing it."""
    return f"{provider}: reply never said it ended ({why}): incomplete, not used"


OFFLINE_NOTE = (
    "The LLM provider is offline: what agents wrote here is stand-in words, not a model's "
    "judgement."
)


def offline_mark() -> str:
    """The prefix a surface puts on model-made text while the provider is offline."""
    return "[offline] " if settings.OPSCORE_LLM == "offline" else ""


def get_provider():
    choice = settings.OPSCORE_LLM
    if choice == "anthropic":
        return made(AnthropicProvider, settings.ANTHROPIC_API_KEY)
    if choice == "ollama":
        return made(OllamaProvider, settings.OLLAMA_URL)
    return OfflineProvider()


def made(provider_class, *args):
    """The provider, or one saying why its client could not be made: a proxy in the
    environment it cannot use (a scheme it does not speak, SOCKS without its package) raised
    as call_llm began, before any row, and whatever waited on the call crashed."""
    try:
        return provider_class(*args)
    except Exception as error:  # a client never made is still a call's row, with why
        return Unmade(provider_class, error)


class Unmade:
    """A provider whose client could not be made: each call fails as a model call does (an
    LLMError, so its LLMCall row says why), and none reaches the network."""

    def __init__(self, provider_class, error: Exception):
        self.kind, self.name = provider_class, provider_class.name
        self.why = f"{type(error).__name__}: {error}"

    def model_for(self, tier: str) -> str:
        return self.kind.model_for(self, tier)  # read from settings alone

    def complete(self, request: LLMRequest) -> LLMReply:
        raise LLMError(f"{self.name}: its client could not be made: {self.why}")


def cost_of(model: str, input_tokens: int, output_tokens: int, asked: str = "") -> Decimal:
    """USD, from per-million-token prices in settings: the `asked` model's, as it is billed;
    the replying model's only when the prices name no model asked and it is a version of the
    one asked (the dated `claude-sonnet-4-6-20260101` of its alias); nothing known else. The
    name a reply gives is its word: a cheaper one made its call cheaper, and a local model
    naming a priced one was charged its prices."""
    prices = settings.OPS_LLM_PRICES
    its_version = model.startswith(asked) and prices.get(model)
    price_in, price_out = prices.get(asked) or its_version or (0, 0)
    total = Decimal(str(price_in)) * input_tokens + Decimal(str(price_out)) * output_tokens
    return (total / Decimal(1_000_000)).quantize(Decimal("0.000001"))


_answering: contextvars.ContextVar = contextvars.ContextVar("replay_provider", default=None)


@contextlib.contextmanager
def answering(provider):
    """While it is active, every call_llm without an explicit provider asks this one."""
    token = _answering.set(provider)
    try:
        yield provider
    finally:
        _answering.reset(token)


def provider_override():
    return _answering.get()
