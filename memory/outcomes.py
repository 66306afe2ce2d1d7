"""Learning from outcomes: how published items did, and how missions ended, become candidates.

Metric lessons are the tutorial's rule generalised to every metric a post reports: against the
agent's own median over the window, far above or far below is a lesson, at most a few a day.
Mission outcomes accumulate instead of piling up: one candidate (then one memory) per agent and
step-kind sequence gains each new mission as evidence, so a hundred successful crawls are one
strategy with a hundred refs, not a hundred memories. Everything goes through the gate.
"""

import statistics
from datetime import timedelta

from django.db import transaction

from memory.actions import CandidateInvalid, propose_and_review
from memory.evidence import untrusted_reason
from memory.models import CandidateStatus, Memory, MemoryCandidate, MemoryType
from missions.models import ContentMetric, Mission, PublicationStatus, StepStatus
from opscore.db import db_now, start_of_today
from opscore.models import Policy

REVIEWER = "system:outcome-learning"
METRICS = {"engagement_rate": "engagement", "engagements": "engagement", "impressions": "reach"}
LESSON_TAG = "metric-lesson"
MAX_STEP_REFS = 5


def latest_measurements(since):
    """The newest measurement of each item published in the window, by agent."""
    rows = (
        ContentMetric.objects.filter(
            publication__status=PublicationStatus.PUBLISHED, publication__published_at__gte=since
        )
        .select_related("publication__step")
        .order_by("publication_id", "-measured_at", "-id")
        .distinct("publication_id")
    )
    by_agent: dict[str, list[ContentMetric]] = {}
    for row in rows:
        by_agent.setdefault(row.publication.step.agent_id, []).append(row)
    return by_agent


def learn_from_metrics() -> dict:
    policy = Policy.objects.value("outcome_learning_policy")
    if not policy.enabled:
        return {"metrics": "outcome_learning_policy.enabled is false"}
    since = db_now() - timedelta(hours=policy.window_hours)
    results = {}
    for agent, items in sorted(latest_measurements(since).items()):
        if len(items) < policy.min_items:
            results[agent] = f"skipped: {len(items)} item(s) in {policy.window_hours} h"
            continue
        results[agent] = lessons_for(agent, items, policy)
    return {"metrics": results}


def lessons_for(agent: str, items: list[ContentMetric], policy) -> dict:
    """At most one lesson per item: the first metric (in METRICS order) on which it stands
    out. Two metrics telling the same story are one lesson, not two."""
    baselines = {metric: statistics.median(getattr(i, metric) for i in items) for metric in METRICS}
    room = policy.max_lessons_per_day - lessons_today(agent)
    counts = {"proposed": 0, "known": 0, "capped": 0}
    for item in items:
        outlier = standout(item, baselines, policy)
        if outlier is None:
            continue
        traces = [f"{metric}-lesson:{item.publication_id}" for metric in METRICS]
        if MemoryCandidate.objects.filter(source_agent=agent, dedupe_key__in=traces).exists():
            counts["known"] += 1
        elif room <= 0:
            counts["capped"] += 1
        else:
            metric, ratio = outlier
            propose_and_review(metric_lesson(agent, item, metric, baselines[metric], ratio))
            counts["proposed"] += 1
            room -= 1
    return counts


def standout(item: ContentMetric, baselines: dict, policy) -> tuple[str, float] | None:
    for metric, baseline in baselines.items():
        if baseline <= 0:
            continue
        ratio = getattr(item, metric) / baseline
        if ratio > policy.high_ratio or ratio < policy.low_ratio:
            return metric, ratio
    return None


def lessons_today(agent: str) -> int:
    return MemoryCandidate.objects.filter(
        source_agent=agent, created_at__gte=start_of_today(), tags__contains=[LESSON_TAG]
    ).count()


def metric_lesson(agent, item: ContentMetric, metric, baseline, ratio) -> dict:
    high = ratio > 1
    value = getattr(item, metric)
    shown = f"{value:.2%}" if metric == "engagement_rate" else f"{value:,}"
    median = f"{baseline:.2%}" if metric == "engagement_rate" else f"{baseline:,.0f}"
    verdict = "far above" if high else "far below"
    post = item.publication.body[:200]
    return {
        "agent": agent,
        "kind": MemoryType.LESSON,
        "title": f"{metric} {verdict} the median: {post[:80]}"[:200],
        "body": f"'{post}' reached {metric} {shown}, {ratio:.1f} times the median {median} of my "
        f"recent posts. {'Do more like it.' if high else 'Avoid repeating it.'}",
        "confidence": 0.7 if high else 0.6,
        "tags": [LESSON_TAG, metric, METRICS[metric], "content"],
        "evidence": [
            {"type": "metric", "id": item.id},
            {"type": "publication", "id": item.publication_id},
        ],
        "dedupe_key": f"{metric}-lesson:{item.publication_id}",
        "source_ref": f"publication:{item.publication_id}",
    }


