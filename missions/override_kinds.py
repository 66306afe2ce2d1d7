"""The overrides the execution layer owns: disable an agent, drain a queue (a step kind or an
agent's work), cancel a mission, force a retry or a dead letter, reset a tripped breaker.

A drain stops claims only: leases already running finish, and `left` reports what remains.
"""

from django.db.models import Count, Q

from missions.actions import DecisionRefused
from missions.models import (
    Mission,
    Proposal,
    ProposalStatus,
    Reaction,
    Step,
    StepStatus,
    TriggerRule,
)
from missions.step_actions import cancel_mission, dead_letter_step, retry_step
from opscore.inputs import whole_number
from opscore.models import Agent, Override, Policy
from opscore.overrides import OVERRIDE_KINDS, OverrideKind, OverrideRefused, in_force, write_switch
from opscore.registry import STEP_KINDS

WAITING = [StepStatus.QUEUED, StepStatus.BLOCKED]


def step_counts(steps) -> dict:
    counts = steps.aggregate(
        queued=Count("id", filter=Q(status=StepStatus.QUEUED)),
        running=Count("id", filter=Q(status=StepStatus.RUNNING)),
        blocked=Count("id", filter=Q(status=StepStatus.BLOCKED)),
    )
    return counts


def check_agent(target: str) -> str:
    if not Agent.objects.filter(slug=target).exists():
        raise OverrideRefused(f"unknown agent {target!r}")
    return target


def agent_in_flight(slug: str) -> dict:
    pending = Proposal.objects.filter(agent_id=slug, status=ProposalStatus.PENDING).count()
    return step_counts(Step.objects.filter(agent_id=slug)) | {"pending_proposals": pending}


def set_agent(row: Override, **fields) -> dict:
    slug = row.target.removeprefix("agent:")
    if not Agent.objects.filter(slug=slug).update(**fields):
        raise OverrideRefused(f"unknown agent {slug!r}")
    return fields


def disable_agent(row: Override) -> dict:
    """Lifting restores what was there: an agent disabled before stays disabled."""
    was = Agent.objects.filter(slug=row.target, enabled=True).exists()
    return set_agent(row, enabled=False) | {"was_enabled": was}


def check_drain(target: str) -> str:
    what, _, name = target.partition(":")
    if what == "kind" and name in STEP_KINDS:
        return target
    if what == "agent":
        return f"agent:{check_agent(name)}"
    raise OverrideRefused(
        f"drain {target!r}: name kind:<step kind> (one of {', '.join(STEP_KINDS.names())}) "
        "or agent:<slug>"
    )


def drained_steps(target: str):
    what, _, name = target.partition(":")
    return Step.objects.filter(kind=name) if what == "kind" else Step.objects.filter(agent_id=name)


def drain_left(target: str) -> dict:
    """What a drain leaves: queued work waiting for the lift, running leases finishing."""
    return step_counts(drained_steps(target))


def set_kind_switch(row: Override, kind: str, on: bool, why: str) -> None:
    def change(value):
        return value | {"kinds": value["kinds"] | {kind: on}}

    write_switch("worker_switches", row, change, why)


def apply_drain(row: Override) -> dict:
    """A kind's drain keeps whether its workers were on: one the breaker had switched off
    stays off when the drain is lifted or expires (reset-breaker is the way back on)."""
    what, _, name = row.target.partition(":")
    if what == "agent":
        return set_agent(row, draining=True)
    was_on = Policy.objects.value("worker_switches").is_enabled(name)
    set_kind_switch(row, name, False, f"{name} drained")
    return {"stopped_claiming": name, "was_on": was_on}


def lift_drain(row: Override) -> None:
    what, _, name = row.target.partition(":")
    if what == "agent":
        set_agent(row, draining=False)
    elif row.result.get("was_on", True):
        set_kind_switch(row, name, True, f"{name} drain lifted")


def check_id(model, label: str):
    def check(target: str) -> str:
        pk = whole_number(target)
        if pk is None or not model.objects.filter(pk=pk).exists():
            raise OverrideRefused(f"no {label} {target!r}")
        return target

    return check


def one_shot(action):
    """A one-shot effect: the action's own refusal becomes the override's refusal."""

    def apply(row: Override) -> dict:
        try:
            return action(row)
        except DecisionRefused as refused:
            raise OverrideRefused(str(refused)) from None

    return apply


def mission_in_flight(target: str) -> dict:
    mission = Mission.objects.get(pk=int(target))
    return {"status": mission.status} | step_counts(mission.steps.all())


def step_in_flight(target: str) -> dict:
    step = Step.objects.get(pk=int(target))
    return {"status": step.status, "kind": step.kind, "attempts": step.attempt_count}


def check_tripped(target: str) -> str:
    if target not in STEP_KINDS:
        raise OverrideRefused(f"unknown step kind {target!r}")
    if Policy.objects.value("worker_switches").is_enabled(target):
        raise OverrideRefused(f"workers for {target} are on; there is no breaker to reset")
    drain = in_force("drain", f"kind:{target}")
    if drain is not None:
        raise OverrideRefused(f"{target} is drained by override {drain.id}; lift that instead")
    return target


