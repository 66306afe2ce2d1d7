"""The schema of every known policy key, and its seeded default.

A policy value is JSON an operator edits live; each key has a pydantic model so a typo or a wrong
type is refused with a message that names the field, in the admin, the CLI and the API alike.
"""

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from opscore.inputs import InputRefused, check_clean
from opscore.policy_names import StepKinds, names_in, names_on_file
from opscore.registry import known_kind_names as known_names


class PolicyError(ValueError):
    """A policy value that does not fit its key's schema (or an unknown key)."""


class PolicyValue(BaseModel):
    # allow_inf_nan: jsonb has no Infinity, so such a value would fail only when saved
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


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


PublishingChannel = Literal["x", "bluesky", "mastodon", "post_webhook"]


class PublishingPolicy(PolicyValue):
    """Where a post goes: the step's payload.channel when it is allowed here, else its agent's
    channel, else the default. Each channel's first real post waits for a human."""

    default_channel: PublishingChannel = "x"
    agents: dict[str, PublishingChannel] = Field(default_factory=dict)
    allowed_channels: list[PublishingChannel] = ["x", "bluesky", "mastodon", "post_webhook"]


class ContentPolicy(PolicyValue):
    enabled: bool = True
    max_drafts_per_day: int = Field(8, ge=0, le=10_000)


class DeployPolicy(PolicyValue):
    enabled: bool = True
    max_per_day: int = Field(3, ge=0, le=1_000)


class RoundtablePolicy(PolicyValue):
    enabled: bool = True
    max_daily_conversations: int = Field(5, ge=0, le=1_000)


class MemoryInfluencePolicy(PolicyValue):
    enabled: bool = True
    probability: float = Field(0.3, ge=0.0, le=1.0)


class RelationshipDriftPolicy(PolicyValue):
    enabled: bool = True
    max_drift: float = Field(0.03, ge=0.0, le=0.2)


class MemoryPolicy(PolicyValue):
    """The promotion gate's rules. `frozen` stops every promotion (recorded as skipped)."""

    min_confidence: float = Field(0.55, ge=0.0, le=1.0)
    min_evidence_shared: int = Field(2, ge=1, le=20)  # one incident is noise for everyone
    auto_promote_private: bool = True
    frozen: bool = False
    frozen_reason: str = Field("", max_length=300)
    merge_similarity: float = Field(0.8, gt=0.0, le=1.0)
    max_active_per_agent: int = Field(200, ge=1, le=10_000)
    max_active_shared_per_scope: int = Field(100, ge=1, le=10_000)
    review_days: dict[str, int] = Field(
        default_factory=lambda: {"lesson": 30, "decision": 60, "fact": 90, "default": 45}
    )
    expire_days: dict[str, int] = Field(default_factory=lambda: {"default": 365})
    retrieval_char_budget: int = Field(2000, ge=200, le=20_000)
    insight_fast_path_confidence: float = Field(0.8, ge=0.0, le=1.0)

    def days(self, table: dict[str, int], kind: str) -> int:
        return table.get(kind, table.get("default", 45))


class InitiativePolicy(PolicyValue):
    """Off by default, as the tutorial insists: agents filing their own work is enabled last."""

    enabled: bool = False
    cooldown_hours: float = Field(4, ge=0.25, le=24 * 7)
    min_memories: int = Field(5, ge=1, le=200)
    min_confidence: float = Field(0.7, ge=0.0, le=1.0)
    max_tokens: int = Field(400, ge=100, le=4000)


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


class OpportunityPolicy(PolicyValue):
    """Budgets against proactive spam, enforced for every source: over them an opportunity is
    kept as an idea with the reason, never dropped and never silently admitted."""

    max_new_per_scout_per_day: int = Field(3, ge=0, le=100)
    max_urgent_per_day: int = Field(1, ge=0, le=100)  # urgency 5, unless impact is 5 too
    max_converted_per_day: int = Field(3, ge=0, le=100)
    idle_max_tokens: int = Field(500, ge=100, le=4000)  # one idle-cognition call's cap
    idle_max_ideas_per_day: int = Field(3, ge=0, le=3)  # the seed says at most three


