"""What a step of each kind does. An executor takes a StepRun and returns an outcome.

Executors never write step status themselves: the worker records their outcome under the lease
token, so a worker that lost its lease cannot finish a step someone else now owns.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings


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
    """Result, artifacts and effects are written in the completion's own transaction."""

    result: dict = field(default_factory=dict)
    effects: list[Effect] = field(default_factory=list)
    artifacts: list[ArtifactDraft] = field(default_factory=list)


@dataclass(frozen=True)
class Failed:
    error: str
    retryable: bool = True


@dataclass(frozen=True)
class Blocked:
    reason: str
    code: str = "needs_human"


Outcome = Succeeded | Failed | Blocked
Executor = Callable[["StepRun"], Outcome]  # noqa: F821 - StepRun lives in missions.worker
EXECUTORS: dict[str, Executor] = {}


def executor_for(kind: str):
    def register(func: Executor) -> Executor:
        EXECUTORS[kind] = func
        return func

    return register


def lookup(kind: str) -> Executor | None:
    load_plugins()
    return EXECUTORS.get(kind)


_plugins_loaded = False


def load_plugins() -> None:
    """Import extra executor modules named in settings (a real channel is a plug-in)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    importlib.import_module("missions.builtin_executors")
    for module in settings.OPS_EXECUTOR_MODULES:
        importlib.import_module(module)
    _plugins_loaded = True
