"""One deadline for a whole model call while a person waits on it (a chat message, a thread
remark): every try, connect, read and backoff of the call ends by it. Without it, a request
made in the Stage held its thread for up to OPS_LLM_MAX_TRIES tries of
OPS_LLM_DEADLINE_SECONDS each (three of three minutes), which a worker may afford and a person's
request may not. And one deadline for each try of every call, a step's too: it ends within
OPS_LLM_DEADLINE_SECONDS of its start (`held_to_reply_limit`). A try's timeout alone was not
enough: httpx gives the connect, the reply's head and each read of its body the whole timeout
again, so a reply whose head came late took up to twice a person's deadline, and a step's try
its whole-reply limit counted from the body's start plus a read more; the providers'
connections are held to `ends_at()` (opscore.http_deadline), and no try starts once a
person's deadline has passed."""

import contextlib
import contextvars
import functools
import math
import time

from django.conf import settings

from opscore.http_deadline import held_to

_until: contextvars.ContextVar = contextvars.ContextVar("llm_answer_until", default=None)


def answer_within(seconds: float):
    """Model calls made inside end within `seconds` of its start, all their tries together.
    Inside another, the earlier deadline holds: an inner one never gives more time."""
    return held_within(seconds, waited(seconds))


def held_to_reply_limit(complete):
    """A provider's `complete(request)`, one try, ending within OPS_LLM_DEADLINE_SECONDS of its
    start (or by a person's earlier deadline): its cut-off names the limit."""

    @functools.wraps(complete)
    def within_limit(provider, request):
        limit = settings.OPS_LLM_DEADLINE_SECONDS
        with held_within(limit, f"the {limit:g} s a reply may take"):
            return complete(provider, request)

    return within_limit


@contextlib.contextmanager
def held_within(seconds: float, said: str):
    """A deadline `seconds` from now, `said` how a cut-off names it; an outer one that ends
    no later holds instead. Calls through a client whose transport is `in_time` end by it."""
    deadline = (time.monotonic() + seconds, said)
    outer = _until.get()
    token = _until.set(deadline if outer is None or deadline[0] < outer[0] else outer)
    try:
        yield
    finally:
        _until.reset(token)


def ends_at() -> float:
    """When the deadline a call is held to ends, on time.monotonic()'s clock (never, when none
    is set)."""
    deadline = _until.get()
    return math.inf if deadline is None else deadline[0]


def seconds_left(limit: float) -> float:
    """`limit`, or the time left of the deadline when that is shorter (never below 0)."""
    deadline = _until.get()
    if deadline is None:
        return limit
    return max(0.0, min(limit, deadline[0] - time.monotonic()))


def reply_deadline(limit: float) -> tuple[float, str]:
    """The seconds a reply's body may take from now, and how its cut-off names the deadline
    that ended it (the one a person or the try set, not the moment's remainder)."""
    left, deadline = seconds_left(limit), _until.get()
    if deadline is None or left == limit:
        return limit, f"{limit:g} s"
    return left, deadline[1]


def passed() -> str:
    """The deadline, named, once it has passed; "" while there is time (or none). Between
    tries only a person's is set."""
    deadline = _until.get()
    if deadline is None or time.monotonic() < deadline[0]:
        return ""
    return deadline[1]


def named() -> str:
    """The deadline set, as a cut-off names it; "" when none is set. Between tries only a
    person's is."""
    deadline = _until.get()
    return "" if deadline is None else deadline[1]


def waited(seconds: float) -> str:
    return f"the {seconds:g} s a person waits for an answer"


def in_time(transport, core):
    """A provider's transport (httpx's or httpx2's, `core` its httpcore), its connections held
    to the deadline of the try using them (a person's, or the try's whole-reply limit): the
    connect, the reply's head and each read of its body get what is left of it, not each the
    whole timeout again."""
    return held_to(transport, ends_at, core)


def timed_out(provider: str, error: Exception, reason: str = "") -> str:
    """A try that ran out of time, saying which limit ended it: the deadline a person waits on,
    the whole reply's (OPS_LLM_DEADLINE_SECONDS), or one connect or read past
    OPS_LLM_TIMEOUT_SECONDS; and `reason`, the error's own word on what it waited for (a name
    lookup, a connect), when it has one (opscore.llm_wire.own_reason)."""
    kind = type(error).__name__
    if spent := passed():
        return f"{provider}: no answer within {spent} ({kind}" + (f": {reason})" if reason else ")")
    limit = settings.OPS_LLM_TIMEOUT_SECONDS
    said = f"{provider}: {kind}: past the {limit:g} s one connect or read may take"
    return said + (f" ({reason})" if reason else "")


def time_for(pause: float) -> bool:
    """Whether another try, after `pause`, still starts before the deadline."""
    return seconds_left(math.inf) > pause
