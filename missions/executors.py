"""What a step of each kind does. An executor takes a StepRun and returns an outcome.

Executors never write step status themselves: the worker records their outcome under the lease
token, so a worker that lost its lease cannot finish a step someone else now owns.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from opscore.registry import STEP_KINDS, Registry, StepKind


@dataclass(frozen=True)
class Effect:
    """An outside effect to deliver once. `key` is unique across all retries of the step."""

    key: str
    channel: str
    payload: dict


@dataclass(frozen=True)
class ArtifactDraft:
    kind: str
    title: str
    body: str
    metadata: dict = field(default_factory=dict)
    provenance: str = "trusted"
    source_url: str = ""


@dataclass(frozen=True)
class Succeeded:
    """Result, artifacts and effects are written in the completion's own transaction.
    `unless_switched`, asked in that same transaction before anything is written: a reason
    the step is held instead (a switch thrown while it ran), or '' to go on. Asked in a
    transaction of its own, a switch thrown between the answer and the write was missed."""

    result: dict = field(default_factory=dict)
    effects: list[Effect] = field(default_factory=list)
    artifacts: list[ArtifactDraft] = field(default_factory=list)
    unless_switched: Callable[[], str] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Failed:
    """`input_refused`: a guard refused the step's own input (a private URL, no URL). That is
    the input's fault, not the kind's, so it never counts toward the kind's breaker.
    `bad_reply`: the model answered, unusably (malformed, the wrong shape, empty, too big). The
    same prompt would be billed again for the same answer, so it is never retried, and a model's
    answer is no sign the kind is broken, so it never counts toward the breaker either.
    `contended`: the database aborted the step's statement to break a deadlock or a
    serialization conflict among concurrent writers; retried like any failure, but the victim
    is chosen by timing, not by the kind, so it never counts toward the breaker."""

    error: str
    retryable: bool = True
    input_refused: bool = False
    bad_reply: bool = False
    contended: bool = False

    @property
    def counts_toward_breaker(self) -> bool:
        return not (self.input_refused or self.bad_reply or self.contended)


@dataclass(frozen=True)
class Blocked:
    reason: str
    code: str = "needs_human"


@dataclass(frozen=True)
class Interrupted:
    """Not an executor's answer: the worker was told to stop and the step outlived the grace
    (missions.shutdown). The step goes back to the queue at once."""

    reason: str


@dataclass(frozen=True)
class Held:
    """A switch over the step (its agent, its lane) was thrown while it ran: what it was about
    to apply is not applied, and the step waits in the queue, no attempt spent, for the switch
    to be lifted (the claim skips it until then). A switch says "paused" of everything it
    names, a reply still on its way included."""

    reason: str


Outcome = Succeeded | Failed | Blocked | Interrupted | Held
Executor = Callable[["StepRun"], Outcome]  # noqa: F821 - StepRun lives in missions.worker
EXECUTORS: Registry = Registry("executor")


def lookup(kind: str) -> Executor | None:
    return EXECUTORS.get(kind)


def register_plugins(module_names) -> None:
    """A plug-in module (settings.OPS_EXECUTOR_MODULES) names what it brings in plain dicts:
    `EXECUTORS` (kind → executor), optionally `STEP_KINDS` (a list of StepKind) and
    `CHANNELS` (outbox channel name → deliver function)."""
    from missions.outbox import CHANNELS

    for module_name in module_names:
        module = importlib.import_module(module_name)
        EXECUTORS.register_all(getattr(module, "EXECUTORS", {}))
        CHANNELS.register_all(getattr(module, "CHANNELS", {}))
        for kind in getattr(module, "STEP_KINDS", []):
            STEP_KINDS.register(kind.name, kind)
        for name in getattr(module, "EXECUTORS", {}):
            if name not in STEP_KINDS:  # a plug-in executor brings its kind
                STEP_KINDS.register(name, StepKind(name, f"plug-in executor from {module_name}"))
