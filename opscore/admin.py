import json

from django import forms
from django.contrib import admin
from django.db import models
from django.forms.fields import InvalidJSONInput, JSONString
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from opscore import admin_llm  # noqa: F401  (registers the LLM ledger's pages)
from opscore.actions import AgentSwitchHeld, set_agent_enabled, set_policy
from opscore.admin_audit import EditsRecorded
from opscore.admin_overrides import OverrideAdmin, ReasonField, report
from opscore.admin_read_only import SavesNothing, SavesWhatItChanged
from opscore.admin_text import UrlsAsText, urls_as_text
from opscore.inputs import InputRefused, parse_json
from opscore.models import (
    ActionRun,
    Agent,
    BackupRun,
    Event,
    IdempotencyKey,
    Override,
    Policy,
    PolicyVersion,
    StandingOrder,
    StandingOrderRun,
    operator_actor,
)
from opscore.overrides import OverrideRefused, refuse_owned_change
from opscore.policies import SCHEMAS, PolicyError, validate_policy
from opscore.policy_forms import PREFIX, initial_values, overlay, typed_fields
from opscore.prompting import voice_modifiers
from opscore.schedules import sync_order_schedules
from opscore.standing_orders import HANDLERS, PRECONDITIONS


class ReadOnlyMixin(UrlsAsText, SavesNothing):
    """Rows written by workflows: the admin shows them (and its actions act on them through
    those workflows), but nobody adds, edits or deletes them from a form. A URL on them is
    text, never a link (opscore.admin_text)."""

    def get_readonly_fields(self, request, obj=None):
        shown = self.fields or [f.name for f in self.model._meta.fields]
        return urls_as_text(
            self.model, [*shown, *(f for f in self.readonly_fields if f not in shown)]
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LineageMixin:
    """A link from a row's page to the lineage walk (console's page, reached by URL name)."""

    lineage_kind = ""

    @admin.display(description="lineage")  # the admin adds its ":" to a field's label
    def lineage(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        url = reverse("admin-lineage", args=[self.lineage_kind, obj.pk])
        return format_html('<a href="{}">why did this happen? causes and effects →</a>', url)


class AuditAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Audit rows are evidence: viewed, never changed, not even through an action."""

    def has_change_permission(self, request, obj=None):
        return False


class EvidenceInline(ReadOnlyMixin, admin.TabularInline):
    """Rows shown beside their parent as evidence."""

    extra = 0
    can_delete = False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Agent)
class AgentAdmin(EditsRecorded, SavesWhatItChanged, admin.ModelAdmin):
    edit_event = "agent."  # agent.added, agent.changed: its runtime, wake URL, limits
    list_display = [
        "slug",
        "display_name",
        "role",
        "enabled",
        "daily_proposal_limit",
        "max_concurrent_steps",
        "runtime",
        "roster",
    ]
    list_filter = ["enabled", "runtime", "roster"]
    search_fields = ["slug", "display_name", "role"]
    # A wake URL typed without a scheme is read as https, as Django 6 will (no warning meanwhile).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    # Overrides own both switches (disable-agent, drain agent:<slug>): shown, never edited here.
    readonly_fields = ["enabled", "draining", "created_at", "voice_in_force"]
    actions = ["enable_agents", "disable_agents"]

    @admin.display(description="voice in force (with what its memories taught it)")
    def voice_in_force(self, obj):
        if obj is None or not obj.pk:
            return "-"
        modifiers = voice_modifiers(obj.slug)
        evolved = (
            format_html(
                "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((m,) for m in modifiers))
            )
            if modifiers
            else format_html("<p>{}</p>", "No personality evolution yet.")
        )
        return format_html(
            "<p><code>{}</code></p>{}<pre>{}</pre>",
            obj.voice_version(modifiers),
            evolved,
            obj.voice(modifiers),
        )

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "slug"] if obj else self.readonly_fields

    def _set_enabled(self, request, queryset, enabled: bool):
        actor, changed, refused = operator_actor(request.user), 0, []
        verb = "enabled" if enabled else "disabled"
        for agent in queryset:
            try:
                if set_agent_enabled(agent, enabled, actor=actor):
                    changed += 1
                else:
                    refused.append(f"{agent.slug}: left as it is ({verb} already)")
            except AgentSwitchHeld as held:
                refused.append(str(held))
        report(self, request, changed, verb, refused)

    @admin.action(description="Enable selected agents", permissions=["change"])
    def enable_agents(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable selected agents", permissions=["change"])
    def disable_agents(self, request, queryset):
        self._set_enabled(request, queryset, False)


class SafeJSONField(forms.JSONField):
    """JSON within the input limits: a huge, deep, NUL-carrying or non-finite value is a form
    error, not a 500 (Django's own field recurses once per nesting level)."""

    def to_python(self, value):
        if self.disabled or value in self.empty_values or not isinstance(value, str):
            return super().to_python(value)
        try:
            converted = parse_json(value, "value")
        except InputRefused as refused:
            raise forms.ValidationError(refused.message, code="invalid") from None
        return JSONString(converted) if isinstance(converted, str) else converted

    def bound_data(self, data, initial):
        if self.disabled:
            return initial
        try:
            return parse_json(data or "null", "value")
        except InputRefused:
            return InvalidJSONInput(data)


EDITORS = [("form", "the Settings fields"), ("json", "the JSON value")]


class PolicyForm(forms.ModelForm):
    """A policy's typed fields (PolicyAdmin.get_form adds them per key) and its raw JSON: the
    `editor` choice says which one is saved; either way validate_policy has the last word."""

    editor = forms.ChoiceField(
        choices=EDITORS, initial="form", required=False, widget=forms.RadioSelect, label="Save from"
    )
    value = SafeJSONField(widget=forms.Textarea(attrs={"rows": 14, "cols": 80}))
    reason = ReasonField(help_text="Why: kept with the version row")

    class Meta:
        model = Policy
        fields = ["key", "value"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.typed = [name for name in self.fields if name.startswith(PREFIX)]
        if self.instance.pk:
            for name, item in initial_values(self.instance.key, self.instance.value).items():
                self.initial.setdefault(name, item)
        # A post without `editor` (the CLI-era form, scripts) is the JSON it always was.
        self.by_form = bool(self.typed) and self.data.get("editor") == "form"
        for name in ["value"] if self.by_form else self.typed:
            self.fields[name].required = False

    def clean(self):
        cleaned = super().clean()
        for name in ["value"] if self.by_form else self.typed:
            self._errors.pop(name, None)  # the editor not chosen is not saved, nor judged
        if self.by_form:
            cleaned["value"] = overlay(self.instance.value, cleaned)
        key = cleaned.get("key") or (self.instance.key if self.instance.pk else None)
        if key and "value" in cleaned:
            try:
                stored = Policy.objects.filter(key=key).values_list("value", flat=True).first()
                cleaned["value"] = validate_policy(key, cleaned["value"], stored=stored)
                refuse_owned_change(key, cleaned["value"])
            except (PolicyError, OverrideRefused) as problem:
                self.add_error(self.field_named_in(str(problem)), str(problem))
        return cleaned

    def field_named_in(self, message: str) -> str | None:
        """The typed field a schema message names, so the error shows beside it."""
        if not self.by_form:
            return "value"
        named = (n for n in self.typed if f" {n.removeprefix(PREFIX)}:" in message)
        return next(named, None)


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    form = PolicyForm
    list_display = ["key", "version", "short_value", "updated_at", "updated_by"]
    search_fields = ["key"]
    readonly_fields = ["version", "updated_at", "updated_by", "history"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "key"] if obj else self.readonly_fields

    def get_form(self, request, obj=None, **kwargs):
        typed = typed_fields(obj.key, obj.value) if obj else {}
        kwargs["form"] = type(self.form.__name__, (self.form,), typed)
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        """Typed fields first; the JSON view stays beside them for what has no plain widget."""
        names = self.get_fields(request, obj)
        typed = [n for n in names if n.startswith(PREFIX)]
        head = [n for n in names if n in ("key", "version", "updated_at", "updated_by")]
        sets = [(None, {"fields": head})]
        if typed:
            sets.append(("Settings", {"fields": typed}))
        json_help = "Every field, including tables and rules the settings above do not show."
        sets.append(("JSON", {"fields": ["value"], "description": json_help}))
        sets.append((None, {"fields": (["editor"] if typed else []) + ["reason", "history"]}))
        return sets

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "key":
            return forms.ChoiceField(choices=[(k, k) for k in SCHEMAS])
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="value")
    def short_value(self, obj):
        text = json.dumps(obj.value)
        return text if len(text) <= 90 else text[:87] + "..."

    def save_model(self, request, obj, form, change):
        """Every save goes through set_policy, which versions it."""
        saved = set_policy(
            obj.key,
            form.cleaned_data["value"],
            actor=operator_actor(request.user),
            reason=form.cleaned_data.get("reason", ""),
        )
        obj.pk = saved.pk
        obj.refresh_from_db()

    @admin.display(description="history")
    def history(self, obj):
        versions = obj.versions.order_by("-version")[:20] if obj.pk else []
        rows = format_html_join(
            "",
            "<li>v{} — {} by {}: {} <code>{}</code></li>",
            (
                (v.version, v.changed_at, v.changed_by, v.reason, json.dumps(v.new_value))
                for v in versions
            ),
        )
        return format_html("<ul>{}</ul>", rows) if versions else "-"


@admin.register(PolicyVersion)
class PolicyVersionAdmin(AuditAdmin):
    list_display = ["policy", "version", "changed_at", "changed_by", "reason"]
    list_filter = ["policy"]
    search_fields = ["changed_by", "reason"]


@admin.register(Event)
class EventAdmin(LineageMixin, AuditAdmin):
    lineage_kind = "event"
    readonly_fields = ["lineage"]
    list_display = ["id", "created_at", "kind", "agent", "title", "mission_link", "actor"]
    list_filter = ["kind", "agent"]
    search_fields = ["title", "summary", "kind", "tags"]
    date_hierarchy = "created_at"
    list_select_related = ["agent"]
    show_full_result_count = False

    @admin.display(description="mission")
    def mission_link(self, obj):
        if not obj.mission_id:
            return ""
        url = reverse("admin:missions_mission_change", args=[obj.mission_id])
        return format_html('<a href="{}">M{}</a>', url, obj.mission_id)


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(AuditAdmin):
    """Which API writes were retried with a key, and the answer every retry gets (24 h)."""

    list_display = ["key", "scope", "response_status", "created_at"]
    search_fields = ["key"]


@admin.register(ActionRun)
class ActionRunAdmin(AuditAdmin):
    list_display = ["id", "started_at", "trigger", "status", "duration_ms", "reason"]
    list_filter = ["status", "trigger"]


class StandingOrderForm(forms.ModelForm):
    class Meta:
        model = StandingOrder
        fields = [
            "agent",
            "name",
            "cron",
            "timezone",
            "grace_minutes",
            "timeout_minutes",
            "enabled",
            "handler",
            "precondition",
            "instructions",
            "phase",
        ]

    def clean_handler(self):
        handler = self.cleaned_data["handler"]
        if handler not in HANDLERS:
            raise forms.ValidationError(f"unknown handler; known: {', '.join(sorted(HANDLERS))}")
        return handler

    def clean_precondition(self):
        name = self.cleaned_data["precondition"]
        if name and name not in PRECONDITIONS:
            known = ", ".join(sorted(PRECONDITIONS))
            raise forms.ValidationError(f"unknown precondition; known: {known}")
        return name


@admin.register(StandingOrder)
class StandingOrderAdmin(EditsRecorded, SavesWhatItChanged, admin.ModelAdmin):
    form = StandingOrderForm
    edit_event = "standing_order."
    list_display = ["name", "agent", "cron", "timezone", "enabled", "handler", "phase"]
    list_filter = ["enabled", "agent", "phase", "handler"]
    search_fields = ["name", "instructions"]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        sync_order_schedules()


@admin.register(StandingOrderRun)
class StandingOrderRunAdmin(AuditAdmin):
    list_display = ["order", "scheduled_for", "status", "summary", "finished_at"]
    list_filter = ["status", "order__agent", "order"]
    search_fields = ["summary"]
    date_hierarchy = "scheduled_for"
    list_select_related = ["order"]


admin.site.register(Override, OverrideAdmin)


@admin.register(BackupRun)
class BackupRunAdmin(AuditAdmin):
    list_display = ["id", "started_at", "kind", "status", "actor", "size_bytes", "duration_ms"]
    list_display += ["pruned_at", "error"]
    list_filter = ["kind", "status"]
