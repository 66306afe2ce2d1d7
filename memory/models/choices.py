from django.db import models


class MemoryType(models.TextChoices):
    """A memory's kind: what sort of thing was learned."""

    INSIGHT = "insight"
    PATTERN = "pattern"
    STRATEGY = "strategy"
    PREFERENCE = "preference"
    LESSON = "lesson"
    DECISION = "decision"
    PLAYBOOK = "playbook"
    CONSTRAINT = "constraint"
    FACT = "fact"


# One value at a time per subject: a newer one supersedes the active one instead of joining it.
SINGLE_VALUED = {MemoryType.DECISION, MemoryType.PREFERENCE, MemoryType.CONSTRAINT, MemoryType.FACT}


class MemoryStatus(models.TextChoices):
    ACTIVE = "active"
    STALE = "stale", "stale (evidence no longer supports it)"
    SUPERSEDED = "superseded"
    EXPIRED = "expired"
    ARCHIVED = "archived", "archived (retired by a cap)"


class MemoryScope(models.TextChoices):
    """What a memory is about; `subject_key` names the project, person or service."""

    GLOBAL = "global"
    AGENT = "agent"
    PROJECT = "project"
    PERSON = "person"
    SERVICE = "service"


class Visibility(models.TextChoices):
    """Who reads it: every agent, or only the agent that holds it."""

    SHARED = "shared"
    PRIVATE = "private"


class Stability(models.TextChoices):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class CandidateStatus(models.TextChoices):
    NEW = "new"
    PROMOTED = "promoted"
    REJECTED = "rejected"
    MERGED = "merged"


class Decision(models.TextChoices):
    PROMOTE = "promote"
    REJECT = "reject"
    MERGE = "merge"
    SUPERSEDE = "supersede"
    EXPIRE = "expire"
    MARK_STALE = "mark_stale"
    REFRESH = "refresh"
    ARCHIVE = "archive"
    SKIPPED = "skipped"
    FLAG = "flag", "flag for review"
