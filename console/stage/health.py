"""The Health strip's numbers, computed from the ledger on each request."""

from datetime import timedelta

from django.conf import settings
from django.db.models.functions import Now

from missions.breaker import switched_off_kinds
from missions.models import Step, StepStatus, Worker
from opscore.models import Policy, RunStatus, StandingOrderRun
from opscore.overrides import active_overrides, in_force


def health_summary() -> dict:
    lanes = Policy.objects.value("lane_switches").lanes
    return {
        "queued": Step.objects.filter(status=StepStatus.QUEUED).count(),
        "running": Step.objects.filter(status=StepStatus.RUNNING).count(),
        "blocked": Step.objects.filter(status=StepStatus.BLOCKED).count(),
        "dead": Step.objects.filter(status=StepStatus.DEAD).count(),
        "stale_leases": Step.objects.with_expired_lease().count(),
        "tripped": [k for k in switched_off_kinds() if not in_force("drain", f"kind:{k}")],
        "missed_24h": StandingOrderRun.objects.filter(
            status=RunStatus.MISSED, scheduled_for__gte=Now() - timedelta(hours=24)
        ).count(),
        "paused_lanes": sorted(lane for lane, on in lanes.items() if not on),
        "live_workers": Worker.objects.filter(
            last_seen_at__gte=Now() - timedelta(seconds=settings.OPS_WORKER_STALE_SECONDS)
        ).count(),
        "provider": settings.OPSCORE_LLM,
        "overrides": [with_until(o) for o in active_overrides()],
    }


def with_until(override: dict) -> dict:
    """The expiry as people read it on the strip: `2026-12-01 17:15`."""
    until = (override["expires_at"] or "")[:16].replace("T", " ")
    return override | {"until": until}
