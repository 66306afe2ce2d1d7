from django.contrib import admin
from django.db.models import Count
from django.utils.html import format_html, format_html_join

from opscore.admin import AuditAdmin, EvidenceInline, ReadOnlyMixin
from roundtable.models import Conversation, Relationship, Turn


class TurnInline(EvidenceInline):
    model = Turn
    fields = ["index", "speaker", "interaction", "text"]


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "created_at", "format", "topic", "status", "source", "turn_count"]
    list_filter = ["status", "format", "source"]
    search_fields = ["topic", "error"]
    inlines = [TurnInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(turns_spoken=Count("turns"))

    @admin.display(description="turns", ordering="turns_spoken")
    def turn_count(self, obj):
        return obj.turns_spoken


@admin.register(Relationship)
class RelationshipAdmin(AuditAdmin):
    list_display = ["agent_a", "agent_b", "affinity", "total_interactions", "backstory"]
    list_filter = ["agent_a", "agent_b"]
    readonly_fields = ["drift_history"]

    @admin.display(description="drift log (last 20)")
    def drift_history(self, obj):
        rows = format_html_join(
            "",
            "<li>{} → {} ({}, conversation C{})</li>",
            ((e["drift"], e["affinity"], e["reason"], e["conversation"]) for e in obj.drift_log),
        )
        return format_html("<ul>{}</ul>", rows) if obj.drift_log else "-"
