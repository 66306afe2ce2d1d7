"""The proposal's admin page: its exact steps, and the decision (Approve / Reject with a reason)
through the same action as the Stage's approvals inbox."""

from django.contrib import admin, messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.urls import path, reverse

from missions.actions import DecisionRefused
from missions.decisions import approves, decide_proposal, reject_proposal
from missions.models import Proposal, ProposalStatus
from opscore.admin import LineageMixin, ReadOnlyMixin, report
from opscore.admin_overrides import reasoned_action
from opscore.four_eyes import who_may_approve, why_not_approve_proposal
from opscore.models import operator_actor


def decision_card(proposal: Proposal, user) -> dict:
    """What the Decide box needs: the digest of the content shown, and who may decide."""
    kinds = proposal.step_kinds
    why_not = why_not_approve_proposal(user, kinds, author=proposal.author)
    digest = proposal.content_digest(proposal.shown)
    return {"digest": digest, "why_not": why_not, "who": who_may_approve(kinds)}


def proposal_url(proposal) -> str:
    return reverse("admin:missions_proposal_change", args=[proposal.id])


def apply_each(queryset, func) -> tuple[int, list[str]]:
    done, refused = 0, []
    for obj in queryset:
        try:
            func(obj)
            done += 1
        except DecisionRefused as reason:
            refused.append(str(reason))
    return done, refused


@admin.register(Proposal)
class ProposalAdmin(LineageMixin, ReadOnlyMixin, admin.ModelAdmin):
    """A pending proposal's page shows its exact steps and takes the decision (Approve /
    Reject with a reason) through the same action as the Stage's approvals inbox."""

    lineage_kind = "proposal"
    readonly_fields = ["steps", "lineage"]
    change_form_template = "admin/missions/proposal/change_form.html"
    list_display = ["id", "created_at", "agent", "title", "source", "status", "reason"]
    list_filter = ["status", "source", "rejection_code", "agent"]
    search_fields = ["title", "reason", "dedupe_key"]
    date_hierarchy = "created_at"
    list_select_related = ["agent"]
    actions = ["reject_proposals"]  # approving is one proposal at a time, its content seen

    @admin.display(description="steps it would run")
    def steps(self, obj):
        steps = obj.readable_steps(getattr(obj, "shown", None))
        return render_to_string("stage/_readable_steps.html", {"steps": steps})

    def get_object(self, request, object_id, from_field=None):
        """The page's steps and its Decide box's digest come from one read of what it shows
        (kept on the request: the admin loads the object twice), so a refusal landing between
        the two cannot be bound by the digest without being shown."""
        proposal = super().get_object(request, object_id, from_field)
        if proposal is not None:
            kept = getattr(request, "_proposal_shown", None)
            if kept is None or kept[0] != proposal.pk:
                request._proposal_shown = kept = (proposal.pk, proposal.shown_content())
            proposal.shown = kept[1]
        return proposal

    def change_view(self, request, object_id, form_url="", extra_context=None):
        proposal = self.get_object(request, object_id)
        extra = {"decision": decision_card(proposal, request.user)} if proposal else {}
        return super().change_view(request, object_id, form_url, extra | (extra_context or {}))

    def get_urls(self):
        decide = self.admin_site.admin_view(self.decide_view)
        mine = [path("<int:pk>/decide/", decide, name="missions_proposal_decide")]
        return mine + super().get_urls()

    def decide_view(self, request, pk: int):
        proposal = get_object_or_404(Proposal, pk=pk)
        if request.method != "POST":  # who may decide is the action's rule (four_eyes)
            return HttpResponseNotAllowed(["POST"])
        try:
            decided = decide_proposal(
                proposal,
                approve=approves(request.POST.get("decision")),
                user=request.user,
                reason=request.POST.get("reason", ""),
                shown_digest=request.POST.get("digest", ""),
            )
        except DecisionRefused as refused:
            self.message_user(request, f"Not decided: {refused}", messages.ERROR)
        else:
            level = (
                messages.SUCCESS if decided.status == ProposalStatus.ACCEPTED else messages.WARNING
            )
            note = f": {decided.reason}" if decided.reason else ""
            self.message_user(request, f"P{decided.id} {decided.status}{note}", level)
        return redirect(proposal_url(proposal))

    @reasoned_action(
        "Reject selected pending proposals…",
        narrow=lambda queryset: queryset.filter(status=ProposalStatus.PENDING),
        heading="Reject {n} proposal(s)",
        label=lambda p: f"P{p.id} — {p.title} ({p.agent_id})",
        button="Reject",
        kept_with="kept with each proposal",
    )
    def reject_proposals(self, request, pending, reason):
        actor, user = operator_actor(request.user), request.user
        done, refused = apply_each(
            pending, lambda p: reject_proposal(p, actor=actor, reason=reason, user=user)
        )
        report(self, request, done, "rejected", refused)