def learn_from_mission(mission_id: int) -> str:
    """One mission's ending into the candidate (or memory) for its agent and step kinds."""
    mission = Mission.objects.select_related("agent").get(pk=mission_id)
    steps = list(mission.steps.order_by("id"))
    if not steps or mission.status not in ("succeeded", "failed"):
        return "not finished"
    return merge_into_candidate(mission_candidate(mission, steps))


def merge_into_candidate(draft: dict, *, refresh_body: bool = False) -> str:
    """A draft joins the one candidate (then memory) under its dedupe key: 'known' when its
    first evidence ref (the source: a mission, a rating) is already cited, 'added' to a waiting
    candidate, else 'proposed' through the gate. `refresh_body`: the draft's text replaces the
    waiting one's (a tally that changed)."""
    known = Memory.objects.active().filter(dedupe_key=draft["dedupe_key"]).first()
    if known is not None and draft["evidence"][0] in known.evidence:
        return "known"
    with transaction.atomic():
        waiting = (
            MemoryCandidate.objects.select_for_update()
            .filter(
                source_agent=draft["agent"],
                dedupe_key=draft["dedupe_key"],
                status=CandidateStatus.NEW,
            )
            .first()
        )
        if waiting is not None:
            body = draft["body"] if refresh_body else None
            return add_evidence(waiting, draft["evidence"], body=body)
    try:
        propose_and_review(draft)
    except CandidateInvalid as invalid:
        return f"refused: {invalid}"
    return "proposed"


def add_evidence(candidate: MemoryCandidate, refs: list[dict], *, body: str | None = None) -> str:
    """The source ref comes first: once it is cited, this source has been learned. A ref that
    is not Opscore's own makes the candidate wait for a person, as it would have proposed."""
    if refs[0] in candidate.evidence:
        return "known"
    fresh = [ref for ref in refs if ref not in candidate.evidence]
    candidate.evidence = [*candidate.evidence, *fresh][:50]
    fields = ["evidence"]
    if not candidate.untrusted_reason and (why := untrusted_reason(fresh)):
        candidate.untrusted_reason = why
        fields.append("untrusted_reason")
    if body is not None:
        candidate.body = body
        fields.append("body")
    candidate.save(update_fields=fields)
    return "added"


def mission_candidate(mission: Mission, steps) -> dict:
    """Success is a strategy (what worked), failure a lesson naming the step and its error."""
    succeeded = mission.status == "succeeded"
    kind_word = "strategy" if succeeded else "lesson"
    kinds = "+".join(dict.fromkeys(step.kind for step in steps))
    failed = [s for s in steps if s.status in (StepStatus.FAILED, StepStatus.DEAD)]
    cited = (failed or steps)[:MAX_STEP_REFS]
    evidence = [{"type": "mission", "id": mission.id}]
    evidence += [{"type": "step", "id": step.id} for step in cited]
    if succeeded:
        title = f"What works: {kinds}"
        body = f"M{mission.id} '{mission.title}' succeeded with {len(steps)} step(s): {kinds}."
    else:
        errors = "; ".join(f"S{s.id} {s.kind}: {(s.last_error or '-')[:160]}" for s in failed)
        title = f"What fails: {kinds}"
        body = f"M{mission.id} '{mission.title}' failed. {errors or 'A step was cancelled.'}"
    return {
        "agent": mission.agent_id,
        "kind": MemoryType.STRATEGY if succeeded else MemoryType.LESSON,
        "title": title[:200],
        "body": body[:2000],
        "confidence": 0.6,
        "tags": ["mission-outcome", "succeeded" if succeeded else "failed", *kinds.split("+")][:10],
        "evidence": evidence,
        "dedupe_key": f"mission-{kind_word}:{mission.agent_id}:{kinds}"[:200],
        "source_ref": f"mission:{mission.id}",
    }
