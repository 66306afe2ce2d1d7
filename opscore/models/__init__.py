"""The ground every app stands on, one module per concern; import them from here."""

from opscore.models.agents import Agent, Runtime, operator_actor, within_actor_length
from opscore.models.backups import BackupKind, BackupRun, BackupStatus
from opscore.models.events import Event
from opscore.models.heartbeats import ActionRun, ActionRunStatus
from opscore.models.idempotency import IdempotencyKey
from opscore.models.llm_calls import LLMCall, LLMCallOutcome, LLMSpend
from opscore.models.llm_records import LLMCallRecord, ReplayMode, ReplayOutcome, ReplayRun
from opscore.models.overrides import Override, OverrideStatus
from opscore.models.policies import Policy, PolicyVersion
from opscore.models.standing_orders import (
    RUN_TERMINAL,
    SWITCHED_OFF,
    RunStatus,
    StandingOrder,
    StandingOrderRun,
)

__all__ = [
    "RUN_TERMINAL",
    "SWITCHED_OFF",
    "ActionRun",
    "ActionRunStatus",
    "Agent",
    "BackupKind",
    "BackupRun",
    "BackupStatus",
    "Event",
    "IdempotencyKey",
    "LLMCall",
    "LLMCallOutcome",
    "LLMCallRecord",
    "LLMSpend",
    "Override",
    "OverrideStatus",
    "Policy",
    "PolicyVersion",
    "ReplayMode",
    "ReplayOutcome",
    "ReplayRun",
    "RunStatus",
    "Runtime",
    "StandingOrder",
    "StandingOrderRun",
    "operator_actor",
    "within_actor_length",
]
