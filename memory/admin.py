from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models.functions import Now
from django.utils.html import format_html, format_html_join

from memory.admin_queue import MemoryCandidateAdmin
from memory.decisions import DecisionRefused, mark_stale, supersede_memory
from memory.models import (
    InitiativeRequest,
    Memory,
    MemoryCandidate,
    MemoryReview,
    MemoryRevision,
    MemoryStatus,
)
from memory.provenance import provenance_chain
from memory.uses import uses_of
from opscore.admin import AuditAdmin, EvidenceInline, LineageMixin
from opscore.admin_overrides import ReasonField, report
from opscore.admin_read_only import SavesWhatItChanged
from opscore.models import operator_actor

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
        return [
            ("never", "never used"),
            ("due", "due for review"),
            ("flagged", "flagged by calibration"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "never":  # as of the last count (memory.uses): at most a beat old
            return queryset.filter(use_count=0)
        if self.value() == "flagged":
            return queryset.filter(flagged_at__isnull=False)
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
    reason = ReasonField(help_text="Why: kept with the revision row")
    superseded_by_memory = forms.IntegerField(
        required=False,
        min_value=1,
        label="Superseded by memory #",
        help_text="The active memory that replaces this one; this one stops reaching prompts.",
    )

    def clean_superseded_by_memory(self):
        target = self.cleaned_data.get("superseded_by_memory")
        if target is None:
            return None
        if target == self.instance.pk:
            raise forms.ValidationError("A memory cannot supersede itself.")
        if not Memory.objects.filter(pk=target, status="active").exists():
            raise forms.ValidationError(f"No active memory {target}.")
        if self.instance.status != "active":
            raise forms.ValidationError(f"This memory is {self.instance.status}, not active.")
        return target

    class Meta:
        model = Memory
        fields = EDITABLE


@admin.register(Memory)
class MemoryAdmin(SavesWhatItChanged, LineageMixin, admin.ModelAdmin):
    """Edits are revisions (old, new, who, why), never silent overwrites."""

    form = MemoryForm
    also_saved = ("updated_by",)
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
        "uses",
        "last_used_at",
        "superseded_by",
        "calibration",
        "lineage",
    ]
    lineage_kind = "memory"
    inlines = [ReviewInline, RevisionInline]
    actions = ["mark_stale"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="use count")
    def uses(self, obj):
        """Folded into the row at each heartbeat; the calls still queued are counted here."""
        queued = uses_of(obj) - obj.use_count
        if not queued:
            return obj.use_count
        return f"{obj.use_count + queued} ({queued} queued, counted at the next heartbeat)"

    @admin.display(description="provenance (evidence → candidate → reviews → memory → calls)")
    def provenance(self, obj):
        items = (
            (link.stage, format_html('<a href="{}">{}</a>', link.url, link.text))
            if link.url
            else (link.stage, link.text)
            for link in provenance_chain(obj)
        )
        return format_html(
            "<ol>{}</ol>", format_html_join("", "<li><strong>{}</strong> {}</li>", items)
        )

    @admin.display(description="calibration (the last 20 steps whose prompts carried it)")
    def calibration(self, obj):
        rows = (
            (e.get("outcome"), e.get("from"), e.get("to"), e.get("step"))
            for e in reversed(obj.calibration_log)
        )
        flag = (
            format_html("<p><strong>Flagged for review at {}</strong></p>", obj.flagged_at)
            if obj.flagged_at
            else ""
        )
        if not obj.calibration_log:
            return format_html("{}<p>No step has used it yet.</p>", flag)
        return format_html(
            "{}<table><tr><th>outcome</th><th>confidence</th><th>step</th></tr>{}</table>",
            flag,
            format_html_join("", "<tr><td>{}</td><td>{} → {}</td><td>S{}</td></tr>", rows),
        )

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            old = Memory.objects.select_for_update().get(pk=obj.pk)
            changed = [f for f in form.changed_data if f in EDITABLE]
            before = {f: str(getattr(old, f)) for f in changed}
            after = {f: str(getattr(obj, f)) for f in changed}
            obj.updated_by = operator_actor(request.user)
            super().save_model(request, obj, form, change)
            superseded_by = form.cleaned_data.get("superseded_by_memory")
            if superseded_by:
                supersede_memory(
                    obj.pk, superseded_by, actor=obj.updated_by, reason=form.cleaned_data["reason"]
                )
            if changed:
                MemoryRevision.objects.create(
                    memory=obj,
                    old=before,
                    new=after,
                    changed_by=obj.updated_by,
                    reason=form.cleaned_data["reason"],
                )

    @admin.action(
        description="Mark selected memories stale (they stop reaching prompts)",
        permissions=["change"],
    )
    def mark_stale(self, request, queryset):
        actor, done, refused = operator_actor(request.user), 0, []
        for memory in queryset:
            if memory.status != MemoryStatus.ACTIVE:
                refused.append(f"memory {memory.id}: left as it is ({memory.status})")
                continue
            try:
                mark_stale(memory.id, actor=actor, reason=f"marked stale in the admin by {actor}")
                done += 1
            except DecisionRefused as why:  # superseded or expired since the list was read
                refused.append(str(why))
        report(self, request, done, "marked stale", refused)


@admin.register(MemoryReview)
class MemoryReviewAdmin(AuditAdmin):
    list_display = ["id", "created_at", "decision", "reviewer", "candidate", "memory", "reason"]
    list_filter = ["decision", "reviewer"]


admin.site.register(MemoryCandidate, MemoryCandidateAdmin)


@admin.register(InitiativeRequest)
class InitiativeRequestAdmin(AuditAdmin):
    """Every request and how it ended: submitted, rejected (the intake's reason), failed or
    skipped (why not eligible)."""

    list_display = ["id", "created_at", "agent", "status", "proposal", "reason"]
    list_filter = ["status", "agent"]
