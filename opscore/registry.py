"""The registries' base types. Each app fills its registries explicitly from its
`AppConfig.ready()`, so what is registered never depends on which modules happened to be imported.
"""

from collections.abc import Callable
from dataclasses import dataclass


class RegistryError(LookupError):
    """Two apps claimed one name: a silent overwrite would change behaviour by import order."""


class Registry(dict):
    """Named things an app contributes (executors, gates, handlers, checkers …)."""

    def __init__(self, what: str):
        super().__init__()
        self.what = what

    def register(self, name: str, item, *, replace: bool = False):
        if name in self and not replace and self[name] is not item:
            raise RegistryError(f"{self.what} {name!r} is registered twice")
        self[name] = item
        return item

    def register_all(self, items: dict) -> None:
        for name, item in items.items():
            self.register(name, item)

    def names(self) -> list[str]:
        return sorted(self)


@dataclass(frozen=True)
class PayloadField:
    """One input a step kind reads from its payload: the intake checks the required ones (a
    crawl without a URL is refused before it can fail), forms draw one field each. `or_from`
    names a step kind whose output stands in for the field when the step depends on one (a
    post_tweet without text posts the draft it waits for): required unless such a step is there."""

    name: str
    label: str
    required: bool = False
    or_from: str = ""
    type: str = "text"  # text | url | textarea
    max_length: int = 500


@dataclass(frozen=True)
class StepKind:
    """`idempotent` decides the rescue when a worker is lost mid-run: idempotent kinds are
    retried, the others (anything with an outside effect) wait for a human. `check_payload`
    is for a payload richer than flat fields: it returns {payload field: [messages]}.
    `claimable_outside` False: an external runtime (agentbus claim-jobs) never gets it — only
    Opscore's own executor may run it (a code change goes through its lane's approvals).
    `inside_when` names a payload key that makes one step of an outside-claimable kind Opscore's
    own all the same (a lane's gated variant of a plain kind, keyed by what its steps carry).
    `timeout_seconds` is how long one attempt may run (OPS_STEP_TIMEOUT_SECONDS when None): past
    it the lease keeper stops renewing and times the attempt out, so a hung handler holds its
    step, and then its worker, no longer than that."""

    name: str
    description: str
    idempotent: bool = True
    auto_approvable: bool = True
    fields: tuple[PayloadField, ...] = ()
    check_payload: Callable[[dict], dict[str, list[str]]] | None = None
    claimable_outside: bool = True
    inside_when: str = ""
    timeout_seconds: int | None = None


# The agent bus (console's transports: CLI, HTTP, MCP) answers the verbs the lanes register from
# their ready(): name → add(subparsers), adding their parsers; verb → run(json_arg, bad_input, o).
AGENTBUS_PARSERS: Registry = Registry("agent-bus verb parsers")
AGENTBUS_VERBS: Registry = Registry("agent-bus verb")
# For a remote caller (an agent's token): verb → the option saying who acts (the token fills it),
# and verb → (option, noun, agent ids by row) for a row only its own agent may name.
AGENTBUS_ACTORS: Registry = Registry("agent-bus actor option")
AGENTBUS_OWNED: Registry = Registry("agent-bus owned row")
# Policies validate step kinds against this; `missions` (and any plug-in) fills it.
STEP_KINDS: Registry = Registry("step kind")
# step kind → f(payload) -> text an approver reads beside the payload (e.g. a policy diff)
STEP_PREVIEWS: Registry = Registry("step preview")


def is_known_kind(name: str) -> bool:
    return name in STEP_KINDS


def known_kind_names() -> list[str]:
    return STEP_KINDS.names()
