"""A step held for its words, decided from its admin page: the words exactly as they would be
posted (invisible characters named), their digest, and Approve / Refuse buttons that send the
digest back, so an approval approves what the page showed (missions.words)."""

from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse

from missions.actions import DecisionRefused
from missions.decisions import approves
from missions.models import Step, WordsApproval
from missions.words import decide_words, words_card
from opscore.admin import EvidenceInline
from opscore.four_eyes import why_not_approve_proposal


class WordsDecisionInline(EvidenceInline):
    model = WordsApproval
    fields = ["decision", "decided_by", "created_at", "digest", "words", "reason"]


class WordsDecisionMixin:
    change_form_template = "admin/missions/step/change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        step = self.get_object(request, object_id)
        extra = {}
        if step is not None and (card := words_card(step))["held"]:
            author = card["proposed_by"]
            card["why_not"] = why_not_approve_proposal(request.user, [step.kind], author)
            extra = {"words": card}
        return super().change_view(request, object_id, form_url, extra | (extra_context or {}))

    def get_urls(self):
        decide = self.admin_site.admin_view(self.words_view)
        mine = [path("<int:pk>/words/", decide, name="missions_step_words")]
        return mine + super().get_urls()

    def words_view(self, request, pk: int):
        step = get_object_or_404(Step, pk=pk)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            row = decide_words(
                step.id,
                user=request.user,
                approve=approves(request.POST.get("decision")),
                digest=request.POST.get("digest", ""),
                reason=request.POST.get("reason", ""),
            )
        except DecisionRefused as refused:
            self.message_user(request, f"Not decided: {refused}", messages.ERROR)
        else:
            self.message_user(request, f"S{step.id}: words {row.decision}", messages.SUCCESS)
        return redirect(reverse("admin:missions_step_change", args=[step.id]))
