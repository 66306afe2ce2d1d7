"""Evidence packets: what a scout looks at before it may speak, built from recent rows that
matter to its role. An empty packet is `no_work` — silence is the default.

Every query is bounded by the recent window through the event log's own id order (the window's
first id is found by walking back from the newest event, so the cost follows the window, not
the table), and capped in rows.
"""

from collections import defaultdict

from memory.models import CandidateStatus, MemoryCandidate
from missions.models import Artifact, Provenance
from opportunities.models import Idea
from opscore.models import Event

ROWS = 50  # per section, newest first
SHOWN = 10  # refs carried per signal


def window_start_id(since) -> int:
    """The last event before the window: found walking back from the newest (index on id)."""
    before = Event.objects.filter(created_at__lt=since).order_by("-id").values_list("id", flat=True)
    return before.first() or 0


def item(signal: str, kind: str, row_id: int, text: str) -> dict:
    return {"signal": signal, "type": kind, "id": row_id, "text": text[:200]}


def failures(start_id: int, since, kinds=None) -> list[dict]:
    events = Event.objects.filter(id__gt=start_id, kind__in=["step.failed", "step.dead"])
    rows = events.order_by("-id").values("id", "title", "summary", "tags")[:ROWS]
    found = []
    for row in rows:
        step_kind = row["tags"][-1] if row["tags"] else "step"
        if kinds is None or step_kind in kinds:
            text = f"{row['title']}: {row['summary'][:120]}"
            found.append(item(f"failing:{step_kind}", "event", row["id"], text))
    return found


def refusals(start_id: int, since) -> list[dict]:
    events = Event.objects.filter(id__gt=start_id, kind="proposal.rejected")
    rows = events.order_by("-id").values("id", "title", "tags")[:ROWS]
    return [
        item(f"refused:{(row['tags'] or ['?'])[-1]}", "event", row["id"], row["title"])
        for row in rows
    ]


def untrusted_reads(start_id: int, since) -> list[dict]:
    recent = Artifact.objects.filter(provenance=Provenance.UNTRUSTED, created_at__gte=since)
    rows = recent.order_by("-id")[:ROWS]
    return [item("external:read", "artifact", a.id, f"{a.title} ({a.source_url})") for a in rows]


def knowledge_gaps(start_id: int, since) -> list[dict]:
    rejected = MemoryCandidate.objects.filter(
        status=CandidateStatus.REJECTED, reviewed_at__gte=since
    ).order_by("-id")
    return [
        item("knowledge:rejected", "memory_candidate", c.id, f"{c.title}: {c.review_notes}")
        for c in rejected[:ROWS]
    ]


SECTIONS = {
    "devops": [failures],
    "security": [lambda start, since: failures(start, since, {"crawl", "deploy"}), untrusted_reads],
    "design": [refusals],
    "product-metrics": [failures, refusals],
    "knowledge": [knowledge_gaps],
    "research": [untrusted_reads],
}


def others_ideas(agent_slug: str, since) -> list[dict]:
    """Cross-pollination: what the other agents noticed lately (read, not evidence)."""
    ideas = Idea.objects.exclude(source_agent=agent_slug).filter(created_at__gte=since)
    return [{"idea": i.id, "title": i.title} for i in ideas.order_by("-id")[:5]]


def evidence_packet(agent_slug: str, since) -> dict[str, list[dict]]:
    """Signals → their rows, for this scout's role (unknown roles look at failures)."""
    start = window_start_id(since)
    by_signal: dict[str, list[dict]] = defaultdict(list)
    for section in SECTIONS.get(agent_slug, [failures]):
        for found in section(start, since):
            if len(by_signal[found["signal"]]) < SHOWN:
                by_signal[found["signal"]].append(found)
    return dict(by_signal)
