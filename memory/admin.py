from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models.functions import Now
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from memory.gate import reject, review_candidate
from memory.models import (
    CandidateStatus,
    Memory,
    MemoryCandidate,
    MemoryReview,
    MemoryRevision,
)
from memory.upkeep import mark_stale
from opscore.admin import AuditAdmin, EvidenceInline, ReadOnlyMixin
from opscore.models import LLMCall, operator_actor

EDITABLE = ["title", "content", "confidence", "expires_at", "next_review_at"]


class ConfidenceFilter(admin.SimpleListFilter):
    title = "confidence"
    parameter_name = "confidence"

    def lookups(self, request, model_admin):
        return [("high", "≥ 0.80"), ("mid", "0.55 - 0.79"), ("low", "< 0.55")]

    def queryset(self, request, queryset):
        ranges = {"high": (0.8, 1.01), "mid": (0.55, 0.8), "low": (0, 0.55)}
        if self.value() in ranges:
            low, high = ranges[self.value()]
            return queryset.filter(confidence__gte=low, confidence__lt=high)
        return queryset


class UseFilter(admin.SimpleListFilter):
    title = "use"
    parameter_name = "use"

    def lookups(self, request, model_admin):
        return [("never", "never used"), ("due", "due for review")]

    def queryset(self, request, queryset):
        if self.value() == "never":
            return queryset.filter(use_count=0)
        if self.value() == "due":
            return queryset.filter(status="active", next_review_at__lte=Now())
        return queryset


class ReviewInline(EvidenceInline):
    model = MemoryReview
    fk_name = "memory"
    fields = ["created_at", "decision", "reviewer", "reason"]


class RevisionInline(EvidenceInline):
    model = MemoryRevision
    fields = ["created_at", "changed_by", "reason", "old", "new"]


class MemoryForm(forms.ModelForm):
    reason = forms.CharField(max_length=500, help_text="Why: kept with the revision row")

    class Meta:
        model = Memory
        fields = EDITABLE


@admin.register(Memory)
class MemoryAdmin(admin.ModelAdmin):
    """Edits are revisions (old, new, who, why), never silent overwrites."""

    form = MemoryForm
    list_display = [
        "id",
        "created_at",
        "agent",
        "type",
        "scope",
        "visibility",
        "confidence",
        "status",
        "use_count",
        "content",
    ]
    list_filter = ["type", "scope", "status", "visibility", "agent", ConfidenceFilter, UseFilter]
    search_fields = ["content", "title", "subject_key", "dedupe_key"]
    readonly_fields = [
        "agent",
        "type",
        "scope",
        "subject_key",
        "visibility",
        "status",
        "provenance",
        "used_by",
        "use_count",
        "last_used_at",
        "superseded_by",
    ]
    inlines = [ReviewInline, RevisionInline]
    actions = ["mark_stale"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="provenance")
    def provenance(self, obj):
        refs = format_html_join(", ", "{} {}", ((e["type"], e["id"]) for e in obj.evidence))
        if obj.candidate_id:
            url = reverse("admin:memory_memorycandidate_change", args=[obj.candidate_id])
            return format_html(
                'evidence: {} → <a href="{}">candidate {}</a>', refs or "-", url, obj.candidate_id
            )
        return format_html("evidence: {}", refs or "-")

    @admin.display(description="LLM calls that carried it")
    def used_by(self, obj):
        calls = LLMCall.objects.filter(injected__memory_ids__contains=[obj.id]).order_by("-id")
        ids = list(calls.values_list("id", flat=True)[:20])
        return ", ".join(f"#{i}" for i in ids) or "-"

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            old = Memory.objects.select_for_update().get(pk=obj.pk)
            changed = [f for f in form.changed_data if f in EDITABLE]
            before = {f: str(getattr(old, f)) for f in changed}
            after = {f: str(getattr(obj, f)) for f in changed}
            obj.updated_by = operator_actor(request.user)
            super().save_model(request, obj, form, change)
            if changed:
                MemoryRevision.objects.create(
                    memory=obj,
                    old=before,
                    new=after,
                    changed_by=obj.updated_by,
                    reason=form.cleaned_data["reason"],
                )

    @admin.action(description="Mark selected memories stale (they stop reaching prompts)")
    def mark_stale(self, request, queryset):
        actor = operator_actor(request.user)
        for memory in queryset.filter(status="active"):
            mark_stale(memory, actor=actor, reason=f"marked stale in the admin by {actor}")
        self.message_user(request, "Marked stale.", messages.SUCCESS)


class RejectForm(forms.Form):
    reason = forms.CharField(max_length=500)


@admin.register(MemoryCandidate)
class MemoryCandidateAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The review queue: promote (through the gate, which may still refuse) or reject."""

    list_display = [
        "id",
        "created_at",
        "source_agent",
        "kind",
        "visibility",
        "confidence",
        "status",
        "title",
    ]
    list_filter = ["status", "kind", "visibility", "source_agent"]
    search_fields = ["title", "body", "dedupe_key"]
    actions = ["promote", "reject_weak"]

    @admin.action(
        description="Promote selected candidates through the gate", permissions=["change"]
    )
    def promote(self, request, queryset):
        actor = operator_actor(request.user)
        decided = [review_candidate(c.id, reviewer=actor) for c in queryset.filter(status="new")]
        for review in filter(None, decided):
            self.message_user(
                request,
                f"candidate {review.candidate_id}: {review.decision} ({review.reason})",
                messages.INFO,
            )

    @admin.action(description="Reject selected candidates as weak evidence", permissions=["change"])
    def reject_weak(self, request, queryset):
        actor = operator_actor(request.user)
        waiting = list(queryset.filter(status=CandidateStatus.NEW))
        for candidate in waiting:
            reject(candidate, actor, f"rejected in the admin by {actor}: weak evidence")
        self.message_user(request, f"{len(waiting)} rejected.", messages.SUCCESS)


@admin.register(MemoryReview)
class MemoryReviewAdmin(AuditAdmin):
    list_display = ["id", "created_at", "decision", "reviewer", "candidate", "memory", "reason"]
    list_filter = ["decision", "reviewer"]
