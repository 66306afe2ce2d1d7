"""Retrieval: the few memories a prompt should carry, never the whole store.

Three buckets, each ranked by relevance to the context (full-text rank of the step's topic and
payload), then confidence and recency: exact context (the agent itself, or the project, person
or service the work names) ≤ 4; lessons, playbooks and constraints for the agent, a service or
the company ≤ 4; company-wide decisions, preferences and constraints ≤ 4; at most 10 in all and
within a character budget. Only active, unexpired memories the agent may read: never another
agent's private one, never a stale, superseded or expired one.

Cost is bounded whatever the store holds: the SQL function `memory_retrieve` walks each
source's partial index in (confidence, recency) order, reading at most WALK rows (more than the
caps let a source hold) and keeping POOL matching ones, so relevance reorders a few dozen rows;
PL/pgSQL caches its plan per connection (planning the query costs more than running it).
Use counts are not written here: a trigger on the LLMCall row that names the memories counts
them (memory/sql/count_memory_use), so a search that no prompt carried counts nothing.
"""

import functools
import json
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from memory.embeddings import EmbeddingError, cosine_to, embedder
from memory.models import Memory
from opscore.policies import parse_policy

PER_BUCKET, TOTAL = 4, 10
COSINE_WEIGHT = 1.0  # next to full-text: a match is worth 1 + rank, confidence half its value
log = logging.getLogger(__name__)
POOL, WALK = 16, 500  # matching rows kept per source; rows a source's walk may read
MAX_WORDS = 8
OFFLINE_TAG = "offline"  # learned from the offline provider's stand-ins: never for a real model
NAMES = ["context", "lessons", "company"]
BUCKETS_SQL = """SELECT r.bucket, r.id, r.kind, r.scope, r.visibility, r.confidence, r.content,
    r.created_at, r.score, (SELECT value FROM opscore_policy WHERE key = 'memory_policy')
    FROM memory_retrieve(%s, %s, %s, %s, %s, %s) AS r"""


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
    words = {w.strip(".,:;!?()[]{}\"'") for w in context.lower().split()}
    return sorted((w for w in words if len(w) > 2), key=len, reverse=True)[:MAX_WORDS]


def fetch_rows(agent_slug: str, context: str, subject_keys, per_bucket=TOTAL) -> list[tuple]:
    """One round trip to `memory_retrieve` (memory/sql), with the gate's policy beside it."""
    words = context_words(context)
    keys = sorted({*subject_keys, *words})  # a word that names a subject selects it
    with connection.cursor() as cursor:
        cursor.execute(BUCKETS_SQL, [agent_slug, keys, words, POOL, WALK, per_bucket])
        return cursor.fetchall()


def hybrid_rows(rows: list[tuple], context: str, provider) -> tuple[list[tuple], str]:
    """Cosine similarity to the context re-ranks the full-text pool within each bucket. A
    provider that fails leaves the full-text order, and the ranking says why."""
    try:
        query = provider.embed([context])[0]
        similar = cosine_to(query, [row[1] for row in rows], provider.model)
    except EmbeddingError as error:
        log.warning("memory retrieval fell back to full text: %s", error)
        return rows, f"full-text (embeddings failed: {error})"[:300]
    scored = [(*row[:8], row[8] + COSINE_WEIGHT * similar.get(row[1], 0.0), row[9]) for row in rows]
    return sorted(scored, key=lambda row: (row[0], -row[8])), "hybrid"


@functools.lru_cache(maxsize=8)
def char_budget(raw_policy: str | None) -> int:
    """The policy arrives as JSON text beside the rows (Django's cursor leaves jsonb unparsed)."""
    return parse_policy("memory_policy", json.loads(raw_policy or "{}")).retrieval_char_budget


def retrieve(agent_slug: str, context: str = "", subject_keys=()) -> list[Retrieved]:
    """The memories a prompt for `agent_slug` about `context` should carry, best first."""
    return ranked(agent_slug, context, subject_keys)[0]


def ranked(agent_slug: str, context: str, subject_keys=()) -> tuple[list[Retrieved], str]:
    provider = embedder() if context.strip() else None
    rows = fetch_rows(agent_slug, context, subject_keys, TOTAL * 2 if provider else TOTAL)
    ranking = "full-text"
    if provider is not None and rows:
        rows, ranking = hybrid_rows(rows, context, provider)
    return choose(agent_slug, without_offline(rows)), ranking


def without_offline(rows: list[tuple]) -> list[tuple]:
    """A real model is never served what was distilled from offline stand-in words (tagged
    `offline`); the offline provider may be, so an offline day still reads as one."""
    if not rows or settings.OPSCORE_LLM == "offline":
        return rows
    marked = set(
        Memory.objects.filter(
            id__in=[row[1] for row in rows], tags__contains=[OFFLINE_TAG]
        ).values_list("id", flat=True)
    )
    return [row for row in rows if row[1] not in marked]


def choose(agent_slug: str, rows: list[tuple]) -> list[Retrieved]:
    budget = char_budget(rows[0][-1]) if rows else 0
    chosen: list[Retrieved] = []
    seen: set[int] = set()
    used, per_bucket = 0, dict.fromkeys(NAMES, 0)
    for bucket, pk, kind, scope, visibility, confidence, content, created, score, _ in rows:
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
    found, ranking = ranked(agent_slug, context)
    refs = {"memory_ids": [r.memory.id for r in found]}
    return prompt_section(found), refs | ({"memory_ranking": ranking} if found else {})