def reset_breaker(row: Override) -> dict:
    set_kind_switch(row, row.target, True, f"breaker for {row.target} reset")
    return {"workers_on": row.target}


def pair_of(first: str, second: str) -> str:
    """One name for a pair of agents whichever way round (`a+a` is an agent waking itself)."""
    return "+".join(sorted([first, second]))


# What a pair names for events no agent wrote: reactions to them are checked as `agent+system`.
SYSTEM = "system"


def check_pair(target: str) -> str:
    """Two agents, or an agent and `system`: the runaway detector pauses reactions to events
    no agent wrote by that pair, and refusing it left such a storm running."""
    names = target.split("+")
    if len(names) != 2 or not all(names) or names == [SYSTEM, SYSTEM]:
        raise OverrideRefused(f"pause-pair {target!r}: name two agents as a+b (or a+a)")
    return pair_of(*(name if name == SYSTEM else check_agent(name) for name in names))


def check_rule(target: str) -> str:
    if not TriggerRule.objects.filter(name=target).exists():
        raise OverrideRefused(f"no trigger rule {target!r}")
    return target


def agent_targets() -> list[tuple[str, str]]:
    return [(slug, slug) for slug in Agent.objects.order_by("slug").values_list("slug", flat=True)]


def drain_targets() -> list[tuple[str, str]]:
    kinds = [(f"kind:{k}", f"step kind {k}") for k in sorted(STEP_KINDS.names())]
    return kinds + [(f"agent:{slug}", f"agent {slug}") for slug, _ in agent_targets()]


def tripped_targets() -> list[tuple[str, str]]:
    """Only kinds whose breaker is off: resetting any other is refused anyway."""
    switches = Policy.objects.value("worker_switches")
    return [(k, k) for k in sorted(STEP_KINDS.names()) if not switches.is_enabled(k)]


def rule_targets() -> list[tuple[str, str]]:
    names = TriggerRule.objects.order_by("name").values_list("name", flat=True)
    return [(name, name) for name in names]


def pair_in_flight(target: str) -> dict:
    first, second = target.split("+")
    queued = Reaction.objects.filter(status="queued", target_agent__in=[first, second])
    return {"queued_reactions": queued.count()}


def rule_in_flight(target: str) -> dict:
    rule = TriggerRule.objects.get(name=target)
    return {"enabled": rule.enabled, "fired": rule.fire_count}


KINDS = [
    OverrideKind(
        "disable_agent",
        "disable the agent",
        True,
        check_agent,
        agent_in_flight,
        apply=disable_agent,
        lift=lambda row: set_agent(row, enabled=row.result.get("was_enabled", True)),
        left=agent_in_flight,
        targets=agent_targets,
    ),
    OverrideKind(
        "drain",
        "drain",
        True,
        check_drain,
        drain_left,
        apply_drain,
        lift_drain,
        drain_left,
        targets=drain_targets,
    ),
    OverrideKind(
        "cancel_mission",
        "cancel the mission",
        False,
        check_id(Mission, "mission"),
        mission_in_flight,
        one_shot(
            lambda row: {
                "steps_cancelled": cancel_mission(
                    Mission.objects.get(pk=int(row.target)), actor=f"override:{row.id}"
                )
            }
        ),
    ),
    OverrideKind(
        "force_retry",
        "force a retry of step",
        False,
        check_id(Step, "step"),
        step_in_flight,
        one_shot(
            lambda row: {
                "status": retry_step(
                    Step.objects.get(pk=int(row.target)), actor=f"override:{row.id}"
                ).status
            }
        ),
    ),
    OverrideKind(
        "force_dead_letter",
        "force step to the dead letters",
        False,
        check_id(Step, "step"),
        step_in_flight,
        one_shot(
            lambda row: {
                "status": dead_letter_step(
                    Step.objects.get(pk=int(row.target)),
                    actor=f"override:{row.id}",
                    reason=row.reason,
                ).status
            }
        ),
    ),
    OverrideKind(
        "pause_pair",
        "stop reactions and trigger rules between",
        True,
        check_pair,
        pair_in_flight,
        apply=lambda row: {"paused": row.target},
        left=pair_in_flight,
    ),
    OverrideKind(
        "pause_rule",
        "pause the trigger rule",
        True,
        check_rule,
        rule_in_flight,
        apply=lambda row: {"paused": row.target},
        left=rule_in_flight,
        targets=rule_targets,
    ),
    OverrideKind(
        "reset_breaker",
        "reset the breaker for",
        False,
        check_tripped,
        lambda kind: drain_left(f"kind:{kind}"),
        reset_breaker,
        targets=tripped_targets,
    ),
]


def register() -> None:
    for kind in KINDS:
        OVERRIDE_KINDS.register(kind.name, kind)
