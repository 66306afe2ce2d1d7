"""One deadline for a whole model call while a person waits on it (a chat message, a thread
remark): every try, read and backoff of the call ends by it. Without it, a request made
in the Stage held its thread for up to OPS_LLM_MAX_TRIES tries of OPS_LLM_DEADLINE_SECONDS
each (three of three minutes), which a worker may afford and a person's request may not."""

import contextlib
import contextvars
import math
import time

_until: contextvars.ContextVar = contextvars.ContextVar("llm_answer_until", default=None)


@contextlib.contextmanager
def answer_within(seconds: float):
    """Model calls made inside end within `seconds` of its start, all their tries together."""
    token = _until.set((time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _until.reset(token)


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
    return left, f"the {deadline[1]:g} s a person waits for an answer"


def time_for(pause: float) -> bool:
    """Whether another try, after `pause`, still starts before the deadline."""
    return seconds_left(math.inf) > pause
