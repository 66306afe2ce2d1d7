from django import forms
from django.contrib import admin
from django.db.models import Count, Exists, OuterRef, Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from missions.admin_mission_control import MissionControlActions
from missions.admin_proposals import apply_each, proposal_url
from missions.admin_simulation import SimulatingPolicyAdmin
from missions.admin_threads import CommentAdmin  # noqa: F401 - registers it
from missions.admin_words import WordsDecisionInline, WordsDecisionMixin
from missions.models import (
    Artifact,
    ContentMetric,
    Mission,
    OutboxMessage,
    Proposal,
    Publication,
    Reaction,
    Step,
    StepAttempt,
    StepStatus,
    TriggerRule,
    TriggerSkip,
    Worker,
)
from missions.step_actions import cancel_mission, dead_letter_step, retry_step
from opscore.admin import (
    AuditAdmin,
    EvidenceInline,
    LineageMixin,
    ReadOnlyMixin,
    SafeJSONField,
    report,
)
from opscore.admin_audit import EditsRecorded
from opscore.admin_read_only import SavesWhatItChanged
from opscore.models import Agent, LLMCall, Policy, operator_actor


class StepInline(admin.TabularInline):
    model = Step
    fields = ["id", "position", "kind", "agent", "status", "attempt_count", "last_error"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Mission)
class MissionAdmin(MissionControlActions, LineageMixin, ReadOnlyMixin, admin.ModelAdmin):
    lineage_kind = "mission"
    readonly_fields = ["lineage"]
    list_display = [
        "id",
        "created_at",
        "agent",
        "title",
        "status",
        "paused",
        "deadline_at",
        "steps_done",
        "finished_at",
    ]
    list_filter = ["status", "agent"]
    search_fields = ["title"]
    date_hierarchy = "created_at"
    list_select_related = ["agent"]
    inlines = [StepInline]
    actions = ["cancel_missions", *MissionControlActions.control_actions]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_steps=Count("steps"),
                n_done=Count("steps", filter=Q(steps__status=StepStatus.SUCCEEDED)),
            )
        )

    @admin.display(description="paused", boolean=True)
    def paused(self, obj):
        return obj.paused_at is not None

    @admin.display(description="steps done")
    def steps_done(self, obj):
        return f"{obj.n_done}/{obj.n_steps}"

    @admin.action(description="Cancel selected missions", permissions=["change"])
    def cancel_missions(self, request, queryset):
        actor = operator_actor(request.user)
        done, refused = apply_each(queryset, lambda m: cancel_mission(m, actor=actor))
        report(self, request, done, "cancelled", refused)


