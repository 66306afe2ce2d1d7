"""Goals and feedback in the admin. A goal's form validates through the same schema as the CLI
and the API and saves through add_goal / revise_goal (a revision asks for its reason and is a
version row); closing is an action asking a reason. Versions and snapshots are evidence."""

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from missions.feedback import FeedbackInvalid, check_feedback, record_feedback
from missions.goal_metrics import METRICS
from missions.goal_schemas import GoalInvalid, parse_terms
from missions.goals import (
    add_goal,
    close_goal,
    goal_state,
    measured_snapshots,
    revise_goal,
    revised_since,
    unchanged_note,
)
from missions.models import Feedback, Goal, GoalVersion, Rating
from missions.models.goals import figure
from opscore.admin import AuditAdmin, report
from opscore.admin_overrides import ReasonField, reasoned_action
from opscore.db import db_now
from opscore.models import operator_actor

TERMS = ["title", "why", "metric", "scope", "target", "direction", "owner"]


class GoalForm(forms.ModelForm):
    metric = forms.ChoiceField(
        choices=[(m.name, f"{m.name} — {m.label}") for m in METRICS.values()]
    )
    deadline = forms.CharField(help_text="30d, 12w, 2027-03-31, or an ISO time with its zone")
    reason = ReasonField(required=False, help_text="why it changes (required for a revision)")
    seen_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Goal
        fields = TERMS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["deadline"].initial = self.instance.deadline_at.isoformat()
            self.fields["seen_version"].initial = self.instance.version

    def terms(self) -> dict:
        data = {k: self.cleaned_data.get(k) for k in TERMS}
        data["owner"] = data["owner"].slug if data["owner"] else ""
        return data | {"deadline": self.cleaned_data.get("deadline", "")}

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        if self.instance.pk and not cleaned.get("reason"):
            self.add_error("reason", "a revision needs a reason (kept on its version row)")
        if self.instance.pk and (stale := revised_since(self.instance.pk, cleaned["seen_version"])):
            self.add_error(None, stale)  # the admin's transaction holds the lock to the save
        try:
            parse_terms(self.terms(), db_now())
        except GoalInvalid as invalid:
            for field, messages in invalid.errors.items():
                self.add_error(field if field in self.fields else None, "; ".join(messages))
        return cleaned


@reasoned_action(
    "Close (selected goals), judged met or not…",
    heading="Close {n} goal(s)",
    label=lambda g: f"G{g.id} — {g.title} ({g.status})",
    button="Close",
    kept_with="kept on the goal and its event",
)
def close_goals(model_admin, request, queryset, reason):
    done, refused = 0, []
    for goal in queryset:
        try:
            close_goal(goal.pk, actor=operator_actor(request.user), reason=reason)
            done += 1
        except GoalInvalid as invalid:
            refused.append(str(invalid))
    report(model_admin, request, done, "closed", refused)


@admin.register(Goal)
class GoalAdmin(admin.ModelAdmin):
    form = GoalForm
    list_display = ["__str__", "status", "metric", "target_figure", "direction", "progress_now"]
    list_display += ["deadline_at", "owner", "version", "met"]
    list_filter = ["status", "metric", "owner", "met"]
    list_select_related = ["owner"]
    search_fields = ["title", "why"]
    readonly_fields = ["status", "version", "starts_at", "met", "final_value", "closed_at"]
    readonly_fields += ["closed_by", "close_reason", "stage_link", "history", "measured"]
    actions = [close_goals]

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        """The user's permission first: a closed goal is changed by no one."""
        may = super().has_change_permission(request, obj)
        return may and (obj is None or obj.is_active)

    @admin.display(description="target", ordering="target")
    def target_figure(self, obj):
        return figure(obj.target)

    @admin.display(description="now")
    def progress_now(self, obj):
        """The figure, its share of the target and where it stands, as on the Stage."""
        state = goal_state(obj)
        return f"{figure(state['value'])} ({state['progress']:.0%}, {state['verdict']})"

    @admin.display(description="Stage")
    def stage_link(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        return format_html('<a href="{}">progress →</a>', reverse("stage-goal", args=[obj.pk]))

    def save_model(self, request, obj, form, change):
        """Every save goes through add_goal / revise_goal, which version it."""
        actor = operator_actor(request.user)
        if change:
            reason = form.cleaned_data["reason"]
            saved = revise_goal(obj.pk, form.terms(), actor=actor, reason=reason)
            obj.unchanged = saved.unchanged
        else:
            saved = add_goal(form.terms(), actor=actor)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def response_change(self, request, obj):
        """A save that changed no term made no version: said so, not 'changed successfully'."""
        if not getattr(obj, "unchanged", False):
            return super().response_change(request, obj)
        self.message_user(request, unchanged_note(obj.pk, obj.version), messages.WARNING)
        return self.response_post_save_change(request, obj)

    @admin.display(description="versions")
    def history(self, obj):
        versions = obj.versions.order_by("-version")[:20] if obj.pk else []
        rows = format_html_join(
            "",
            "<li>v{} — {} by {}: {} <code>{}</code></li>",
            ((v.version, v.changed_at, v.changed_by, v.reason, v.new_value) for v in versions),
        )
        return format_html("<ul>{}</ul>", rows) if versions else "-"

    @admin.display(description="snapshots (newest first)")
    def measured(self, obj):
        points = measured_snapshots(obj).order_by("-taken_at")[:20] if obj.pk else []
        shown = ((p.taken_at, figure(p.value)) for p in points)
        rows = format_html_join("", "<li>{}: {}</li>", shown)
        return format_html("<ul>{}</ul>", rows) if points else "-"


@admin.register(GoalVersion)
class GoalVersionAdmin(AuditAdmin):
    list_display = ["goal", "version", "changed_at", "changed_by", "reason"]
    list_filter = ["goal"]


class FeedbackForm(forms.ModelForm):
    mission_id = forms.IntegerField(required=False, min_value=1)
    artifact_id = forms.IntegerField(required=False, min_value=1)
    publication_id = forms.IntegerField(required=False, min_value=1)
    rating = forms.ChoiceField(choices=Rating.choices)

    class Meta:
        model = Feedback
        fields = ["rating", "reason"]

    def output(self) -> dict:
        names = ("mission", "artifact", "publication")
        return {k: self.cleaned_data[f"{k}_id"] for k in names if self.cleaned_data.get(f"{k}_id")}

    def clean(self):
        cleaned = super().clean()
        try:
            check_feedback(
                rating=cleaned.get("rating"), reason=cleaned.get("reason"), **self.output()
            )
        except FeedbackInvalid as invalid:
            for field, messages in invalid.errors.items():
                self.add_error(None, f"{field}: {'; '.join(messages)}")
        return cleaned


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    """Ratings are evidence: added through record_feedback, never edited or deleted."""

    form = FeedbackForm
    list_display = ["__str__", "rating", "reason", "given_by", "created_at"]
    list_filter = ["rating"]
    search_fields = ["reason"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        saved = record_feedback(
            rating=form.cleaned_data["rating"],
            reason=form.cleaned_data["reason"],
            actor=operator_actor(request.user),
            **form.output(),
        )
        obj.pk = saved.pk
        obj.refresh_from_db()
