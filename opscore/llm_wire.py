"""What crosses the wire between Opscore and a model provider, at the boundary: a reply's body
read no further than a cap and for no longer than its deadline, an error answer read only as far
as its reason, token counts and a model's name as a row can hold them, and every failure sorted
into one of three classes, because each costs differently when repeated: a transport fault
(TransientLLMError) is retried with backoff; a bad reply (LLMReplyError) is the model's
deterministic answer, so asking again bills the same fault twice; anything else (LLMError: a bad
request, a revoked key) will not heal by itself either. The providers themselves are
opscore.llm_providers."""

import contextlib
import json
import math
import time
from email.utils import parsedate_to_datetime

import httpcore
import httpx
from django.conf import settings
from django.utils import timezone

from opscore.inflating import ACCEPT_ENCODING, inflated
from opscore.inputs import LONE_SURROGATE, max_bytes
from opscore.llm_deadline import in_time, reply_deadline
from opscore.redaction import redact_text

# How much of a reply's body is read at most, as a multiple of the reply limit: room for JSON
# escaping around a reply that is within the limit, and for reading the usage of one that is
# not, without ever holding an endless reply in RAM.
BODY_CAP_FACTOR = 64
# How much of an error answer's body is read: its reason shows the first 200 characters.
ERROR_HEAD_BYTES = 1024
# What an error answer keeps of its headers once its body is cut (the SDK reads these).
KEPT_HEADERS = ("content-type", "retry-after", "retry-after-ms", "request-id")
# The most tokens an LLMCall row's columns hold (PostgreSQL integer).
MAX_COUNT = 2**31 - 1


def one_line(text: str, limit: int = 300) -> str:
    return " ".join(str(text).split())[:limit]


def failed_on_the_way(provider: str, error: Exception, telling: tuple[type, ...]) -> str:
    """A transport fault as its row says it: the error's type, and its own one-line reason
    when it is one of `telling` (a refused connection, a name lookup refused or not answered,
    a proxy's complaint). Other errors' text can quote the request (h11 quotes a header value
    it rejects), so they say only their type, as the Anthropic SDK has it. Redacted all the
    same: a reason may quote a URL."""
    reason = own_reason(error, telling)
    return redact_text(f"{provider}: {type(error).__name__}" + (f": {reason}" if reason else ""))


def own_reason(error: Exception, telling: tuple[type, ...]) -> str:
    """The one-line text of `error`, or of the transport error an SDK's error wraps (its
    APITimeoutError says only "Request timed out."), when it is one of `telling`; else ""."""
    for said in (error, error.__cause__):
        if isinstance(said, telling):
            return redact_text(one_line(str(said)))
    return ""


def network_errors(httpx_module) -> tuple[type, ...]:
    """The errors of an httpx (httpx or the SDK's httpx2) whose text says why, not what was
    sent: the same ones the Anthropic SDK quotes in its APIConnectionError, and timeouts, whose
    text is a socket's ("timed out"), an empty pool's (none) or the call's deadline naming the
    host it waited for (opscore.http_deadline), never the request's."""
    return (
        httpx_module.NetworkError,
        httpx_module.ProxyError,
        httpx_module.RemoteProtocolError,
        httpx_module.TimeoutException,
    )


class LLMError(Exception):
    """A failure that retrying will not fix (bad request, auth). The message is one line: it
    becomes a step's reason and an LLMCall row's error, so it holds no NUL and no lone
    surrogate, which no row stores: an error answer quoting either made
    the row's write fail and the worker crash with the step still running. And it is
    redacted: a chat answer or a thread's note shows it as it is, and an answer quoting the
    key it refused printed the key there."""

    def __init__(self, message: str):
        # what no row stores goes first: taken out after the masking, a secret with a NUL
        # inside passed the masking whole and was joined up again
        super().__init__(one_line(redact_text(storable(str(message)))))


class TransientLLMError(LLMError):
    """429, 5xx, timeouts, connection trouble: worth another try after a pause, the one the
    answer asked for (`retry_after`, seconds) when it asked one."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


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


def held_client(base_url: str, timeout: float, transport=None) -> httpx.Client:
    """An httpx client to a model host whose calls end by the deadline set around them
    (opscore.llm_deadline: a try's, a person's), name lookup, connect and every read together,
    through the environment's proxies too. `transport`: a test's, instead (held to none)."""

    def direct_or_via(proxy=None):
        return Inflated(in_time(httpx.HTTPTransport(proxy=proxy), httpcore))

    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        headers={"Accept-Encoding": ACCEPT_ENCODING},
        transport=Inflated(transport) if transport else direct_or_via(),
        mounts={} if transport else proxy_mounts(direct_or_via),
    )


class Inflated(httpx.BaseTransport):
    """An httpx transport around another whose answers reach the client already inflated, in
    pieces of at most 64 KiB (opscore.inflating), so read_capped's cap counts inflated bytes
    as they come: httpx inflated each read whole, and a gzip bomb's first 64 KiB read was
    64 MiB held before the cap saw any of it. A body that does not inflate is spoilt on
    the way (httpx.DecodingError), as httpx's own decoder said."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.headers.get("accept-encoding", "").strip().lower() == "identity":
            return response  # a caller that asked for the bytes as sent refuses others itself
        encoding = response.headers.pop("content-encoding", "")
        response.stream = InflatedBody(response.stream, encoding)
        return response

    def close(self) -> None:
        self.inner.close()


class InflatedBody(httpx.SyncByteStream):
    def __init__(self, raw, encoding: str):
        self.raw, self.encoding = raw, encoding

    def __iter__(self):
        yield from inflated(self.raw, self.encoding, httpx.DecodingError)

    def close(self) -> None:
        self.raw.close()


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
    """A model's name as a reply gave it, as its LLMCall row can hold it: storable, at most
    the column's 100 characters."""
    return storable(str(value or ""))[:100]


def storable(text: str) -> str:
    """Outside text without what PostgreSQL stores in no text column: NUL, a lone surrogate."""
    return LONE_SURROGATE.sub("", text).replace("\x00", "")


def status_error(provider: str, status: int, detail: str, headers=None) -> LLMError:
    """429, 529 (overloaded) and other 5xx, 408 and 409 are worth another try, after the pause
    the answer's Retry-After asks for; the rest not."""
    said = f"{provider}: HTTP {status}: {detail}"
    if status in (408, 409, 429) or status >= 500:
        return TransientLLMError(said, retry_after=asked_pause(headers or {}))
    return LLMError(said)


def asked_pause(headers) -> float | None:
    """The seconds an answer asks to wait before the next try: Anthropic's retry-after-ms, or
    Retry-After in seconds or as an HTTP date; None when it asks none that makes sense."""
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            seconds = float(ms) / 1000
        elif (said := headers.get("retry-after")) is None:
            return None
        elif said.strip().isdigit():
            seconds = float(said)
        else:
            seconds = (parsedate_to_datetime(said) - timezone.now()).total_seconds()
    except (ValueError, TypeError, OverflowError):
        return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None
