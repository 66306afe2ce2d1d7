from django.contrib import admin

from memory.models import Memory
from opscore.admin import AuditAdmin


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


@admin.register(Memory)
class MemoryAdmin(AuditAdmin):
    list_display = ["id", "created_at", "agent", "type", "confidence", "status", "content"]
    list_filter = ["type", "status", "agent", ConfidenceFilter]
    search_fields = ["content", "source_trace_id"]
