"""LLM providers behind one interface, and the types a call passes through them.

`complete(request)` is the provider interface: system prompt, messages, temperature, max tokens
and a model tier in; text and usage out. `get_provider()` is the configured one, unless a replay
is `answering` every call (opscore.replay); the ledger around a call is opscore.llm.

Failures are sorted at the provider boundary into three classes, because each costs differently
when repeated: a transport fault (TransientLLMError) is retried with backoff; a bad reply
(LLMReplyError) is the model's deterministic answer, so asking again bills the same fault twice;
anything else (LLMError: a bad request, a revoked key) will not heal by itself either.
"""

import contextlib
import contextvars
import hashlib
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal

import httpcore
import httpx
from django.conf import settings

from opscore.inputs import LONE_SURROGATE, describe_invalid, max_bytes
from opscore.llm_deadline import (
    held_to_reply_limit,
    in_time,
    reply_deadline,
    seconds_left,
    timed_out,
)

TIERS = ("cheap", "main")
# How much of a reply's body is read at most, as a multiple of the reply limit: room for JSON
# escaping around a reply that is within the limit, and for reading the usage of one that is
# not, without ever holding an endless reply in RAM.
BODY_CAP_FACTOR = 64
# How much of an error answer's body is read: its reason shows the first 200 characters.
ERROR_HEAD_BYTES = 1024
# What an error answer keeps of its headers once its body is cut (the SDK reads these).
KEPT_HEADERS = ("content-type", "retry-after", "retry-after-ms", "request-id")
# Why a provider says it stopped when the reply is cut short (Anthropic's stop_reason,
# Ollama's done_reason): such a reply is a bad reply, never parsed as if complete.
CUT_OFF = {"anthropic": {"max_tokens", "model_context_window_exceeded"}, "ollama": {"length"}}
# The most tokens an LLMCall row's columns hold (PostgreSQL integer).
MAX_COUNT = 2**31 - 1


def one_line(text: str, limit: int = 300) -> str:
    return " ".join(str(text).split())[:limit]


class LLMError(Exception):
    """A failure that retrying will not fix (bad request, auth). The message is one line: it
    becomes a step's reason and an LLMCall row's error."""

    def __init__(self, message: str):
        super().__init__(one_line(message))


class TransientLLMError(LLMError):
    """429, 5xx, timeouts, connection trouble: worth another try after a pause."""


