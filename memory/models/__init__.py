"""The memory lane's models; import them from here."""

from memory.models.candidates import MemoryCandidate, MemoryReview, MemoryRevision
from memory.models.choices import (
    SINGLE_VALUED,
    CandidateStatus,
    Decision,
    MemoryScope,
    MemoryStatus,
    MemoryType,
    Stability,
    Visibility,
)
from memory.models.initiative import INITIATIVE_ENDINGS, InitiativeRequest, InitiativeStatus
from memory.models.memories import Memory
from memory.models.uses import PendingUse

__all__ = [
    "INITIATIVE_ENDINGS",
    "SINGLE_VALUED",
    "CandidateStatus",
    "Decision",
    "InitiativeRequest",
    "InitiativeStatus",
    "Memory",
    "MemoryCandidate",
    "MemoryReview",
    "MemoryRevision",
    "MemoryScope",
    "MemoryStatus",
    "MemoryType",
    "PendingUse",
    "Stability",
    "Visibility",
]
