"""Trigger checkers: each reads rows and returns an Idea (work to propose) or None.

A rule names its checker in `trigger_event`; `MissionsConfig.ready()` registers these.
"""

import random
from dataclasses import dataclass, field

from missions.models import ContentMetric, Publication, PublicationStatus, TriggerRule
from opscore.models import Event
from opscore.registry import Registry

CHECKERS: Registry = Registry("trigger checker")
# name → steer(rule, beat) -> Steer | None: what may choose a proactive rule's topic instead of
# its rotation (the memory lane registers one: memory influence)
TOPIC_STEERS: Registry = Registry("topic steer")


@dataclass
class Beat:
    """One evaluation pass: its random source, and what the pass reads once and shares (the
    memory lane caches each agent's memories here, so a dozen rules cost one read per agent)."""

    rand: random.Random
    cache: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Steer:
    topic: str
    memory_ids: list[int]


@dataclass(frozen=True)
class Idea:
    """What a checker proposes; the rule's action_config fills in who and what kind."""

    title: str
    payload: dict
    cause_event: Event | None = None
    seen_event_id: int | None = None
    context: dict = field(default_factory=dict)


def _latest_event(rule: TriggerRule, kind: str) -> Event | None:
    """Reactive checkers read only events after the rule's cursor (served by event_kind_idx)."""
    return Event.objects.filter(kind=kind, id__gt=rule.last_seen_event_id).order_by("-id").first()


def mission_failed(rule, beat):
    event = _latest_event(rule, "mission.failed")
    if event is None:
        return None
    return Idea(
        f"Diagnose: {event.title}", {"event_id": event.id, "topic": event.title}, event, event.id
    )


def content_published(rule, beat):
    since = rule.last_fired_at
    published = Publication.objects.filter(status=PublicationStatus.PUBLISHED)
    if since:
        published = published.filter(published_at__gt=since)
    post = published.order_by("-id").first()
    if post is None:
        return None
    return Idea(
        f"Review what we published: {post.body[:60]}",
        {"publication_id": post.id, "topic": post.body[:200]},
    )


def insight_promoted(rule, beat):
    event = _latest_event(rule, "insight.promoted")
    if event is None:
        return None
    return Idea(
        f"Act on insight: {event.title}",
        {"event_id": event.id, "topic": event.title},
        event,
        event.id,
    )


def tweet_high_engagement(rule, beat):
    threshold = float(rule.conditions.get("min_engagement_rate", 0.05))
    metrics = ContentMetric.objects.filter(engagement_rate__gte=threshold)
    if rule.last_fired_at:
        metrics = metrics.filter(measured_at__gt=rule.last_fired_at)
    best = metrics.order_by("-engagement_rate").first()
    if best is None:
        return None
    return Idea(
        f"Why did {best.post_ref} do well ({best.engagement_rate:.1%})?",
        {"post_ref": best.post_ref, "engagement_rate": best.engagement_rate},
    )


def steer(rule, beat) -> Steer | None:
    for name in TOPIC_STEERS.names():
        chosen = TOPIC_STEERS[name](rule, beat)
        if chosen is not None:
            return chosen
    return None


def proactive(rule, beat):
    """The rotation's next topic, unless memory steers it; either way the choice says which."""
    title = rule.action_config.get("title", rule.name)
    steered = steer(rule, beat)
    topic = steered.topic if steered else rule.next_topic() or title
    context = {
        "memory_influenced": steered is not None,
        "memory_ids": steered.memory_ids if steered else [],
    }
    return Idea(f"{title}: {topic}", {"topic": topic}, context=context)


PROACTIVE = [
    "proactive_scan_signals",
    "proactive_draft_tweet",
    "proactive_research",
    "proactive_analyze_ops",
    "proactive_review_backlog",
    "proactive_health_review",
    "proactive_knowledge_digest",
]
BUILTIN = {
    "mission_failed": mission_failed,
    "content_published": content_published,
    "insight_promoted": insight_promoted,
    "tweet_high_engagement": tweet_high_engagement,
} | dict.fromkeys(PROACTIVE, proactive)
