"""The ledger of every model call: `call_llm` adds what Opscore needs around a provider's
`complete(request)` (opscore.llm_providers): the daily budget, bounded retries of transient
errors, and one LLMCall row per try — failed tries included.

The providers' names stay importable from here: callers import one module for a model call.
"""

import dataclasses
import logging
import time
import traceback

from django.conf import settings

from opscore.budgets import check_budget, lane_of
from opscore.inputs import LONE_SURROGATE, MalformedReply, max_bytes, parse_reply, without_nul
from opscore.llm_deadline import named, passed, time_for
from opscore.llm_providers import (
    OFFLINE_NOTE,
    TIERS,
    AnthropicProvider,
    LLMReply,
    LLMRequest,
    OfflineProvider,
    OllamaProvider,
    cost_of,
    get_provider,
    offline_mark,
    provider_override,
)
from opscore.llm_records import (
    error_document,
    keep_record,
    reply_document,
    request_document,
    versions_in_force,
)
from opscore.llm_wire import (
    BODY_CAP_FACTOR,
    LLMError,
    LLMReplyError,
    OverBudget,
    TransientLLMError,
    count,
    model_name,
    one_line,
)
from opscore.models import LLMCall, LLMCallOutcome
from opscore.redaction import mask_known, redact_text
from opscore.switch_checks import ask_switches

__all__ = [
    "BODY_CAP_FACTOR",
    "OFFLINE_NOTE",
    "TIERS",
    "AnthropicProvider",
    "LLMError",
    "LLMReply",
    "LLMReplyError",
    "LLMRequest",
    "OfflineProvider",
    "OllamaProvider",
    "OverBudget",
    "TransientLLMError",
    "call_llm",
    "cost_of",
    "get_provider",
    "offline_mark",
    "one_line",
    "parse_llm_reply",
    "unusable",
]
log = logging.getLogger(__name__)


# The longest pause between two tries, whatever a Retry-After asks: a worker's step (or a
# person) waits through it.
LONGEST_PAUSE_SECONDS = 30
# What a provider adds to a prompt's own tokens, at most: its framing, and each message's.
FRAMING_TOKENS, FRAMING_TOKENS_A_MESSAGE = 1024, 16


def backoff_pause(attempt: int) -> float:
    return min(settings.OPS_LLM_RETRY_BASE_SECONDS * 2 ** (attempt - 1), LONGEST_PAUSE_SECONDS)


def pause_after(attempt: int, error: LLMError) -> float:
    """The backoff, or longer when the answer asked for it (a 429's or a 529's Retry-After),
    never past LONGEST_PAUSE_SECONDS: the next try no longer came while the provider had said
    to wait, only to be refused again."""
    asked = getattr(error, "retry_after", None) or 0
    return max(backoff_pause(attempt), min(asked, LONGEST_PAUSE_SECONDS))


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def call_llm(
    request: LLMRequest,
    *,
    agent,
    purpose: str,
    prompt_version: str,
    step=None,
    provider=None,
    links: dict | None = None,
    harness: str = "",
) -> LLMReply:
    """One model call with budget, bounded retries and an LLMCall row per try, each with its
    whole record (opscore.llm_records). `links` says what the call serves (conversation,
    opportunity, review …); a step's id and mission are linked by themselves."""
    # a replay answers every call
    provider, lane = provider_override() or provider or get_provider(), lane_of(purpose)
    request = without_secrets(request)
    served = {"step": step.id, "mission": step.mission_id} if step is not None else {}
    row = _call_row(request, agent, purpose, lane, provider, prompt_version, step, harness)
    row["links"] = served | (links or {})
    try:
        tier = allowed_tier(provider, agent, lane, request.tier)
    except OverBudget as refused:
        row |= {"model": provider.model_for(request.tier), "tier": request.tier}
        LLMCall.objects.create(**row, outcome=LLMCallOutcome.OVER_BUDGET, error=str(refused))
        raise
    request = dataclasses.replace(request, tier=tier)  # cheap once the lane passed its soft limit
    row |= {"model": provider.model_for(tier), "tier": tier}
    tries = settings.OPS_LLM_MAX_TRIES
    for attempt in range(1, tries + 1):
        _start_in_time(provider, attempt, row, request)
        reply = _try_once(provider, request, row, attempt, last=attempt == tries)
        if isinstance(reply, LLMReply):
            ask_switches()  # thrown while it was out: the reply is not applied (switch_checks)
            return reply
        if not getattr(provider, "replaying", False):  # a replay's retries cost no time
            sleep(reply)
    raise AssertionError("unreachable")


