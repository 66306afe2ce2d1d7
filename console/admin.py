"""Agent tokens in the console: issue one (its secret shown once, on the page that follows),
see when each was last used, revoke it."""

from django.contrib import admin
from django.template.response import TemplateResponse

from console import admin_library  # noqa: F401  (django-q2's pages, as the console shows them)
from console.models import AgentToken, ChatMessage
from opscore.admin import ReadOnlyMixin, report
from opscore.admin_read_only import SavesNothing
from opscore.models import operator_actor


@admin.register(AgentToken)
class AgentTokenAdmin(SavesNothing, admin.ModelAdmin):
    list_display = ["hint", "agent", "name", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "agent"]
    list_select_related = ["agent"]
    search_fields = ["name", "agent__slug", "hint"]
    fields = ["agent", "name"]
    actions = ["revoke_tokens"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["agent", "name", "hint", "created_by", "last_used_at", "revoked_at", "revoked_by"]

    def get_fields(self, request, obj=None):
        return self.fields if obj is None else self.get_readonly_fields(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        issued, obj._secret = AgentToken.issue(
            obj.agent, obj.name, actor=operator_actor(request.user)
        )
        obj.pk = issued.pk

    def response_add(self, request, obj, post_url_continue=None):
        """The secret exists only in this response: never in a message cookie or the session."""
        context = {**self.admin_site.each_context(request), "token": obj, "secret": obj._secret}
        return TemplateResponse(request, "admin/console/token_issued.html", context)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_tokens(self, request, queryset):
        actor, revoked, left = operator_actor(request.user), 0, []
        for token in queryset:
            if token.revoke(actor=actor):
                revoked += 1
            else:  # revoked before, or since the list was read: by whom, from the row
                token.refresh_from_db()
                said = f"revoked by {token.revoked_by}"
                left.append(f"{token.hint}… ({token.name}): left as it is ({said})")
        report(self, request, revoked, "revoked", left)


@admin.register(ChatMessage)
class ChatMessageAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The chat as evidence: what each operator asked, what the coordinator answered from which
    rows, and which drafts became proposals (confirming happens on the Stage or `chat confirm`)."""

    list_display = ["id", "actor", "role", "short_text", "draft_state", "proposal", "created_at"]
    list_filter = ["role", "draft_state", "offline"]
    search_fields = ["text", "actor"]
    list_select_related = ["proposal"]

    @admin.display(description="text")
    def short_text(self, message):
        return message.text[:120]
