"""The approvals inbox: pending proposals with their exact steps, decided by a signed-in
operator through the same action the admin uses (gates run again on approval); and the posts
held until a person approves the words they would post (missions.words)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from coding.models import CodingRun
from console.stage.access import stage_visible
from missions.actions import DecisionRefused
from missions.decisions import approves, decide_proposal
from missions.models import Proposal, ProposalStatus, Step
from missions.words import decide_words, held_for_words, held_words
from opscore import four_eyes
from opscore.four_eyes import why_not_approve_proposal, why_not_decide

SHOWN = 25


def inbox_context(user, **extra) -> dict:
    """Each card carries the digest of what it shows and whether this user may approve it."""
    pending = Proposal.objects.filter(status=ProposalStatus.PENDING).select_related("agent")
    pending = list(pending.select_related("operator").order_by("id")[:SHOWN])
    for proposal in pending:
        content = proposal.shown_content()  # one read: what the card shows, its digest binds
        proposal.shown_digest = proposal.content_digest(content)
        proposal.shown_steps = proposal.readable_steps(content)
        kinds, author = proposal.step_kinds, proposal.author
        proposal.why_not = why_not_approve_proposal(user, kinds, author=author)
    waiting = CodingRun.objects.awaiting_human()
    coding = list(waiting.select_related("repository").order_by("id")[:SHOWN])
    for run in coding:
        kinds = ["code", "merge"] if run.constraints.get("allow_merge") else ["code"]
        run.needs = [needs_line(user, run, kind) for kind in kinds]
    words = held_words(SHOWN)
    for card in words:
        card["why_not"] = why_not_approve_proposal(user, [card["kind"]], card["proposed_by"])
    return {
        "pending": pending,
        "count": Proposal.objects.filter(status=ProposalStatus.PENDING).count(),
        "coding": coding,
        "coding_count": waiting.count(),
        "words": words,
        "words_count": held_for_words().count(),
    } | extra


def needs_line(user, run, kind: str) -> str:
    """'needs: can approve merges' — and, for this user, why they can't."""
    decision = four_eyes.DECISIONS[kind]
    why = why_not_decide(user, decision, author=run.author)
    return why or f"needs: {decision.label} — you may"


@require_GET
def approvals_panel(request):
    if not stage_visible(request):
        return render(request, "stage/_panel_error.html", {"reason": "sign in"}, status=403)
    return render(request, "stage/_approvals.html", inbox_context(request.user))


@require_POST
@login_required
def decide(request, proposal_id: int):
    proposal = get_object_or_404(Proposal, pk=proposal_id)
    shown = request.POST.get("digest", "")
    try:
        decided = decide_proposal(
            proposal,
            approve=approves(request.POST.get("decision")),
            user=request.user,
            reason=request.POST.get("reason", ""),
            shown_digest=shown,
        )
    except DecisionRefused as refused:
        context = inbox_context(request.user, problem=str(refused))
        return render(request, "stage/_approvals.html", context)
    done = f"P{decided.id} {decided.status}" + (f": {decided.reason}" if decided.reason else "")
    context = inbox_context(request.user, done=done, decided=decided)
    answer = render(request, "stage/_approvals.html", context)
    answer["HX-Trigger"] = "stage-changed"  # the strip and the missions panel refresh now
    return answer


@require_POST
@login_required
def decide_words_view(request, step_id: int):
    """Approve exactly the words the card showed (its digest comes back), or refuse them."""
    get_object_or_404(Step, pk=step_id)
    post = request.POST
    try:
        approve = approves(post.get("decision"))
        row = decide_words(
            step_id,
            user=request.user,
            approve=approve,
            digest=post.get("digest", ""),
            reason=post.get("reason", ""),
        )
    except DecisionRefused as refused:
        return render(
            request, "stage/_approvals.html", inbox_context(request.user, problem=str(refused))
        )
    context = inbox_context(request.user, done=f"S{step_id}: words {row.decision}")
    answer = render(request, "stage/_approvals.html", context)
    answer["HX-Trigger"] = "stage-changed"
    return answer