def without_secrets(request: LLMRequest) -> LLMRequest:
    """The prompt with the environment's own secrets masked, whatever it was built from: what
    prompts are made of is typed in many places (an agent's directive, a goal's title, an
    order's instructions), and a key pasted into any of them went to the model host with every
    call, its record alone masked. Only known secrets: a pattern would change innocent words."""
    messages = [
        m | {"content": mask_known(m["content"])} if isinstance(m.get("content"), str) else m
        for m in request.messages
    ]
    return dataclasses.replace(request, system=mask_known(request.system), messages=messages)


def _call_row(request, agent, purpose, lane, provider, prompt_version, step, harness) -> dict:
    """The columns every try of one call shares: who asked, for what, under which versions."""
    return dict(
        agent=agent,
        step=step,
        purpose=purpose,
        lane=lane,
        provider=provider.name,
        prompt_version=prompt_version,
        injected=request.injected,
        versions=versions_in_force(prompt_version, request.injected),
        harness=harness[:100],
    )


def allowed_tier(provider, agent, lane: str, tier: str) -> str:
    """The budget's word on a call (budgets.check_budget), counting what a live replay has
    spent so far, which no ledger row holds until it ends."""
    if from_record(provider):
        return tier
    return check_budget(agent, lane, tier, getattr(provider, "unledgered", None))


def from_record(provider) -> bool:
    """A recorded replay answers from the record: it spends nothing, so today's budget neither
    refuses nor cheapens it (a live replay spends, and asks the budget like any call)."""
    return getattr(provider, "replaying", False) and provider.name == "recorded"


def _start_in_time(provider, attempt: int, row: dict, request) -> None:
    """No try starts once the deadline a person waits on has passed: a pause between tries
    (or the ledger's work before the first) may end later than it was meant to. A call whose
    first try is not made is a row all the same, saying so; a later try's call has its rows."""
    if spent := passed():
        late = TransientLLMError(
            f"{provider.name}: no answer within {spent}; try {attempt} not made"
        )
        if attempt == 1:
            record_failure(row, attempt, late, time.perf_counter(), request)
        raise late


def _try_once(provider, request, row: dict, attempt: int, *, last: bool) -> LLMReply | float:
    """One try, recorded whatever its end. A number is a transient failure worth another try
    after that many seconds' pause."""
    started = time.perf_counter()
    try:
        reply = within_limit(provider.complete(request), None if from_record(provider) else request)
    except LLMError as error:
        record_failure(row, attempt, error, started, request)
        if not isinstance(error, TransientLLMError) or last:
            raise
        if time_for(pause := pause_after(attempt, error)):
            return pause
        if named() in str(error):  # the deadline ended this try, and its reason says so
            raise
        raise TransientLLMError(
            f"{provider.name}: no time for another try within {named()}; last: {error}"
        ) from error
    except Exception as error:  # a fault nobody foresaw: still a row, still one line
        log.error("%s call failed: %s", provider.name, redact_text(traceback.format_exc()))
        failure = LLMError(f"{provider.name}: {type(error).__name__}: {error}")
        record_failure(row, attempt, failure, started, request)
        raise failure from error
    call = LLMCall.objects.create(
        **(row | {"model": reply.model}),
        attempt=attempt,
        outcome=LLMCallOutcome.OK,
        input_tokens=reply.input_tokens,
        output_tokens=reply.output_tokens,
        cost_usd=0 if from_record(provider) else cost_of(*billed(reply), asked=row["model"]),
        latency_ms=int((time.perf_counter() - started) * 1000),
    )
    keep_record(call, request_document(request, row["model"]), reply_document(reply))
    # Postgres stores no NUL character, and it carries nothing readable: the rule is to drop it.
    # A secret of the environment the model repeats is masked, as its record above has it: the
    # reply becomes artifacts, turns and chat answers, which no one redacts after this.
    return dataclasses.replace(reply, text=mask_known(without_nul(reply.text)), call_id=call.id)


