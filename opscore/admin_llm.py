"""The ledger of model calls in the admin: each call with what it was sent and answered
(collapsed), the versions in force and what it served; the replays of them; each day's spend."""

import json

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from opscore.models import LLMCall, LLMCallRecord, LLMSpend, ReplayRun


class EvidenceAdmin(admin.ModelAdmin):
    """Rows that are evidence: shown, never added, changed or deleted from a form."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def collapsed(title: str, value) -> str:
    body = value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=True)
    return format_html("<details><summary>{}</summary><pre>{}</pre></details>", title, body)


@admin.register(LLMCall)
class LLMCallAdmin(EvidenceAdmin):
    list_display = [
        "id",
        "created_at",
        "agent",
        "purpose",
        "provider",
        "model",
        "outcome",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "latency_ms",
    ]
    list_filter = ["outcome", "provider", "agent", "purpose"]
    search_fields = ["error", "prompt_version", "model"]
    list_select_related = ["agent", "record"]
    readonly_fields = ["sent", "answered", "versions_in_force", "served"]

    @admin.display(description="request as sent")
    def sent(self, obj):
        record = LLMCallRecord.objects.filter(pk=obj.pk).first()
        if record is None or record.request_z is None:
            why = record.pruned_reason if record else "no record was kept"
            return format_html("<i>not kept: {}</i>", why)
        request = record.request
        parts = [collapsed("system", request["system"])]
        parts += [collapsed(m.get("role", "?"), m.get("content", "")) for m in request["messages"]]
        parts.append(collapsed("tools and parameters", request | {"system": "…", "messages": "…"}))
        return format_html_join("", "{}", ((part,) for part in parts))

    @admin.display(description="reply as received")
    def answered(self, obj):
        record = LLMCallRecord.objects.filter(pk=obj.pk).first()
        if record is None or record.reply_z is None:
            return "-"
        reply = record.reply
        return collapsed("reply" if "text" in reply else "error", reply.get("text", reply))

    @admin.display(description="versions in force")
    def versions_in_force(self, obj):
        return collapsed(f"prompt {obj.versions.get('prompt', obj.prompt_version)}", obj.versions)

    @admin.display(description="served")
    def served(self, obj):
        pairs = ((key, value) for key, value in sorted(obj.links.items()))
        harness = f" · harness {obj.harness}" if obj.harness else ""
        return format_html_join(" · ", "{} {}", pairs) + harness


@admin.register(ReplayRun)
class ReplayRunAdmin(EvidenceAdmin):
    list_display = ["id", "created_at", "subject", "subject_id", "mode", "outcome", "calls"]
    list_filter = ["outcome", "mode", "subject"]
    list_select_related = ["diverged_at"]
    readonly_fields = ["readable_report"]

    @admin.display(description="report")
    def readable_report(self, obj):
        from opscore.replay import readable

        return format_html("<pre>{}</pre>", readable(obj))


@admin.register(LLMSpend)
class LLMSpendAdmin(EvidenceAdmin):
    """Each day's spend per agent and lane, as the budget check reads it (kept by a trigger)."""

    list_display = ["day", "agent_slug", "lane", "usd", "calls"]
    list_filter = ["lane", "day"]
    search_fields = ["agent_slug"]
    ordering = ["-day", "-usd"]
