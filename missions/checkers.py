"""Trigger checkers: each reads rows and returns an Idea (work to propose) or None.

A rule names its checker in `trigger_event`; `MissionsConfig.ready()` registers these.
"""

from dataclasses import dataclass

from missions.models import ContentMetric, Publication, PublicationStatus, TriggerRule
from opscore.models import Event
from opscore.registry import Registry

CHECKERS: Registry = Registry("trigger checker")


@dataclass(frozen=True)
class Idea:
    """What a checker proposes; the rule's action_config fills in who and what kind."""

    title: str
    payload: dict
    cause_event: Event | None = None
    seen_event_id: int | None = None


def _latest_event(rule: TriggerRule, kind: str) -> Event | None:
    """Reactive checkers read only events after the rule's cursor (served by event_kind_idx)."""
    return Event.objects.filter(kind=kind, id__gt=rule.last_seen_event_id).order_by("-id").first()


def mission_failed(rule, rand):
    event = _latest_event(rule, "mission.failed")
    if event is None:
        return None
    return Idea(
        f"Diagnose: {event.title}", {"event_id": event.id, "topic": event.title}, event, event.id
    )


def content_published(rule, rand):
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


def insight_promoted(rule, rand):
    event = _latest_event(rule, "insight.promoted")
    if event is None:
        return None
    return Idea(
        f"Act on insight: {event.title}",
        {"event_id": event.id, "topic": event.title},
        event,
        event.id,
    )


def tweet_high_engagement(rule, rand):
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


def proactive(rule, rand):
    topic = rule.next_topic() or rule.action_config.get("title", rule.name)
    return Idea(f"{rule.action_config.get('title', rule.name)}: {topic}", {"topic": topic})


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
