"""One summary of the system's state, shared by `manage.py status` and GET /api/ops/status."""

from django.db.models import Count, DurationField, ExpressionWrapper, Min
from django.db.models.functions import Now

from missions.models import Mission, Proposal, ProposalStatus, Step, StepStatus
from opscore.models import Agent, Event


def _queue_depths() -> dict:
    depths: dict[str, dict[str, int]] = {status: {} for status in StepStatus.values}
    rows = Step.objects.values("status", "kind").annotate(n=Count("id")).order_by()
    for row in rows:
        depths[row["status"]][row["kind"]] = row["n"]
    return depths


def _oldest_queued_seconds() -> float | None:
    age = ExpressionWrapper(Now() - Min("created_at"), output_field=DurationField())
    result = Step.objects.filter(status=StepStatus.QUEUED).aggregate(age=age)["age"]
    return round(result.total_seconds(), 1) if result is not None else None


def _rejections_today() -> dict:
    rejected = Proposal.objects.created_today().filter(status=ProposalStatus.REJECTED)
    by_code = dict(
        rejected.values_list("rejection_code").annotate(n=Count("id")).order_by("rejection_code")
    )
    return {"total": sum(by_code.values()), "by_code": by_code}


def system_status() -> dict:
    missions = dict(Mission.objects.values_list("status").annotate(n=Count("id")).order_by())
    last_event = Event.objects.order_by("-id").values_list("id", flat=True).first()
    return {
        "queue": {
            "depths": _queue_depths(),
            "totals": {s: sum(k.values()) for s, k in _queue_depths().items()},
            "oldest_queued_age_seconds": _oldest_queued_seconds(),
        },
        "proposals": {
            "pending": Proposal.objects.filter(status=ProposalStatus.PENDING).count(),
            "rejections_today": _rejections_today(),
        },
        "missions": missions,
        "agents": {
            "enabled": list(Agent.objects.enabled().values_list("slug", flat=True)),
            "total": Agent.objects.count(),
        },
        "last_event_id": last_event,
    }
