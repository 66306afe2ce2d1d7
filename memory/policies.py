"""The memory lane's policies: the promotion gate, how far memories steer a prompt, agents'
initiative, and learning from outcomes. Registered from MemoryConfig.ready()."""

from typing import Annotated

from pydantic import Field, model_validator

from opscore.policies import PolicyValue

# A review or expiry window, in days: the gate and upkeep count it from now both ways, so more
# than a calendar holds (a million days) was an OverflowError there, and 0 or less made every
# memory of the kind due again at once, on every beat.
Days = Annotated[int, Field(ge=1, le=3650)]


class MemoryInfluencePolicy(PolicyValue):
    enabled: bool = True
    probability: float = Field(0.3, ge=0.0, le=1.0)


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
    # what an agent's outside runtime wrote: capped apart, so its volume retires none of the rest
    max_active_from_runtime_per_agent: int = Field(50, ge=1, le=10_000)
    review_days: dict[str, Days] = Field(
        default_factory=lambda: {"lesson": 30, "decision": 60, "fact": 90, "default": 45}
    )
    expire_days: dict[str, Days] = Field(default_factory=lambda: {"default": 365})
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


POLICIES = {
    "memory_influence_policy": MemoryInfluencePolicy,
    "initiative_policy": InitiativePolicy,
    "outcome_learning_policy": OutcomeLearningPolicy,
    "calibration_policy": CalibrationPolicy,
    "memory_policy": MemoryPolicy,
}
