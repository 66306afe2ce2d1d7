"""Retrieval: the few memories a prompt should carry, never the whole store.

Three buckets, each ranked by relevance to the context (full-text rank of the step's topic and
payload), then confidence and recency: exact context (the agent itself, or the project, person
or service the work names) ≤ 4; lessons, playbooks and constraints for the agent, a service or
the company ≤ 4; company-wide decisions, preferences and constraints ≤ 4; at most 10 in all and
within a character budget. Only active, unexpired memories the agent may read: never another
agent's private one, never a stale, superseded or expired one.
"""

from dataclasses import dataclass

from django.db import connection
from django.db.models import F
from django.db.models.functions import Now

from memory.models import Memory
from opscore.models import Policy

PER_BUCKET, TOTAL = 4, 10
READABLE = """status = 'active' AND (expires_at IS NULL OR expires_at > statement_timestamp())
    AND (visibility = 'shared' OR agent_id = %(agent)s)"""
BUCKET = """(SELECT {n} AS bucket, id, type, scope, visibility, confidence, content, created_at,
        ts_rank(search, (SELECT q FROM query)) + confidence::float8 * 0.5 AS score
    FROM memory_memory WHERE {readable} AND ({where})
    ORDER BY score DESC, created_at DESC, id DESC LIMIT {limit})"""
WHERES = [
    """(scope = 'agent' AND agent_id = %(agent)s)
        OR (scope IN ('project', 'person', 'service') AND subject_key = ANY(%(keys)s))""",
    """type IN ('lesson', 'playbook', 'constraint')
        AND (agent_id = %(agent)s OR scope IN ('service', 'global'))""",
    """scope = 'global' AND type IN ('decision', 'preference', 'constraint')""",
]
NAMES = ["context", "lessons", "company"]


def bucket_sql(words: int) -> str:
    """One round trip for the three buckets; the query is any of the context's words, each
    parsed by plainto_tsquery (no syntax in the text can break it)."""
    parts = [f"plainto_tsquery('english', %(w{i})s)" for i in range(words)]
    query = " || ".join(parts) if parts else "''::tsquery"
    selects = [
        BUCKET.format(n=n, readable=READABLE, where=where, limit=TOTAL)
        for n, where in enumerate(WHERES)
    ]
    return f"WITH query AS (SELECT {query} AS q)\n" + "\nUNION ALL\n".join(selects)


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


def context_words(context: str) -> list[str]:
    return sorted({w for w in context.lower().split() if len(w) > 2}, key=len, reverse=True)[:8]


def fetch_rows(agent_slug: str, context: str, subject_keys) -> list[tuple]:
    words = context_words(context)
    params = {"agent": agent_slug, "keys": list(subject_keys)}
    params |= {f"w{i}": word for i, word in enumerate(words)}
    with connection.cursor() as cursor:
        cursor.execute(bucket_sql(len(words)), params)
        return cursor.fetchall()


def retrieve(agent_slug: str, context: str = "", subject_keys=(), *, record_use=True):
    """The memories a prompt for `agent_slug` about `context` should carry, best first."""
    budget = Policy.objects.value("memory_policy").retrieval_char_budget
    chosen: list[Retrieved] = []
    seen: set[int] = set()
    used, per_bucket = 0, dict.fromkeys(NAMES, 0)
    for bucket, pk, kind, scope, visibility, confidence, content, created, score in fetch_rows(
        agent_slug, context, subject_keys
    ):
        name = NAMES[bucket]
        if pk in seen or per_bucket[name] >= PER_BUCKET:
            continue  # a memory counts once, in the first bucket that holds it
        if len(chosen) >= TOTAL or used + len(content) > budget:
            break
        memory = Memory(
            id=pk,
            agent_id=agent_slug,
            type=kind,
            scope=scope,
            content=content,
            visibility=visibility,
            confidence=confidence,
            created_at=created,
        )
        chosen.append(Retrieved(memory, name, float(score)))
        seen.add(pk)
        per_bucket[name] += 1
        used += len(content)
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
