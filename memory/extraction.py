"""Extraction: candidates from an agent's own evidence of the last day, deterministic from rows.

Only repeated outcomes qualify — a kind failing three or more times, each attempt cited — so a
single noisy incident never becomes a lesson. (An LLM reading the evidence packet with a strict
schema is the next step; this rule is what runs offline and what it must at least match.)
"""

from django.db.models import Count

from memory.actions import propose_candidate
from missions.models import AttemptOutcome, StepAttempt

REPEATS = 3
MAX_REFS = 10


def repeated_failures(agent_slug: str, since) -> list[dict]:
    failing = (
        StepAttempt.objects.filter(
            step__agent=agent_slug,
            outcome__in=[AttemptOutcome.FAILED, AttemptOutcome.LOST],
            finished_at__gte=since,
        )
        .values("step__kind")
        .annotate(n=Count("id"))
        .filter(n__gte=REPEATS)
        .order_by("step__kind")
    )
    return list(failing)


def extract_candidates(agent_slug: str, since, day: str) -> list:
    """Propose a lesson per repeatedly failing kind; returns the candidates (new or open)."""
    found = []
    for row in repeated_failures(agent_slug, since):
        kind = row["step__kind"]
        attempts = StepAttempt.objects.filter(
            step__agent=agent_slug,
            step__kind=kind,
            finished_at__gte=since,
            outcome__in=[AttemptOutcome.FAILED, AttemptOutcome.LOST],
        ).order_by("-finished_at")
        latest = attempts.first()
        candidate, _ = propose_candidate(
            {
                "agent": agent_slug,
                "kind": "lesson",
                "title": f"{kind} keeps failing",
                "body": f"{row['n']} attempts of {kind} failed in a day; the latest error: "
                f"{(latest.error or 'none recorded')[:300]}",
                "confidence": 0.6,
                "evidence": [{"type": "attempt", "id": a.id} for a in attempts[:MAX_REFS]],
                "dedupe_key": f"repeated-failure:{kind}:{day}",
                "tags": ["repeated-failure", kind],
            }
        )
        found.append(candidate)
    return found