def parse_llm_reply(reply: LLMReply, schema, what: str, error=MalformedReply):
    """`parse_reply` for a recorded reply: one that fits no schema also marks its LLMCall row
    a bad reply, with the reason, so the ledger never calls an unusable answer ok."""
    try:
        return parse_reply(reply.text, schema, what, error)
    except MalformedReply as malformed:
        unusable(reply, str(malformed))
        raise


def unusable(reply: LLMReply, reason: str) -> None:
    """Mark a recorded reply's LLMCall row a bad reply, with the reason: what its caller found
    it unusable for (no text, no schema it fits) once the provider had answered."""
    LLMCall.objects.filter(pk=reply.call_id).update(
        outcome=LLMCallOutcome.BAD_REPLY, error=redact_text(one_line(reason, 2000))
    )


def tokens_of(reply: LLMReply) -> tuple[int, int]:
    return reply.input_tokens, reply.output_tokens


def billed(reply: LLMReply) -> tuple[str, int, int]:
    """What a reply's price is read from: the model it names and its tokens."""
    return reply.model, *tokens_of(reply)


def within_limit(reply: LLMReply, request: LLMRequest | None = None) -> LLMReply:
    """A reply is input like any other: over OPS_MAX_INPUT_BYTES, with a lone surrogate (no
    UTF-8, so no row, carries one) or with token counts no column holds, it is refused, not
    stored; each of the last two used to fail the LLMCall row's write and leave the step
    running. Counts more than `request` could cost are refused too, billed at that most."""
    reply = dataclasses.replace(reply, model=model_name(reply.model))
    usage = f"{reply.input_tokens!r} in, {reply.output_tokens!r} out"
    if (count(reply.input_tokens), count(reply.output_tokens)) != tokens_of(reply):
        raise LLMReplyError(
            f"{reply.provider}: usage {usage} is not a token count", model=reply.model
        )
    most_in, most_out = most_tokens(request) if request is not None else tokens_of(reply)
    if reply.input_tokens > most_in or reply.output_tokens > most_out:
        billed = {"input_tokens": min(reply.input_tokens, most_in)}
        billed["output_tokens"] = min(reply.output_tokens, most_out)
        said = f"usage {usage} is more than the request could cost ({most_in} in, {most_out} out)"
        raise LLMReplyError(f"{reply.provider}: {said}", **billed, model=reply.model)
    problem = reply_problem(reply.text)
    if problem:
        tokens = {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens}
        raise LLMReplyError(f"{reply.provider}: {problem}", **tokens, model=reply.model)
    return reply


def most_tokens(request: LLMRequest) -> tuple[int, int]:
    """The most tokens a request can be billed: no token is shorter than a byte, so in, its
    prompt's bytes and the framing a provider adds (role markers, a chat template); out, its
    max_tokens. A reply claiming more is not believed: one claiming two billion spent every
    budget of the day in one call."""
    sent = request.system + "".join(str(m.get("content", "")) for m in request.messages)
    framing = FRAMING_TOKENS + FRAMING_TOKENS_A_MESSAGE * len(request.messages)
    return len(sent.encode("utf-8", "surrogatepass")) + framing, request.max_tokens


def reply_problem(text: str) -> str:
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes():
        return f"a reply of {size} bytes, over the {max_bytes()}-byte limit"
    if LONE_SURROGATE.search(text):
        return "the reply holds a lone surrogate (\\ud800-\\udfff), not text"
    return ""


def record_failure(row: dict, attempt: int, error: LLMError, started: float, request) -> None:
    """A failed try's LLMCall row and record; a bad reply keeps the tokens (and so the cost)
    it was billed for."""
    outcome = LLMCallOutcome.ERROR
    if isinstance(error, TransientLLMError):
        outcome = LLMCallOutcome.TRANSIENT_ERROR
    elif isinstance(error, LLMReplyError):
        outcome = LLMCallOutcome.BAD_REPLY
        model = error.model or row["model"]
        tokens = {"input_tokens": error.input_tokens, "output_tokens": error.output_tokens}
        cost = cost_of(model, **tokens, asked=row["model"])
        row = row | tokens | {"model": model, "cost_usd": cost}
    call = LLMCall.objects.create(
        **row,
        attempt=attempt,
        error=redact_text(str(error))[:2000],
        latency_ms=int((time.perf_counter() - started) * 1000),
        outcome=outcome,
    )
    keep_record(call, request_document(request, row["model"]), error_document(error))