class LastErrorFilter(admin.SimpleListFilter):
    title = "last error"
    parameter_name = "has_error"

    def lookups(self, request, model_admin):
        return [("yes", "Has an error"), ("no", "No error")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(last_error="")
        if self.value() == "no":
            return queryset.filter(last_error="")
        return queryset


class StepAttemptInline(EvidenceInline):
    model = StepAttempt
    fields = ["attempt_no", "worker_id", "started_at", "finished_at", "outcome", "error"]


@admin.register(Step)
class StepAdmin(WordsDecisionMixin, LineageMixin, ReadOnlyMixin, admin.ModelAdmin):
    lineage_kind = "step"
    readonly_fields = ["lineage"]
    list_display = [
        "id",
        "mission_link",
        "kind",
        "agent",
        "status",
        "attempts",
        "run_after",
        "short_error",
    ]
    list_filter = ["status", "kind", "agent", LastErrorFilter]
    search_fields = ["=id", "last_error", "blocked_reason", "dedupe_key"]
    list_select_related = ["agent", "mission"]
    inlines = [StepAttemptInline, WordsDecisionInline]
    actions = ["retry_steps", "dead_letter_steps"]  # words: approved from the step's page

    @admin.display(description="mission")
    def mission_link(self, obj):
        url = reverse("admin:missions_mission_change", args=[obj.mission_id])
        return format_html('<a href="{}">M{}</a>', url, obj.mission_id)

    @admin.display(description="attempts")
    def attempts(self, obj):
        return f"{obj.attempt_count}/{obj.max_attempts}"

    @admin.display(description="last error")
    def short_error(self, obj):
        error = obj.blocked_reason or obj.last_error
        return error if len(error) <= 80 else error[:77] + "..."

    @admin.action(description="Retry selected steps", permissions=["change"])
    def retry_steps(self, request, queryset):
        actor = operator_actor(request.user)
        done, refused = apply_each(queryset, lambda s: retry_step(s, actor=actor))
        report(self, request, done, "requeued", refused)

    @admin.action(description="Dead-letter selected steps", permissions=["change"])
    def dead_letter_steps(self, request, queryset):
        actor = operator_actor(request.user)
        reason = f"dead-lettered by {actor} from the admin"
        done, refused = apply_each(
            queryset, lambda s: dead_letter_step(s, actor=actor, reason=reason)
        )
        report(self, request, done, "dead-lettered", refused)


@admin.register(StepAttempt)
class StepAttemptAdmin(AuditAdmin):
    list_display = ["step", "attempt_no", "worker_id", "started_at", "finished_at", "outcome"]
    list_filter = ["outcome"]
    search_fields = ["=step__id", "worker_id", "error"]
    list_select_related = ["step"]


@admin.register(Artifact)
class ArtifactAdmin(AuditAdmin):
    list_display = ["id", "created_at", "kind", "title", "provenance", "offline", "step"]
    list_filter = ["kind", "provenance"]
    search_fields = ["title", "body"]

    def get_queryset(self, request):
        offline = LLMCall.objects.filter(step=OuterRef("step"), provider="offline")
        return super().get_queryset(request).annotate(made_offline=Exists(offline))

    @admin.display(description="offline stand-in", boolean=True)
    def offline(self, obj):
        """Written by the offline provider: deterministic stand-in words, not a model's. A
        standing order's finding has no step whose call says so; its metadata does."""
        return obj.made_offline or obj.metadata.get("provider") == "offline"


@admin.register(Publication)
class PublicationAdmin(AuditAdmin):
    """The status column reads "recorded locally, not published" for a post that never left."""

    list_display = [
        "id",
        "created_at",
        "channel",
        "status",
        "reason",
        "external_id",
        "url",
        "polls_done",
        "last_poll_error",
        "body",
    ]
    list_filter = ["channel", "status"]
    search_fields = ["body", "external_id", "reason"]


@admin.register(OutboxMessage)
class OutboxMessageAdmin(AuditAdmin):
    list_display = [
        "id",
        "created_at",
        "channel",
        "key",
        "status",
        "attempts",
        "last_attempt_at",
        "next_attempt_at",
        "last_error",
    ]
    list_filter = ["channel", "status"]
    search_fields = ["key", "last_error"]


@admin.register(Worker)
class WorkerAdmin(AuditAdmin):
    list_display = [
        "worker_id",
        "state",
        "host",
        "pid",
        "started_at",
        "last_seen_at",
        "stopped_at",
        "current_step",
        "steps_run",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).with_state()

    @admin.display(description="state", ordering="state")
    def state(self, worker):
        """Live, stale (went silent without a word: the columns alone read as a live one's)
        or stopped, against OPS_WORKER_STALE_SECONDS as `status` counts them."""
        return worker.state


class TriggerRuleForm(forms.ModelForm):
    conditions = SafeJSONField(required=False)
    action_config = SafeJSONField()
    topics = SafeJSONField(required=False)

    class Meta:
        model = TriggerRule
        fields = [
            "name",
            "trigger_event",
            "conditions",
            "action_config",
            "cooldown_minutes",
            "enabled",
            "proactive",
            "skip_probability",
            "jitter_min_minutes",
            "jitter_max_minutes",
            "topics",
        ]

    def clean_trigger_event(self):
        from missions.loop import CHECKERS

        key = self.cleaned_data["trigger_event"]
        if key not in CHECKERS:
            raise forms.ValidationError(f"unknown checker; known: {', '.join(sorted(CHECKERS))}")
        return key

    def clean_action_config(self):
        from missions.checkers import action_config_problem

        config = self.cleaned_data["action_config"]
        exists = lambda slug: Agent.objects.filter(slug=slug).exists()  # noqa: E731
        if problem := action_config_problem(config, exists):
            raise forms.ValidationError(problem)
        return config

    def clean_conditions(self):
        from missions.checkers import conditions_problem

        conditions = self.cleaned_data["conditions"]
        if not isinstance(conditions, dict):
            raise forms.ValidationError("must be a JSON object")
        if problem := conditions_problem(conditions):
            raise forms.ValidationError(problem)
        return conditions

    def clean_jitter_max_minutes(self):
        from missions.checkers import jitter_problem

        minutes = self.cleaned_data["jitter_max_minutes"]
        if minutes is not None and (problem := jitter_problem(minutes)):
            raise forms.ValidationError(problem)
        return minutes

    def clean_topics(self):
        from missions.checkers import topics_problem

        topics = self.cleaned_data["topics"]
        if topics_problem(topics):
            raise forms.ValidationError("must be a JSON list of strings")
        return topics


@admin.register(TriggerRule)
class TriggerRuleAdmin(EditsRecorded, SavesWhatItChanged, admin.ModelAdmin):
    form = TriggerRuleForm
    edit_event = "trigger.rule_"  # switched on, or what it proposes changed: an event
    list_display = [
        "name",
        "trigger_event",
        "enabled",
        "proactive",
        "cooldown_minutes",
        "fire_count",
        "last_fired_at",
        "last_evaluated_at",
    ]
    list_filter = ["enabled", "proactive", "trigger_event"]
    search_fields = ["name"]
    readonly_fields = [
        "fire_count",
        "last_fired_at",
        "last_evaluated_at",
        "dropped_until",
        "topic_position",
        "fired_proposals",
        "skipped_events",
    ]

    def has_delete_permission(self, request, obj=None):
        """A rule is disabled (untick "enabled"), not deleted: its skips would go with it."""
        return False

    def get_readonly_fields(self, request, obj=None):
        """A rule's name is what a pause-rule override names: renamed, the rule fired again
        under a pause that still read as holding it."""
        return [*self.readonly_fields, "name"] if obj else self.readonly_fields

    @admin.display(description="fire history")
    def fired_proposals(self, obj):
        proposals = Proposal.objects.filter(cause_ref=f"trigger_rule:{obj.pk}")[:20]
        return (
            format_html_join(
                "",
                '<li><a href="{}">P{}</a> {} ({})</li>',
                ((proposal_url(p), p.id, p.title, p.status) for p in proposals),
            )
            or "-"
        )

    @admin.display(description="skipped events")
    def skipped_events(self, obj):
        """What a drop pause of the triggers lane refused for this rule, and why."""
        skips = obj.skips.all()[:20]
        return format_html_join("", "<li>{} {}</li>", ((s.skipped, s.reason) for s in skips)) or "-"


@admin.register(TriggerSkip)
class TriggerSkipAdmin(AuditAdmin):
    list_display = ["id", "created_at", "rule", "event", "publication", "metric", "reason"]
    list_select_related = ["rule", "event", "publication", "metric"]
    list_filter = ["rule"]
    search_fields = ["reason"]


@admin.register(Reaction)
class ReactionAdmin(AuditAdmin):
    list_display = [
        "id",
        "created_at",
        "source_event",
        "target_agent",
        "reaction_type",
        "status",
        "reason",
        "proposal",
    ]
    list_filter = ["status", "target_agent", "reaction_type"]
    search_fields = ["reason"]


@admin.register(ContentMetric)
class ContentMetricAdmin(AuditAdmin):
    list_display = ["post_ref", "impressions", "engagements", "engagement_rate", "measured_at"]


admin.site.unregister(Policy)
admin.site.register(Policy, SimulatingPolicyAdmin)
from missions import admin_goals  # noqa: E402, F401  (goals and feedback)
