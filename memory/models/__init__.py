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
from memory.models.memories import Memory

__all__ = [
    "SINGLE_VALUED",
    "CandidateStatus",
    "Decision",
    "Memory",
    "MemoryCandidate",
    "MemoryReview",
    "MemoryRevision",
    "MemoryScope",
    "MemoryStatus",
    "MemoryType",
    "Stability",
    "Visibility",
]
