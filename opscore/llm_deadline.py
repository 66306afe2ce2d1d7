"""One deadline for a whole model call while a person waits on it (a chat message, a thread
remark): every try, connect, read and backoff of the call ends by it. Without it, a request
made in the Stage held its thread for up to OPS_LLM_MAX_TRIES tries of
OPS_LLM_DEADLINE_SECONDS each (three of three minutes), which a worker may afford and a person's
request may not. A try's timeout alone was not enough either: httpx gives the connect, the
reply's head and each read of its body the whole timeout again, so a reply whose head came
late took up to twice the deadline; the providers' connections are held to `ends_at()`
(opscore.http_deadline), and no try starts once it has passed."""

import contextlib
import contextvars
import math
import time

from django.conf import settings

from opscore.http_deadline import held_to

_until: contextvars.ContextVar = contextvars.ContextVar("llm_answer_until", default=None)


@contextlib.contextmanager
def answer_within(seconds: float):
    """Model calls made inside end within `seconds` of its start, all their tries together.
    Inside another, the earlier deadline holds: an inner one never gives more time."""
    deadline = (time.monotonic() + seconds, seconds)
    outer = _until.get()
    token = _until.set(deadline if outer is None else min(outer, deadline))
    try:
        yield
    finally:
        _until.reset(token)


def ends_at() -> float:
    """When a person's deadline ends, on time.monotonic()'s clock (never, when none is set)."""
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
    that ended it (the one a person set, not the moment's remainder)."""
    left, deadline = seconds_left(limit), _until.get()
    if deadline is None or left == limit:
        return limit, f"{limit:g} s"
    return left, waited(deadline[1])


def passed() -> str:
    """The person's deadline, named, once it has passed; "" while there is time (or none)."""
    deadline = _until.get()
    if deadline is None or time.monotonic() < deadline[0]:
        return ""
    return waited(deadline[1])


def named() -> str:
    """The deadline a person set, as a cut-off names it; "" when none is set."""
    deadline = _until.get()
    return "" if deadline is None else waited(deadline[1])


def waited(seconds: float) -> str:
    return f"the {seconds:g} s a person waits for an answer"


def in_time(transport, core):
    """A provider's transport (httpx's or httpx2's, `core` its httpcore), its connections held
    to a person's deadline: the connect, the reply's head and each read of its body get what
    is left of it, not each the whole timeout again. With no one waiting, the timeouts hold
    as configured."""
    return held_to(transport, ends_at, core)


def timed_out(provider: str, error: Exception) -> str:
    """A try that ran out of time, saying which limit ended it: the deadline a person waits on,
    or one connect or read past OPS_LLM_TIMEOUT_SECONDS."""
    if spent := passed():
        return f"{provider}: no answer within {spent} ({type(error).__name__})"
    limit = settings.OPS_LLM_TIMEOUT_SECONDS
    return f"{provider}: {type(error).__name__}: past the {limit:g} s one connect or read may take"


def time_for(pause: float) -> bool:
    """Whether another try, after `pause`, still starts before the deadline."""
    return seconds_left(math.inf) > pause
