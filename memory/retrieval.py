"""Retrieval: the few memories a prompt should carry, never the whole store.

Three buckets, each ranked by relevance to the context (full-text rank of the step's topic and
payload), then confidence and recency: exact context (the agent itself, or the project, person
or service the work names) ≤ 4; lessons, playbooks and constraints for the agent, a service or
the company ≤ 4; company-wide decisions, preferences and constraints ≤ 4; at most 10 in all and
within a character budget. Only active, unexpired memories the agent may read: never another
agent's private one, never a stale, superseded or expired one.
"""

from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import F, FloatField, Q, Value
from django.db.models.functions import Cast, Now

from memory.models import Memory, MemoryScope, MemoryType
from opscore.models import Policy

PER_BUCKET, TOTAL = 4, 10
LESSONS = [MemoryType.LESSON, MemoryType.PLAYBOOK, MemoryType.CONSTRAINT]
COMPANY = [MemoryType.DECISION, MemoryType.PREFERENCE, MemoryType.CONSTRAINT]
SUBJECT_SCOPES = [MemoryScope.PROJECT, MemoryScope.PERSON, MemoryScope.SERVICE]


@dataclass(frozen=True)
class Retrieved:
    memory: Memory
    bucket: str
    score: float

    def as_json(self) -> dict:
        m = self.memory
        return {
            "id": m.id,
            "bucket": self.bucket,
            "score": round(self.score, 4),
            "kind": m.type,
            "scope": m.scope,
            "confidence": float(m.confidence),
            "text": m.content,
        }


def buckets(agent_slug: str, subject_keys: list[str]) -> list[tuple[str, Q]]:
    own = Q(scope=MemoryScope.AGENT, agent_id=agent_slug)
    about = Q(scope__in=SUBJECT_SCOPES, subject_key__in=subject_keys)
    return [
        ("context", own | about),
        (
            "lessons",
            Q(type__in=LESSONS)
            & (Q(agent_id=agent_slug) | Q(scope__in=[MemoryScope.SERVICE, MemoryScope.GLOBAL])),
        ),
        ("company", Q(scope=MemoryScope.GLOBAL, type__in=COMPANY)),
    ]


SHOWN = ["id", "agent_id", "type", "scope", "visibility", "confidence", "content", "created_at"]


def any_word(context: str) -> SearchQuery | None:
    """Any of the context's words (each parsed by plainto_tsquery, so no syntax can break it)."""
    words = sorted({w for w in context.lower().split() if len(w) > 2}, key=len, reverse=True)
    query = None
    for word in words[:8]:
        part = SearchQuery(word, config="english")
        query = part if query is None else query | part
    return query


def ranked(agent_slug: str, where: Q, query: SearchQuery | None, seen: set[int], n: int):
    """Rows matching the context first (found through the GIN index, ranked by relevance plus
    confidence), then the most confident of the rest: the cost follows the matches, not the
    table."""
    base = (
        Memory.objects.active()
        .readable_by(agent_slug)
        .filter(where)
        .exclude(id__in=seen)
        .only(*SHOWN)
    )
    found = []
    if query is not None:
        score = SearchRank(F("search"), query) + Cast(F("confidence"), FloatField()) * Value(0.5)
        found = list(base.filter(search=query).annotate(score=score).order_by("-score", "-id")[:n])
    if len(found) < n:
        rest = base.exclude(id__in=[m.id for m in found]).order_by("-confidence", "-created_at")
        for memory in rest[: n - len(found)]:
            memory.score = float(memory.confidence) * 0.5
            found.append(memory)
    return found


def retrieve(agent_slug: str, context: str = "", subject_keys=(), *, record_use=True):
    """The memories a prompt for `agent_slug` about `context` should carry, best first."""
    budget = Policy.objects.value("memory_policy").retrieval_char_budget
    chosen: list[Retrieved] = []
    seen: set[int] = set()
    used = 0
    query = any_word(context)
    for name, where in buckets(agent_slug, list(subject_keys)):
        for memory in ranked(agent_slug, where, query, seen, PER_BUCKET):
            if len(chosen) >= TOTAL or used + len(memory.content) > budget:
                break
            chosen.append(Retrieved(memory, name, float(memory.score)))
            seen.add(memory.id)
            used += len(memory.content)
    if record_use and chosen:
        Memory.objects.filter(id__in=seen).update(use_count=F("use_count") + 1, last_used_at=Now())
    return chosen


def prompt_section(found: list[Retrieved]) -> str:
    """The one delimited section every prompt carries (empty when nothing is relevant)."""
    if not found:
        return ""
    lines = [
        f"[memory {r.memory.id} · {r.memory.type} · confidence {r.memory.confidence}] "
        f"{r.memory.content}"
        for r in found
    ]
    return "\n".join(
        [
            "<memories> What the company has learned that may apply (may be outdated):",
            *lines,
            "</memories>",
        ]
    )


def memory_context(agent_slug: str, context: str) -> tuple[str, dict]:
    """The prompt-context provider the memory app registers."""
    found = retrieve(agent_slug, context)
    return prompt_section(found), {"memory_ids": [r.memory.id for r in found]}