class LLMReplyError(LLMError):
    """The model answered 200, but the answer is unusable: not JSON, the wrong shape, no text,
    over the reply limit. Deterministic, so never retried, and the model's answer is no sign
    that the step's kind is broken, so it never counts toward the breaker. Carries what the
    reply did tell (tokens, model): the call was billed, and its LLMCall row says so."""

    def __init__(self, message: str, *, input_tokens: int = 0, output_tokens: int = 0, model=""):
        super().__init__(message)
        self.input_tokens, self.output_tokens = input_tokens, output_tokens
        self.model = model_name(model)


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
            output_tokens=max(len(text) // 4, 1),
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
            raise TransientLLMError(timed_out(self.name, error)) from error
        except anthropic.APIConnectionError as error:
            raise TransientLLMError(f"anthropic: {type(error).__name__}") from error
        except anthropic.APIStatusError as error:
            raise status_error("anthropic", error.status_code, error.message) from error
        except self._httpx.TransportError as error:  # the body broke off while being read
            raise TransientLLMError(f"anthropic: {type(error).__name__}") from error
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
        if message.stop_reason in CUT_OFF["anthropic"]:
            raise LLMReplyError(cut_off("anthropic", message.stop_reason), **known)
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
        def direct_or_via(proxy=None):
            return in_time(httpx.HTTPTransport(proxy=proxy), httpcore)

        self.client = httpx.Client(
            base_url=base_url,
            timeout=settings.OPS_LLM_TIMEOUT_SECONDS,
            transport=transport or direct_or_via(),
            mounts={} if transport else proxy_mounts(direct_or_via),
        )

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
                    head = read_head(response.iter_bytes(), self.name)[:200]
                    raise status_error(
                        "ollama", response.status_code, head.decode(errors="replace")
                    )
                raw = read_capped(response.iter_bytes(), self.name)
        except httpx.TimeoutException as error:
            raise TransientLLMError(timed_out(self.name, error)) from error
        except (httpx.TransportError, httpx.DecodingError) as error:  # spoilt on the way
            raise TransientLLMError(f"ollama: {type(error).__name__}") from error
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
        if data.get("done_reason") in CUT_OFF["ollama"]:
            raise LLMReplyError(cut_off("ollama", data["done_reason"]), **known)
        # Ollama leaves a count out (a cached prompt); one it gives is checked by call_llm.
        given = {"input_tokens": data.get("prompt_eval_count") or 0}
        given["output_tokens"] = data.get("eval_count") or 0
        return LLMReply(text=text, **(known | given), provider=self.name)


def read_capped(chunks, provider: str) -> bytes:
    """A reply body, read no further than BODY_CAP_FACTOR times the reply limit, and for no
    longer than OPS_LLM_DEADLINE_SECONDS."""
    cap, body = BODY_CAP_FACTOR * max_bytes(), bytearray()
    for chunk in within_deadline(chunks, provider):
        body += chunk
        if len(body) > cap:
            raise LLMReplyError(f"{provider}: reply body over {cap} bytes; not read further")
    return bytes(body)


def within_deadline(chunks, provider: str):
    """A body's chunks until the try's deadline (OPS_LLM_DEADLINE_SECONDS from its start, or a
    person's shorter one, opscore.llm_deadline) has passed: the client's timeout restarts on
    every read, so a server trickling a byte at a time would otherwise hold the worker for
    ever. The connections are held to it too; this also ends a transport that has none."""
    limit, said = reply_deadline(settings.OPS_LLM_DEADLINE_SECONDS)
    deadline = time.monotonic() + limit
    for chunk in chunks:
        yield chunk
        if time.monotonic() > deadline:
            raise TransientLLMError(f"{provider}: reply not complete within {said}")


def read_head(chunks, provider: str) -> bytes:
    """The start of an error answer's body, all its one-line reason shows: read no further,
    for no longer than the deadline (an endless or trickling error body was read whole)."""
    head = bytearray()
    with contextlib.suppress(TransientLLMError):  # the status says enough
        for chunk in within_deadline(chunks, provider):
            head += chunk
            if len(head) >= ERROR_HEAD_BYTES:
                break
    return bytes(head[:ERROR_HEAD_BYTES])


class ShortErrors:
    """An httpx2 transport around another: an error answer (4xx, 5xx) reaches the SDK with
    only the start of its body, which the SDK would otherwise read whole before raising."""

    def __init__(self, inner, provider: str):
        self.inner, self.provider = inner, provider

    def handle_request(self, request):
        response = self.inner.handle_request(request)
        if response.status_code < 400:
            return response
        response.request = request
        try:
            head = read_head(response.iter_bytes(), self.provider)  # decoded: gzip and all
        finally:
            response.close()
        kept = [(k, v) for k, v in response.headers.items() if k.lower() in KEPT_HEADERS]
        return type(response)(response.status_code, headers=kept, content=head)

    def close(self):
        self.inner.close()


def cut_off(provider: str, why: str) -> str:
    """A reply that stopped for want of tokens (or context), not because the model was done:
    what it wrote so far may parse, and is still not the answer."""
    return f"{provider}: reply cut off at the reply's token limit ({why}): incomplete, not used"


def proxy_mounts(direct_or_via) -> dict:
    """The environment's proxies (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY), each one's
    transport made as the direct one (`direct_or_via(proxy)`). Given a transport, a client
    mounts none itself: the calls went direct past the proxy the environment names, and one
    left to mount them would keep neither ShortErrors nor the deadline. The SDK's reading."""
    from anthropic._utils._httpx import get_environment_proxies

    return {
        pattern: direct_or_via(proxy) if proxy else None
        for pattern, proxy in get_environment_proxies().items()
    }


def json_object(raw: bytes, provider: str) -> dict:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise LLMReplyError(f"{provider}: malformed reply: not JSON ({error})") from None
    if not isinstance(data, dict):
        raise LLMReplyError(f"{provider}: malformed reply: a JSON {type(data).__name__}")
    return data


def count(value) -> int:
    """A token count as the reply gave it, or 0 when it gave none that makes sense."""
    whole = isinstance(value, int) and not isinstance(value, bool)
    return value if whole and 0 <= value <= MAX_COUNT else 0


def model_name(value) -> str:
    """A model's name as a reply gave it, as its LLMCall row can hold it: no NUL, no lone
    surrogate (PostgreSQL stores neither), at most the column's 100 characters."""
    return LONE_SURROGATE.sub("", str(value or "")).replace("\x00", "")[:100]


def status_error(provider: str, status: int, detail: str) -> LLMError:
    """429, 529 (overloaded) and other 5xx, 408 and 409 are worth another try; the rest not."""
    transient = status in (408, 409, 429) or status >= 500
    return (TransientLLMError if transient else LLMError)(f"{provider}: HTTP {status}: {detail}")


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
        return AnthropicProvider(settings.ANTHROPIC_API_KEY)
    if choice == "ollama":
        return OllamaProvider(settings.OLLAMA_URL)
    return OfflineProvider()


def cost_of(model: str, input_tokens: int, output_tokens: int) -> Decimal:
    """USD, from per-million-token prices in settings (unknown models cost nothing known)."""
    price_in, price_out = settings.OPS_LLM_PRICES.get(model, (0, 0))
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
