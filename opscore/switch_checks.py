"""The switches over a piece of work, asked again each time one of its model calls comes
back: a call is out for seconds to minutes, and an operator who paused the lane or disabled
the agent meanwhile saw the reply applied anyway (ideas kept, candidates proposed). A switch
that says paused stops everything it names, a reply on its way included.

Whoever runs the work (a standing order's run) says how to ask (`asked_after_calls`); every
call_llm inside it asks once its reply is back, its LLMCall row already written (the call was
billed), and raises SwitchedMidCall with the check's answer before the reply reaches the code
that would apply it."""

import contextlib
from collections.abc import Callable
from contextvars import ContextVar

_check: ContextVar[Callable[[], object] | None] = ContextVar("switch_check", default=None)


class SwitchedMidCall(Exception):
    """A switch was thrown while a model call was out; `said` is what its check answered."""

    def __init__(self, said):
        super().__init__(str(said))
        self.said = said


@contextlib.contextmanager
def asked_after_calls(check: Callable[[], object]):
    """Within the block, `check()` is asked after every model reply: anything but None stops
    the work there (SwitchedMidCall carrying it)."""
    token = _check.set(check)
    try:
        yield
    finally:
        _check.reset(token)


def agent_off(slug: str) -> str | None:
    """Why the agent may not act now (disabled, and by which override), read fresh; None
    while it may."""
    from opscore.models import Agent, Override

    if Agent.objects.filter(pk=slug, enabled=True).exists():
        return None
    return Override.objects.why_disabled(slug)


def ask_switches() -> None:
    check = _check.get()
    if check is not None and (said := check()) is not None:
        raise SwitchedMidCall(said)
