"""The candidate review queue: promote through the gate, reject with a typed reason, or merge
into a memory the reviewer names — from the list (bulk) or one candidate's page (a form)."""

from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from memory.decisions import (
    DecisionRefused,
    RejectReason,
    merge_candidate_into,
    reject_candidate,
)
from memory.gate import review_candidate
from memory.models import CandidateStatus, MemoryCandidate
from opscore.admin import ReadOnlyMixin
from opscore.admin_overrides import ReasonField, report
from opscore.models import operator_actor


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[
            ("promote", "Promote (the gate may still refuse)"),
            ("reject", "Reject"),
            ("merge", "Merge into a memory"),
        ],
        widget=forms.RadioSelect,
    )
    reject_kind = forms.ChoiceField(
        choices=[("", "— pick one when rejecting —"), *RejectReason.choices],
        required=False,
        label="Why",
    )
    memory = forms.IntegerField(required=False, min_value=1, label="Merge into memory #")
    notes = ReasonField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self):
        data = super().clean()
        if data.get("decision") == "reject" and not data.get("reject_kind"):
            self.add_error("reject_kind", "Say what is wrong with it.")
        if data.get("decision") == "merge" and not data.get("memory"):
            self.add_error("memory", "Name the memory it duplicates.")
        return data


def decide(form: DecisionForm, candidate_id: int, reviewer: str):
    data = form.cleaned_data
    if data["decision"] == "promote":
        review = review_candidate(candidate_id, reviewer=reviewer, notes=data["notes"])
        if review is None:  # decided since the page was shown (a double click), or held
            raise DecisionRefused(
                f"no open candidate {candidate_id}: another reviewer decided it or holds it"
            )
        return review
    if data["decision"] == "reject":
        return reject_candidate(
            candidate_id, reviewer=reviewer, kind=data["reject_kind"], notes=data["notes"]
        )
    return merge_candidate_into(
        candidate_id, data["memory"], reviewer=reviewer, notes=data["notes"]
    )


class MemoryCandidateAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "source_agent",
        "kind",
        "visibility",
        "confidence",
        "status",
        "title",
        "untrusted_reason",
    ]
    list_filter = ["status", "kind", "visibility", "source_agent"]
    search_fields = ["title", "body", "dedupe_key"]
    actions = ["promote", "reject_weak"]

    def get_urls(self):
        decide_url = path(
            "<int:pk>/decide/",
            self.admin_site.admin_view(self.decide_view),
            name="memory_memorycandidate_decide",
        )
        return [decide_url, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        candidate = self.get_object(request, object_id)
        if candidate is not None and candidate.status == CandidateStatus.NEW:
            extra_context = {
                **(extra_context or {}),
                "decide_url": reverse("admin:memory_memorycandidate_decide", args=[candidate.pk]),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def decide_view(self, request, pk):
        """GET shows the form; POST makes one decision and returns to the candidate."""
        candidate = get_object_or_404(MemoryCandidate, pk=pk)
        if not self.has_change_permission(request, candidate):
            return redirect("admin:memory_memorycandidate_change", pk)
        form = DecisionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                review = decide(form, pk, operator_actor(request.user))
            except DecisionRefused as refused:
                form.add_error(None, str(refused))
            else:
                self.message_user(request, f"{review.decision}: {review.reason}", messages.INFO)
                return redirect("admin:memory_memorycandidate_change", pk)
        context = {
            **self.admin_site.each_context(request),
            "candidate": candidate,
            "form": form,
            "opts": self.model._meta,
            "title": f"Decide on candidate {pk}",
        }
        return TemplateResponse(request, "admin/memory/decide_candidate.html", context)

    @admin.action(
        description="Promote selected candidates through the gate", permissions=["change"]
    )
    def promote(self, request, queryset):
        actor = operator_actor(request.user)
        for candidate in queryset:
            if candidate.status != CandidateStatus.NEW:
                self.message_user(request, left_as_is(candidate), messages.WARNING)
            elif (review := review_candidate(candidate.id, reviewer=actor)) is None:
                said = f"candidate {candidate.id}: another reviewer decided it or holds it"
                self.message_user(request, said, messages.WARNING)
            else:
                said = f"candidate {review.candidate_id}: {review.decision} ({review.reason})"
                self.message_user(request, said, messages.INFO)

    @admin.action(description="Reject selected candidates as weak evidence", permissions=["change"])
    def reject_weak(self, request, queryset):
        actor, done, refused = operator_actor(request.user), 0, []
        notes = f"rejected in the admin by {actor}: weak evidence"
        for candidate in queryset:
            if candidate.status != CandidateStatus.NEW:
                refused.append(left_as_is(candidate))
                continue
            try:
                reject_candidate(
                    candidate.id, reviewer=actor, kind=RejectReason.SPECULATIVE, notes=notes
                )
                done += 1
            except DecisionRefused as why:  # decided since the list was read
                refused.append(f"candidate {candidate.id}: {why}")
        report(self, request, done, "rejected", refused)


def left_as_is(candidate: MemoryCandidate) -> str:
    """A selected candidate a bulk decision skips, said so rather than dropped."""
    return f"candidate {candidate.id}: left as it is ({candidate.status})"
