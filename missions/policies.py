"""The policies of the execution lane: what may run without a human, the gates' quotas, the
reaction matrix, recovery after downtime and the runaway brake. Registered from
MissionsConfig.ready(); opscore.policies validates and stores them."""

from pydantic import Field, field_validator, model_validator

from opscore.models import Agent
from opscore.policies import PolicyValue
from opscore.policy_names import StepKinds


class AutoApprove(PolicyValue):
    enabled: bool = True
    allowed_step_kinds: StepKinds(list[str]) = [
        "draft_tweet",
        "crawl",
        "analyze",
        "write_content",
        "noop",
    ]

    @field_validator("allowed_step_kinds")
    @classmethod
    def _never_deploy(cls, kinds):
        if "deploy" in kinds:
            raise ValueError("deploy is never auto-approved")
        return kinds


class XDailyQuota(PolicyValue):
    limit: int = Field(5, ge=0, le=10_000)


class ContentPolicy(PolicyValue):
    enabled: bool = True
    max_drafts_per_day: int = Field(8, ge=0, le=10_000)


class DeployPolicy(PolicyValue):
    enabled: bool = True
    max_per_day: int = Field(3, ge=0, le=1_000)


class GoalPreference(PolicyValue):
    """Off by default. On, the cap gates and each agent's daily proposal limit keep their last
    `reserved_slots` for work that names an active goal: other work is refused that much
    sooner, saying so. Every intake decision records what this weighed (gate_decision)."""

    enabled: bool = False
    reserved_slots: int = Field(1, ge=0, le=1000)


class StandingOrderPolicy(PolicyValue):
    """A generic order proposes at most once per interval: what it finds in between waits
    for (and is carried by) the next proposing run, so a 15-minute order costs its agent at
    most 24 h / interval proposals a day, not 96."""

    min_minutes_between_proposals: int = Field(180, ge=0, le=24 * 60)


class RecoveryPolicy(PolicyValue):
    """Per step kind, minutes after it became due beyond which a claim blocks it for a human
    (`stale_after_downtime`) instead of running it. Kinds not named have no limit."""

    max_age_minutes: StepKinds(dict[str, int]) = Field(
        default_factory=lambda: {"post_tweet": 360, "deploy": 120}
    )

    @field_validator("max_age_minutes")
    @classmethod
    def _known(cls, ages):
        if any(not 1 <= minutes <= 60 * 24 * 30 for minutes in ages.values()):
            raise ValueError("each max age is 1 to 43200 minutes")
        return ages


class RunawayPolicy(PolicyValue):
    """When the loop feeds on itself: thresholds over a sliding window, and how long the
    automatic pause lasts (a human can lift it sooner, or extend it with their own override)."""

    enabled: bool = True
    window_minutes: int = Field(30, ge=1, le=24 * 60)
    ping_pong_each_way: int = Field(3, ge=1, le=1000)
    self_wake: int = Field(3, ge=1, le=1000)
    repeated_title: int = Field(5, ge=2, le=1000)
    reactions_per_minute: int = Field(20, ge=1, le=100_000)
    pause_minutes: int = Field(60, ge=1, le=7 * 24 * 60)


class ReactionPattern(PolicyValue):
    source: str = Field(min_length=1, max_length=64)
    tags: list[str] = Field(min_length=1)
    target: str = Field(min_length=1, max_length=64)
    type: str = Field(min_length=1, max_length=64)
    probability: float = Field(ge=0.0, le=1.0)
    cooldown: int = Field(ge=0, le=7 * 24 * 60)


class ReactionMatrix(PolicyValue):
    patterns: list[ReactionPattern] = [
        ReactionPattern(
            source="*",
            tags=["mission_failed"],
            target="brain",
            type="diagnose",
            probability=1.0,
            cooldown=60,
        ),
        ReactionPattern(
            source="twitter-alt",
            tags=["tweet", "posted"],
            target="growth",
            type="analyze",
            probability=0.3,
            cooldown=120,
        ),
    ]

    @model_validator(mode="after")
    def _each_pattern_once(self, info):
        """Two copies of one pattern are one reaction per event (reaction_once_per_event):
        refused when saved, said by position, as the operator typed them."""
        if not (info.context or {}).get("saving"):
            return self
        seen: dict[str, int] = {}
        for index, pattern in enumerate(self.patterns):
            first = seen.setdefault(pattern.model_dump_json(), index)
            if first != index:
                raise ValueError(f"pattern {index} repeats pattern {first}")
        return self

    @model_validator(mode="after")
    def _targets_exist(self, info):
        """A pattern aimed at an agent this install does not have would skip forever: refused
        when saved (reading a stored value needs no database round trip)."""
        if not (info.context or {}).get("saving"):
            return self
        targets = {p.target for p in self.patterns}
        known = set(Agent.objects.filter(slug__in=targets).values_list("slug", flat=True))
        if targets - known:
            raise ValueError(f"reaction targets {sorted(targets - known)} are not agents here")
        return self


POLICIES = {
    "auto_approve": AutoApprove,
    "x_daily_quota": XDailyQuota,
    "content_policy": ContentPolicy,
    "deploy_policy": DeployPolicy,
    "standing_order_policy": StandingOrderPolicy,
    "goal_preference": GoalPreference,
    "reaction_matrix": ReactionMatrix,
    "recovery_policy": RecoveryPolicy,
    "runaway_policy": RunawayPolicy,
}
