"""Memory influence: sometimes what an agent learned chooses its next proactive topic.

With `memory_influence_policy.probability`, a proactive rule's topic comes from the target
agent's strategy and lesson memories (confidence ≥ 0.6, the ten best) by keyword match against
the rule's own topics, instead of the rotation. The memories are read once per agent per
heartbeat (the beat's cache), and the choice names the memory that made it.
"""

import re

from memory.models import Memory, MemoryType
from missions.checkers import Steer
from opscore.models import Policy

MIN_CONFIDENCE = 0.6
LIMIT = 10
STOPWORDS = {"from", "with", "that", "this", "what", "when", "have", "will", "your", "into"}


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) >= 4} - STOPWORDS


def steering_memories(agent_slug: str, cache: dict) -> list[tuple[int, set[str]]]:
    key = ("steering_memories", agent_slug)
    if key not in cache:
        rows = (
            Memory.objects.active()
            .filter(
                agent_id=agent_slug,
                type__in=[MemoryType.STRATEGY, MemoryType.LESSON],
                confidence__gte=MIN_CONFIDENCE,
            )
            .order_by("-confidence", "-created_at", "-id")
            .values_list("id", "title", "content")[:LIMIT]
        )
        cache[key] = [(pk, words(f"{title} {content}")) for pk, title, content in rows]
    return cache[key]


def best_match(memories, topics: list[str]) -> Steer | None:
    """The topic sharing most words with one memory; ties go to the stronger memory (listed
    first) and then the earlier topic."""
    best, best_score = None, 0
    for memory_id, known in memories:
        for topic in topics:
            score = len(words(topic) & known)
            if score > best_score:
                best, best_score = Steer(topic, [memory_id]), score
    return best


def steer_topic(rule, beat) -> Steer | None:
    policy = Policy.objects.value("memory_influence_policy")
    if not policy.enabled or not rule.topics:
        return None
    if beat.rand.random() >= policy.probability:
        return None
    agent = rule.action_config.get("target_agent", "")
    return best_match(steering_memories(agent, beat.cache), rule.topics)
