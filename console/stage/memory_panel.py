"""The Stage's Memory panel: what the gate decided lately, what waits, whether it is frozen."""

from django.http import HttpResponseForbidden
from django.shortcuts import render
from django.views.decorators.http import require_GET

from console.stage.access import stage_visible
from memory.models import CandidateStatus, Decision, MemoryCandidate, MemoryReview
from opscore.lanes import pause_of
from opscore.models import Policy


def memory_summary() -> dict:
    policy = Policy.objects.value("memory_policy")
    decisions = [Decision.PROMOTE, Decision.REJECT, Decision.MERGE, Decision.SUPERSEDE]
    return {
        "paused": pause_of("memory"),  # then nothing is promoted, frozen or not
        "frozen": policy.frozen,
        "frozen_reason": policy.frozen_reason,
        "waiting": MemoryCandidate.objects.filter(status=CandidateStatus.NEW).count(),
        "reviews": MemoryReview.objects.filter(decision__in=decisions)
        .select_related("candidate", "memory")
        .order_by("-id")[:12],
    }


@require_GET
def memory_panel(request):
    if not stage_visible(request):
        return HttpResponseForbidden("sign in to see the Stage")
    return render(request, "stage/_memory.html", memory_summary())
