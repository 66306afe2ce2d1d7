"""The Health strip's numbers, computed from the ledger on each request."""

from django.conf import settings

from coding.models import CodingRun
from console.health import health_snapshot
from missions.breaker import switched_off_kinds
from missions.models import Proposal, ProposalStatus
from missions.words import held_for_words
from opscore.budgets import lane_report
from opscore.models import Policy
from opscore.overrides import active_overrides, in_force
from opscore.policy_names import describe_unknown


def health_summary() -> dict:
    """The strip reads the same SQL view as `status` and `/metrics`."""
    health = health_snapshot()
    lanes = Policy.objects.value("lane_switches").lanes
    return {
        "queued": health["queued_count"],
        "running": health["running_count"],
        "blocked": health["blocked_count"],
        "dead": health["dead_count"],
        "stale_leases": health["expired_lease_count"],
        "tripped": [k for k in switched_off_kinds() if not in_force("drain", f"kind:{k}")],
        "missed_24h": health["missed_last_24h"],
        "paused_lanes": sorted(lane for lane, on in lanes.items() if not on),
        "unknown_in_policies": describe_unknown(Policy.objects.unknown_names()),
        "live_workers": health["healthy_worker_count"],
        "provider": settings.OPSCORE_LLM,
        "overrides": [with_until(o) for o in active_overrides()],
        "lanes": lane_report(),
        "pending": waiting_for_a_human(),
    }


def waiting_for_a_human() -> int:
    """Everything whose next word is a person's: pending proposals, signed-off coding runs and
    posts held until a person approves their words."""
    proposals = Proposal.objects.filter(status=ProposalStatus.PENDING).count()
    return proposals + CodingRun.objects.awaiting_human().count() + held_for_words().count()


def with_until(override: dict) -> dict:
    """The expiry as people read it on the strip: `2026-12-01 17:15`."""
    until = (override["expires_at"] or "")[:16].replace("T", " ")
    return override | {"until": until}
