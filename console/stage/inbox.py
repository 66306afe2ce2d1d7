"""The approvals inbox: pending proposals with their exact steps, decided by a signed-in
operator through the same action the admin uses (gates run again on approval)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from coding.models import CodingRun
from console.stage.access import stage_visible
from missions.actions import DecisionRefused, decide_proposal
from missions.models import Proposal, ProposalStatus
from opscore.models import operator_actor

SHOWN = 25


def inbox_context(**extra) -> dict:
    pending = Proposal.objects.filter(status=ProposalStatus.PENDING).select_related("agent")
    coding = CodingRun.objects.awaiting_human().select_related("repository").order_by("id")
    return {
        "pending": list(pending.order_by("id")[:SHOWN]),
        "count": pending.count(),
        "coding": list(coding[:SHOWN]),
    } | extra


@require_GET
def approvals_panel(request):
    if not stage_visible(request):
        return render(request, "stage/_panel_error.html", {"reason": "sign in"}, status=403)
    return render(request, "stage/_approvals.html", inbox_context())


@require_POST
@login_required
def decide(request, proposal_id: int):
    proposal = get_object_or_404(Proposal, pk=proposal_id)
    approve = request.POST.get("decision") == "approve"
    reason = request.POST.get("reason", "").strip()[:2000]
    try:
        decided = decide_proposal(
            proposal, approve=approve, actor=operator_actor(request.user), reason=reason
        )
    except DecisionRefused as refused:
        return render(request, "stage/_approvals.html", inbox_context(problem=str(refused)))
    done = f"P{decided.id} {decided.status}" + (f": {decided.reason}" if decided.reason else "")
    answer = render(request, "stage/_approvals.html", inbox_context(done=done, decided=decided))
    answer["HX-Trigger"] = "stage-changed"  # the strip and the missions panel refresh now
    return answer
