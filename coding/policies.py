"""The coding lane's policy: WIP limits and the ralph loop's hard caps. Registered from
CodingConfig.ready()."""

from pydantic import Field

from opscore.policies import PolicyValue

MOST_RUNNING = 50  # the ceiling of max_running: the sandbox's uid pool is sized by it


class CodingPolicy(PolicyValue):
    """WIP limits for coding runs (over them a run waits `queued`; repositories add their own)
    and the ralph loop's hard caps: hitting one ends the run `failed`, saying which."""

    max_running: int = Field(2, ge=0, le=MOST_RUNNING)
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


POLICIES = {
    "coding_policy": CodingPolicy,
}
