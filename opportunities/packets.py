"""Evidence packets: what a scout looks at before it may speak, built from recent rows that
matter to its role. An empty packet is `no_work` — silence is the default.

Every query is bounded by the recent window, and capped in rows. Events are read past the last
look's place in the log when the caller kept it, else through the log's own id order (the
window's first id is found by walking back from the newest event, so the cost follows the
window, not the table).
"""

import statistics
from collections import defaultdict

from django.db.models import Q

from memory.models import CandidateStatus, MemoryCandidate
from missions.models import Artifact, ContentMetric, Provenance, StepAttempt
from opportunities.models import Idea
from opscore.models import Event, LLMCall

ROWS = 50  # per section, newest first
SLOW_SECONDS = 60
SHOWN = 10  # refs carried per signal


def window_start_id(since) -> int:
    """The last event before the window: found walking back from the newest (index on id)."""
    before = Event.objects.filter(created_at__lt=since).order_by("-id").values_list("id", flat=True)
    return before.first() or 0


def events_window(since, after_event: int | None = None):
    """The events of a window: past a previous look's place in the log (`after_event`, from
    Event.objects.last_position() as it looked) when it recorded one. Its time is not enough: an
    event is stamped when its transaction began, and one that began before a look and committed
    after it was in no window by time. Without a place, past the last event before `since`."""
    if after_event is not None:
        return Event.objects.after(after_event)
    return Event.objects.filter(id__gt=window_start_id(since))


def item(signal: str, kind: str, row_id: int, text: str) -> dict:
    return {"signal": signal, "type": kind, "id": row_id, "text": text[:200]}


def failures(window, since, kinds=None) -> list[dict]:
    events = window.filter(kind__in=["step.failed", "step.dead"])
    rows = events.order_by("-id").values("id", "title", "summary", "tags")[:ROWS]
    found = []
    for row in rows:
        step_kind = row["tags"][-1] if row["tags"] else "step"
        if kinds is None or step_kind in kinds:
            text = f"{row['title']}: {row['summary'][:120]}"
            found.append(item(f"failing:{step_kind}", "event", row["id"], text))
    return found


def refusals(window, since) -> list[dict]:
    events = window.filter(kind="proposal.rejected")
    rows = events.order_by("-id").values("id", "title", "tags")[:ROWS]
    return [
        item(f"refused:{(row['tags'] or ['?'])[-1]}", "event", row["id"], row["title"])
        for row in rows
    ]


def untrusted_reads(window, since) -> list[dict]:
    recent = Artifact.objects.filter(provenance=Provenance.UNTRUSTED, created_at__gte=since)
    rows = recent.order_by("-id")[:ROWS]
    return [item("external:read", "artifact", a.id, f"{a.title} ({a.source_url})") for a in rows]


def knowledge_gaps(window, since) -> list[dict]:
    rejected = MemoryCandidate.objects.filter(
        status=CandidateStatus.REJECTED, reviewed_at__gte=since
    ).order_by("-id")
    return [
        item("knowledge:rejected", "memory_candidate", c.id, f"{c.title}: {c.review_notes}")
        for c in rejected[:ROWS]
    ]


def slow_kinds(window, since) -> list[dict]:
    """Steps that took a minute or more, from their success events (the window's)."""
    events = window.filter(kind="step.succeeded", step__isnull=False)
    rows = events.order_by("-id").values_list("step_id", flat=True)[:ROWS]
    attempts = StepAttempt.objects.filter(step_id__in=list(rows), finished_at__isnull=False)
    found = []
    for attempt in attempts.select_related("step"):
        seconds = (attempt.finished_at - attempt.started_at).total_seconds()
        if seconds >= SLOW_SECONDS:
            text = f"S{attempt.step_id} {attempt.step.kind} took {seconds:.0f} s"
            found.append(item(f"slow:{attempt.step.kind}", "attempt", attempt.id, text))
    return found


def metric_anomalies(window, since) -> list[dict]:
    """Recent measurements far from the recent median engagement."""
    recent = list(ContentMetric.objects.filter(measured_at__gte=since).order_by("-id")[:ROWS])
    if len(recent) < 3:
        return []
    median = statistics.median(m.engagement_rate for m in recent) or 0
    return [
        item("metrics:anomaly", "metric", m.id, f"{m.post_ref}: {m.engagement_rate:.2%}")
        for m in recent
        if median and not 0.3 <= m.engagement_rate / median <= 2
    ]


def retrieval_misses(window, since) -> list[dict]:
    """Step prompts that carried no memory at all: what the company does not know yet."""
    calls = LLMCall.objects.filter(created_at__gte=since, step__isnull=False, outcome="ok")
    missed = calls.filter(Q(injected__memory_ids=[]) | ~Q(injected__has_key="memory_ids"))
    return [
        item(f"knowledge:no-memory:{c.purpose}", "step", c.step_id, f"{c.purpose} with no memory")
        for c in missed.order_by("-id")[:ROWS]
    ]


def recent_artifacts(window, since) -> list[dict]:
    rows = Artifact.objects.filter(created_at__gte=since).order_by("-id")[:ROWS]
    return [item(f"made:{a.kind}", "artifact", a.id, a.title) for a in rows]


SECTIONS = {
    "devops": [failures, slow_kinds],
    "security": [lambda w, since: failures(w, since, {"crawl", "deploy"}), untrusted_reads],
    "design": [refusals],
    "product-metrics": [metric_anomalies, refusals],
    "knowledge": [knowledge_gaps, retrieval_misses],
    "research": [untrusted_reads, recent_artifacts],
}


def others_ideas(agent_slug: str, since) -> list[dict]:
    """Cross-pollination: what the other agents noticed lately (read, not evidence)."""
    ideas = Idea.objects.exclude(source_agent=agent_slug).filter(created_at__gte=since)
    return [{"idea": i.id, "title": i.title} for i in ideas.order_by("-id")[:5]]


def evidence_packet(agent_slug: str, since, after_event=None) -> dict[str, list[dict]]:
    """Signals → their rows, for this scout's role (unknown roles look at failures); events
    past `after_event` when the caller kept its last look's place (events_window)."""
    window = events_window(since, after_event)
    by_signal: dict[str, list[dict]] = defaultdict(list)
    for section in SECTIONS.get(agent_slug, [failures]):
        for found in section(window, since):
            if len(by_signal[found["signal"]]) < SHOWN:
                by_signal[found["signal"]].append(found)
    return dict(by_signal)
