"""Voice evolution: what an agent's memories say about how it has grown, as voice modifiers.

The tutorial's rules, derived from memory statistics with no LLM and no table, so a voice is
explainable from the rows behind it and changes only when those rows do. The modifiers in force
are part of the voice version every LLM call records.
"""

from dataclasses import dataclass

from django.db.models import Count, Q

from memory.models import Memory, MemoryType


@dataclass(frozen=True)
class VoiceStats:
    engagement_lessons: int
    patterns: int
    top_pattern_tag: str
    strategies: int


def voice_stats(agent_slug: str) -> VoiceStats:
    """Only memories in Opscore's own words count: a voice is an authority over every prompt
    the agent gets, which chat text from outside, or an outside runtime, must not gain by
    being distilled into lessons tagged `engagement` or patterns tagged `content`."""
    mine = Memory.objects.active().filter(agent_id=agent_slug).ours()
    counts = mine.aggregate(
        engagement_lessons=Count(
            "id", filter=Q(type=MemoryType.LESSON, tags__contains=["engagement"])
        ),
        patterns=Count("id", filter=Q(type=MemoryType.PATTERN)),
        strategies=Count("id", filter=Q(type=MemoryType.STRATEGY)),
    )
    top = ""
    if counts["patterns"] > 5:  # only then does the top tag matter
        top = top_tag(mine.filter(type=MemoryType.PATTERN).values_list("tags", flat=True))
    return VoiceStats(top_pattern_tag=top, **counts)


def top_tag(tag_lists) -> str:
    tally: dict[str, int] = {}
    for tags in tag_lists:
        for tag in tags or []:
            tally[tag] = tally.get(tag, 0) + 1
    return min(tally, key=lambda tag: (-tally[tag], tag)) if tally else ""


def modifiers_for(stats: VoiceStats) -> list[str]:
    found = []
    if stats.engagement_lessons > 10:
        found.append("Reference what works in engagement when relevant")
    if stats.patterns > 5 and stats.top_pattern_tag == "content":
        found.append("You've developed expertise in content strategy")
    if stats.strategies > 8:
        found.append("You think strategically about long-term plans")
    return found


def voice_modifiers(agent_slug: str) -> list[str]:
    return modifiers_for(voice_stats(agent_slug))