class CodingPolicy(PolicyValue):
    """WIP limits for coding runs (over them a run waits `queued`; repositories add their own)
    and the ralph loop's hard caps: hitting one ends the run `failed`, saying which."""

    max_running: int = Field(2, ge=0, le=50)
    max_running_per_agent: int = Field(1, ge=0, le=50)
    max_iterations: int = Field(5, ge=1, le=50)
    max_wall_minutes: int = Field(60, ge=1, le=24 * 60)
    max_cost_usd: float = Field(5.0, ge=0, le=500)
    max_changed_files: int = Field(12, ge=1, le=1000)
    no_progress_repeats: int = Field(3, ge=2, le=20)
    harness_timeout_seconds: int = Field(900, ge=5, le=6 * 3600)
    # An address-space limit: Node-based harnesses (Claude Code) reserve several GB up front.
    harness_memory_mb: int = Field(16384, ge=256, le=1024 * 1024)
    max_turns: int = Field(30, ge=1, le=500)


class OutcomeLearningPolicy(PolicyValue):
    """Lessons from how published items did against the agent's own recent median."""

    enabled: bool = True
    window_hours: int = Field(48, ge=1, le=24 * 30)
    min_items: int = Field(3, ge=2, le=1000)
    high_ratio: float = Field(2.0, gt=1.0, le=100.0)
    low_ratio: float = Field(0.3, gt=0.0, lt=1.0)
    max_lessons_per_day: int = Field(3, ge=0, le=100)


class CalibrationPolicy(PolicyValue):
    """How far one outcome moves the confidence of each memory the step's prompt carried."""

    enabled: bool = True
    success_delta: float = Field(0.02, ge=0.0, le=0.2)
    failure_delta: float = Field(0.05, ge=0.0, le=0.2)
    floor: float = Field(0.10, ge=0.0, le=1.0)
    ceiling: float = Field(0.95, ge=0.0, le=1.0)
    flag_after_failures: int = Field(3, ge=1, le=100)

    @model_validator(mode="after")
    def _ordered(self):
        if self.floor > self.ceiling:
            raise ValueError("floor must not exceed ceiling")
        return self


LLM_LANES = ["steps", "roundtable", "memory", "proactive", "idle", "coding", "talk"]


class LaneBudget(PolicyValue):
    """At `soft_usd` a lane's calls drop to the cheap tier; at `hard_usd` they are refused."""

    soft_usd: float = Field(ge=0)
    hard_usd: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self):
        if self.soft_usd > self.hard_usd:
            raise ValueError("soft_usd must not exceed hard_usd")
        return self


def default_lane_budgets() -> dict[str, LaneBudget]:
    usd = {"steps": (2.0, 3.0), "roundtable": (0.5, 1.0), "memory": (0.3, 0.5)}
    usd |= {"proactive": (0.5, 1.0), "idle": (0.2, 0.3), "coding": (2.0, 3.0)}
    usd |= {"talk": (0.3, 0.5)}  # thread replies and the chat: operators type, agents answer
    return {lane: LaneBudget(soft_usd=s, hard_usd=h) for lane, (s, h) in usd.items()}


class LLMBudget(PolicyValue):
    enabled: bool = True
    per_agent_daily_usd: float = Field(1.0, ge=0)
    total_daily_usd: float = Field(5.0, ge=0)
    lanes: names_in("LLM lanes", lambda: LLM_LANES, dict[str, LaneBudget]) = Field(
        default_factory=default_lane_budgets
    )


LANES = ["triggers", "reactions", "roundtable", "proactive", "memory", "idle", "coding"]
LANES += ["publishing"]


