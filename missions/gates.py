"""Cap gates: per step kind, may this much more work enter today?

A gate returns None to let the work in, or the reason it is refused. Gates run inside the intake's
transaction after `lock_gate`, so two submissions racing for the last slot are serialised and
the quota is never overshot.

Each built-in gate is a pure `CapRule` (policy value, used today, wanted → reason) wrapped with
the live reads: the policy simulator (missions.simulation) judges recorded traffic with the very
same rule, so a simulation cannot drift from what the intake would decide.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection

from missions.models import QUOTA_WAIT, Goal, Proposal, Step, StepStatus
from opscore.db import AdvisoryLock
from opscore.models import Policy
from opscore.policies import PolicyValue
from opscore.registry import STEP_KINDS, Registry

Gate = Callable[[int], str | None]
GATES: Registry = Registry("cap gate")


def lock_gate(kind: str) -> None:
    """Serialise quota checks for one kind until the transaction ends."""
    with connection.cursor() as cursor:
        key = f"{AdvisoryLock.GATE_PREFIX}{kind}"
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])


def used_today(kind: str) -> int:
    return Step.objects.of_kind(kind).in_todays_quota().count()


def spent_today(kind: str) -> int:
    """What a gated step's run checks again, beside the intake's count (used_today): the work of
    the kind that already ran today, on every channel alike. The steps still waiting are not
    in it: each was let in beside the others, the one asking among them."""
    return Step.objects.of_kind(kind).ran_today().count()


def _quota_reason(label: str, used: int, wanted: int, limit: int) -> str | None:
    if used >= limit:
        return f"{label}: quota full ({used}/{limit})"
    if used + wanted > limit:
        return f"{label}: {wanted} more would exceed the quota ({used}/{limit} used)"
    return None


def judge_content(policy, used: int, wanted: int) -> str | None:
    if not policy.enabled:
        return "write_content: content_policy is disabled"
    return _quota_reason("write_content", used, wanted, policy.max_drafts_per_day)


def judge_tweet(policy, used: int, wanted: int) -> str | None:
    return _quota_reason("post_tweet", used, wanted, policy.limit)


def judge_deploy(policy, used: int, wanted: int) -> str | None:
    if not policy.enabled:
        return "deploy: deploy_policy is disabled"
    return _quota_reason("deploy", used, wanted, policy.max_per_day)


@dataclass(frozen=True)
class CapRule:
    """A gate as a pure function of its policy: `judge(policy, used_today, wanted)`."""

    kind: str
    policy_key: str
    judge: Callable[[PolicyValue, int, int], str | None]

    def __call__(self, wanted: int) -> str | None:
        policy = Policy.objects.value(self.policy_key)
        return self.judge(policy, used_today(self.kind), wanted)


RULES = [
    CapRule("write_content", "content_policy", judge_content),
    CapRule("post_tweet", "x_daily_quota", judge_tweet),
    CapRule("deploy", "deploy_policy", judge_deploy),
]
BUILTIN = {rule.kind: rule for rule in RULES}


def first_refusal(kinds: list[str], reserved: int = 0) -> str | None:
    """Lock and check every gated kind in a fixed order (so concurrent intakes never deadlock).
    `reserved` slots of each quota are kept for goal work (see reserve_for_goals): work that
    would fit only by taking them is refused, naming the policy."""
    for kind in sorted(set(kinds) & set(GATES)):
        lock_gate(kind)
        wanted = kinds.count(kind)
        reason = GATES[kind](wanted)
        if reason:
            return reason
        if reserved and GATES[kind](wanted + reserved):
            return f"{kind}: {RESERVED_FOR_GOALS.format(n=reserved)}"
    return None


def retry_refusal(step: Step, dependents: list[Step]) -> str | None:
    """A failed or dead step sent back runs today, beside today's quota: it stopped counting
    when it failed, so its slot may have gone to other work since. So did the `dependents` its
    end cancelled, which come back with it. A blocked one, whatever day it was made, counts
    toward today's already (Step.objects.in_todays_quota), so sending it back adds nothing.
    Judged as the intake and an approval judge: under each kind's lock, leaving the slots
    goal_preference keeps for goal work."""
    back = [s for s in dependents if s.kind in GATES]
    counted = step.status == StepStatus.BLOCKED and step.blocked_code != QUOTA_WAIT
    kinds = [s.kind for s in back] + ([] if counted else [step.kind])
    if not set(kinds) & set(GATES):
        return None
    refusal = first_refusal(kinds, reserve_for_goals(step.mission.proposal))
    if refusal and back:
        named = ", ".join(f"S{s.id} ({s.kind})" for s in back)
        refusal += f"; with it come back {named}, cancelled when it ended"
    return refusal


def quota_has_room(step: Step) -> bool:
    """The blocker check for a step its quota blocked at run time: a slot of today's quota is
    free for it. Judged under the kind's gate lock, as the intake judges, so a proposal racing
    the sweeper cannot take the same last slot; the lock holds until the sweep commits."""
    if step.kind not in GATES:
        return True
    lock_gate(step.kind)
    return GATES[step.kind](1) is None


def auto_approvable(policy, kinds, *, untrusted: bool, needs_human: bool) -> bool:
    """The auto_approve rule as a pure function of its policy (the intake and the simulator)."""
    kinds = set(kinds)
    return (
        not untrusted
        and not needs_human
        and policy.enabled
        and kinds <= set(policy.allowed_step_kinds)
        and all(STEP_KINDS[kind].auto_approvable for kind in kinds)
    )


RESERVED_FOR_GOALS = (
    "the last {n} slot(s) of today's quota are kept for work serving an active goal "
    "(goal_preference)"
)


def reserve_for_goals(proposal: Proposal, *, at_approval: bool = False) -> int:
    """How many slots this proposal must leave free for goal work: none unless the
    goal_preference policy is on and the proposal serves no active goal while one exists.
    What was weighed is recorded on the proposal (gate_decision), admitted or refused; at a
    person's approval under `at_approval`, beside what the intake weighed."""
    policy = Policy.objects.value("goal_preference")
    if not policy.enabled:
        return 0
    active = Goal.objects.running()
    serves = proposal.goal_id is not None and active.filter(pk=proposal.goal_id).exists()
    # With no active goal at all (or only ones past their deadline: nothing counts toward
    # them now) there is nothing to keep slots for.
    reserved = 0 if serves or not active.exists() else policy.reserved_slots
    weighed = {
        "goal_preference": {"goal": proposal.goal_id if serves else None, "reserved": reserved}
    }
    proposal.gate_decision = proposal.gate_decision | (
        {"at_approval": weighed} if at_approval else weighed
    )
    return reserved
