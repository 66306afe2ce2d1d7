"""The missions app's models, one module per concern; import them from here."""

from missions.models.effects import (
    Artifact,
    OutboxMessage,
    OutboxStatus,
    Provenance,
    Publication,
    PublicationStatus,
)
from missions.models.goals import (
    Feedback,
    Goal,
    GoalDirection,
    GoalScope,
    GoalSnapshot,
    GoalStatus,
    GoalVersion,
    Rating,
)
from missions.models.loop import (
    ContentMetric,
    LoopCursor,
    Reaction,
    ReactionStatus,
    TriggerRule,
    TriggerSkip,
)
from missions.models.missions import MISSION_TERMINAL, Mission, MissionStatus
from missions.models.proposals import (
    THE_DOOR,
    Proposal,
    ProposalSource,
    ProposalStatus,
    RejectionCode,
)
from missions.models.steps import (
    QUOTA_WAIT,
    STEP_DEATH_EVENTS,
    STEP_ENDED_UNSUCCESSFULLY,
    STEP_OPEN,
    STEP_TERMINAL,
    AttemptOutcome,
    Step,
    StepAttempt,
    StepDependency,
    StepStatus,
)
from missions.models.threads import Comment, CommentKind, SubjectKind
from missions.models.words import WordsApproval, WordsDecision, refusal_line, text_digest
from missions.models.workers import Worker
from opscore.db import in_seconds, start_of_today

__all__ = [
    "MISSION_TERMINAL",
    "QUOTA_WAIT",
    "STEP_DEATH_EVENTS",
    "STEP_ENDED_UNSUCCESSFULLY",
    "STEP_OPEN",
    "STEP_TERMINAL",
    "THE_DOOR",
    "Artifact",
    "AttemptOutcome",
    "Comment",
    "CommentKind",
    "ContentMetric",
    "Feedback",
    "Goal",
    "GoalDirection",
    "GoalScope",
    "GoalSnapshot",
    "GoalStatus",
    "GoalVersion",
    "LoopCursor",
    "Mission",
    "MissionStatus",
    "OutboxMessage",
    "OutboxStatus",
    "Proposal",
    "ProposalSource",
    "ProposalStatus",
    "Provenance",
    "Publication",
    "PublicationStatus",
    "Rating",
    "Reaction",
    "ReactionStatus",
    "RejectionCode",
    "Step",
    "StepAttempt",
    "StepDependency",
    "StepStatus",
    "SubjectKind",
    "TriggerRule",
    "TriggerSkip",
    "WordsApproval",
    "WordsDecision",
    "Worker",
    "in_seconds",
    "refusal_line",
    "start_of_today",
    "text_digest",
]