class LaneSwitches(PolicyValue):
    """Written by pause-lane overrides: a paused lane's work is skipped, and says so.
    `drop` names the lanes paused in drop mode; `held_kinds` the step kinds of every paused lane,
    which the claim SQL reads (opscore.lanes)."""

    lanes: names_in("lanes", lambda: LANES, dict[str, bool]) = Field(
        default_factory=lambda: {"triggers": True, "reactions": True, "roundtable": True}
    )
    drop: list[str] = Field(default_factory=list)
    held_kinds: list[str] = Field(default_factory=list)

    def is_running(self, lane: str) -> bool:
        return self.lanes.get(lane, True)


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
    def _targets_exist(self, info):
        """A pattern aimed at an agent this install does not have would skip forever: refused
        when saved (reading a stored value needs no database round trip)."""
        from opscore.models import Agent

        if not (info.context or {}).get("saving"):
            return self
        targets = {p.target for p in self.patterns}
        known = set(Agent.objects.filter(slug__in=targets).values_list("slug", flat=True))
        if targets - known:
            raise ValueError(f"reaction targets {sorted(targets - known)} are not agents here")
        return self


class WorkerSwitches(PolicyValue):
    """Per step kind: may workers run it? The circuit breaker turns a kind off here."""

    kinds: StepKinds(dict[str, bool]) = Field(
        default_factory=lambda: dict.fromkeys(known_names(), True)
    )

    def is_enabled(self, kind: str) -> bool:
        return self.kinds.get(kind, True)


class FirstBootPlan(PolicyValue):
    """The first-boot plan (console.first_boot): real work through the intake in a fresh
    install's first ten minutes, so a newcomer sees the company move. Switch it off here."""

    enabled: bool = True


SCHEMAS: dict[str, type[PolicyValue]] = {
    "auto_approve": AutoApprove,
    "x_daily_quota": XDailyQuota,
    "publishing_policy": PublishingPolicy,
    "content_policy": ContentPolicy,
    "deploy_policy": DeployPolicy,
    "roundtable_policy": RoundtablePolicy,
    "memory_influence_policy": MemoryInfluencePolicy,
    "relationship_drift_policy": RelationshipDriftPolicy,
    "initiative_policy": InitiativePolicy,
    "outcome_learning_policy": OutcomeLearningPolicy,
    "standing_order_policy": StandingOrderPolicy,
    "goal_preference": GoalPreference,
    "opportunity_policy": OpportunityPolicy,
    "coding_policy": CodingPolicy,
    "calibration_policy": CalibrationPolicy,
    "memory_policy": MemoryPolicy,
    "reaction_matrix": ReactionMatrix,
    "worker_switches": WorkerSwitches,
    "llm_budget": LLMBudget,
    "lane_switches": LaneSwitches,
    "recovery_policy": RecoveryPolicy,
    "runaway_policy": RunawayPolicy,
    "first_boot_plan": FirstBootPlan,
}


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "value"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_policy(key: str, value, *, saving: bool = False, kept=frozenset()) -> PolicyValue:
    """Reading tolerates names (step kinds, lanes) no code knows any more; saving refuses them
    unless they are `kept`, i.e. already on file (see opscore.policy_names)."""
    schema = SCHEMAS.get(key)
    if schema is None:
        raise PolicyError(f"unknown policy key {key!r}; known keys: {sorted(SCHEMAS)}")
    if not isinstance(value, dict):
        raise PolicyError(f"{key} must be a JSON object, got {type(value).__name__}")
    try:
        check_clean(value, key)
    except InputRefused as refused:
        raise PolicyError(f"{key} is invalid: {refused}") from None
    try:
        return schema.model_validate(value, context={"saving": saving, "kept": kept})
    except ValidationError as error:
        raise PolicyError(f"{key} is invalid: {_describe(error)}") from None


def validate_policy(key: str, value, *, stored=None) -> dict:
    """Return the normalised JSON to store, or raise PolicyError. `stored` is the value on
    file: the unknown names it already holds may stay, a newly typed one is refused."""
    kept = names_on_file(SCHEMAS[key], stored) if key in SCHEMAS else frozenset()
    return parse_policy(key, value, saving=True, kept=kept).model_dump(mode="json")


def default_value(key: str) -> dict:
    return SCHEMAS[key]().model_dump(mode="json")
