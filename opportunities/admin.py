"""The operator's triage: accept, reject with notes, park, convert — each a review row through
the lane's own actions; ideas beside them, with why each is an idea."""

from django.contrib import admin, messages

from opportunities.actions import DecisionRefused, convert_opportunity, triage
from opportunities.calibration import COLUMNS, calibration_table
from opportunities.models import (
    ChannelAccount,
    Idea,
    Opportunity,
    OpportunityReview,
    ScoutWeight,
)
from opportunities.publishing import (
    ChannelRefused,
    approve_channel,
    local_reason,
    unblock_channel,
)
from opscore.admin import EvidenceInline, ReadOnlyMixin
from opscore.admin_overrides import reasoned_action
from opscore.models import operator_actor


class ReviewInline(EvidenceInline):
    model = OpportunityReview
    fields = ["created_at", "decision", "reviewer", "notes"]


def decide_each(modeladmin, request, queryset, decision: str, notes: str = "") -> None:
    actor, done, refused = operator_actor(request.user), 0, []
    for opportunity in queryset:
        try:
            triage(opportunity, decision, reviewer=actor, notes=notes)
            done += 1
        except DecisionRefused as reason:
            refused.append(str(reason))
    if done:
        modeladmin.message_user(request, f"{done} {decision}.", messages.SUCCESS)
    for reason in refused:
        modeladmin.message_user(request, reason, messages.WARNING)


@admin.register(Opportunity)
class OpportunityAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "created_at", "source_agent", "theme", "title", "impact", "confidence"]
    list_display += ["urgency", "reversibility", "status", "untrusted_reason"]
    list_filter = ["status", "theme", "source_agent", "reversibility", "impact"]
    search_fields = ["title", "why_now", "dedupe_key"]
    inlines = [ReviewInline]
    actions = ["accept", "reject", "park", "convert"]

    @admin.action(description="Accept selected", permissions=["change"])
    def accept(self, request, queryset):
        decide_each(self, request, queryset, "accepted", "accepted in the admin")

    @admin.action(description="Park selected", permissions=["change"])
    def park(self, request, queryset):
        decide_each(self, request, queryset, "parked", "parked in the admin")

    @reasoned_action(
        "Reject selected…",
        heading="Reject {n} opportunity(ies)",
        label=lambda o: f"O{o.id} — {o.title}",
        button="Reject",
        kept_with="kept with each review",
    )
    def reject(self, request, queryset, notes):
        decide_each(self, request, queryset, "rejected", notes)

    @admin.action(description="Convert selected (a proposal for its owner)", permissions=["change"])
    def convert(self, request, queryset):
        actor = operator_actor(request.user)
        for opportunity in queryset:
            owner = opportunity.owner_candidate_id or opportunity.source_agent_id
            try:
                done = convert_opportunity(
                    opportunity, converted_by=actor, target_agent=owner, operator=request.user
                )
                self.message_user(request, f"O{done.id} → P{done.proposal_id}", messages.SUCCESS)
            except DecisionRefused as reason:
                self.message_user(request, str(reason), messages.WARNING)


@admin.register(Idea)
class IdeaAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "created_at", "source_agent", "theme", "title", "status", "kept_because"]
    list_display += ["untrusted_reason"]
    list_filter = ["status", "theme", "source_agent"]
    search_fields = ["title", "body", "dedupe_key"]


@admin.register(ScoutWeight)
class ScoutWeightAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Recorded adjustments, and above them each scout's calibration table (90 days)."""

    list_display = ["id", "created_at", "scout", "previous", "weight", "reason", "decided_by"]
    list_filter = ["scout"]

    def has_change_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        weights = ScoutWeight.objects.current()
        table = {
            slug: entry | {"weight": weights.get(slug, 1.0)}
            for slug, entry in calibration_table().items()
        }
        context = (extra_context or {}) | {"calibration": table, "columns": COLUMNS}
        return super().changelist_view(request, context)


@admin.register(ChannelAccount)
class ChannelAccountAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Each publishing channel: publishing for real or recorded locally, approved, blocked."""

    list_display = ["name", "publishes", "approved_at", "approved_by", "blocked_at"]
    list_display += ["blocked_reason"]
    actions = ["approve", "unblock"]

    @admin.display(description="publishes")
    def publishes(self, obj):
        return local_reason(obj.name) or "yes"

    @admin.action(description="Approve the first post on selected", permissions=["change"])
    def approve(self, request, queryset):
        self.each(request, queryset, approve_channel)

    @admin.action(description="Unblock selected (credential fixed)", permissions=["change"])
    def unblock(self, request, queryset):
        self.each(request, queryset, unblock_channel)

    def each(self, request, queryset, act):
        for row in queryset:
            try:
                act(row.name, actor=operator_actor(request.user))
                self.message_user(request, f"{row.name}: done", messages.SUCCESS)
            except ChannelRefused as refused:
                self.message_user(request, str(refused), messages.WARNING)
