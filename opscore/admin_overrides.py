"""Overrides in the admin: a form with a preview before anything changes (kind, target, reason,
expiry — no JSON), and Lift with a reason. The same functions as the CLI and the API."""

import functools

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from opscore.admin_read_only import SavesNothing
from opscore.models import OverrideStatus, operator_actor
from opscore.overrides import (
    OVERRIDE_KINDS,
    OverrideRefused,
    apply_override,
    lift_override,
    preview_override,
)
from opscore.text import MAX_REASON, ReasonRefused, checked_reason, clean_reason


def confirm_with_reason(model_admin, request, **context):
    """The page a bulk action shows first: what it will touch, and a required reason."""
    context = {
        **model_admin.admin_site.each_context(request),
        "empty": "Nothing selected.",
    } | context
    return TemplateResponse(request, "admin/confirm_with_reason.html", context)


def reasoned_action(description, *, heading, label, button, kept_with, narrow=None, **page):
    """A bulk admin action that first shows what it will touch and asks for a reason, then
    calls the decorated `apply(model_admin, request, queryset, reason)` with it.

    `heading` is formatted with `n` (how many rows); `label(row)` names a row; `narrow(queryset)`
    keeps the rows the action can act on (pending ones, active ones) for the page and for apply.
    Each selected row it leaves out is named, with its status, on the page and again after
    apply (it may have been decided in between): a mixed selection loses none silently.
    The reason is checked once, before any row, by the rule every surface applies
    (opscore.text.checked_reason): one refused (nothing left once hidden characters are gone,
    or past MAX_REASON) touches no row, and the page asks again, saying why.
    `blank=True`: the text is not a reason (a revision's notes); it reaches apply as typed,
    blank included, for its workflow to refuse (and record) as it would from any other surface.
    `permissions` (default change) and the rest of `page` go to admin.action and to the page.
    """
    permissions = page.pop("permissions", ["change"])
    blank = page.pop("blank", False)

    def decorate(apply):
        @admin.action(description=description, permissions=permissions)
        @functools.wraps(apply)
        def action(model_admin, request, queryset):
            rows = list(narrow(queryset) if narrow else queryset)  # read once: apply changes it
            left = left_out(queryset, rows, label)
            if "apply" in request.POST:
                try:
                    reason = typed_reason(request, blank)
                except ReasonRefused as refused:
                    model_admin.message_user(request, f"Nothing done: {refused}", messages.ERROR)
                else:
                    apply(model_admin, request, rows, reason)
                    for line in left:
                        model_admin.message_user(request, line, messages.WARNING)
                    return None
            return confirm_with_reason(
                model_admin,
                request,
                heading=heading.format(n=len(rows)),
                rows=[{"pk": row.pk, "label": label(row)} for row in rows],
                selected=[row.pk for row in queryset],
                left=left,
                action=action.__name__,
                button=button,
                kept_with=kept_with,
                **page,
            )

        return action

    return decorate


def report(modeladmin, request, done: int, verb: str, refused: list[str]):
    """What a bulk action did ("3 rejected.", said only when it did something), then each row
    it refused or left, and why."""
    if done:
        modeladmin.message_user(request, f"{done} {verb}.", messages.SUCCESS)
    for reason in refused:
        modeladmin.message_user(request, reason, messages.WARNING)


def left_out(queryset, rows, label) -> list[str]:
    """The selected rows a narrowed action leaves as they are, each named with its status."""
    kept = {row.pk for row in rows}
    return [f"{label(row)}: left as it is ({row.status})" for row in queryset if row.pk not in kept]


class ReasonField(forms.CharField):
    """A reason typed in an admin form, kept and measured as every reason is (clean_reason, at
    most MAX_REASON): the form's own required and length checks see the text as it will be
    kept, so one of nothing but hidden characters is a missing one, not a saved one."""

    def __init__(self, **kwargs):
        super().__init__(max_length=MAX_REASON, **kwargs)

    def to_python(self, value):
        return clean_reason(super().to_python(value))


def typed_reason(request, blank: bool) -> str:
    typed = request.POST.get("reason", "")
    return typed.strip() if blank else checked_reason(typed, needed_by="this action")


EXPIRIES = [("", "until lifted"), ("15m", "15 minutes"), ("1h", "1 hour"), ("4h", "4 hours")]
EXPIRIES += [("1d", "1 day"), ("7d", "7 days")]


class OverrideForm(forms.Form):
    """Target and expiry follow the chosen kind: its targets as a list (a free id where there
    is none), and no expiry for a kind that acts once (apply_override would refuse one)."""

    kind = forms.ChoiceField(
        # console/override_kind.js reloads the form for the kind chosen: no inline handler,
        # which the admin's Content-Security-Policy refuses
        widget=forms.Select(attrs={"data-reload-as": "kind"})
    )
    target = forms.CharField(
        max_length=200,
        required=False,
        help_text="A lane, agent slug, kind:<step kind> or agent:<slug>, or a mission, step or "
        "remembered item id — the preview says what it matches.",
    )
    reason = ReasonField(widget=forms.Textarea(attrs={"rows": 2}))
    expires = forms.ChoiceField(choices=EXPIRIES, required=False, help_text="standing kinds")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", "— choose —")] + [
            (name, kind_label(OVERRIDE_KINDS[name])) for name in OVERRIDE_KINDS.names()
        ]
        kind = OVERRIDE_KINDS.get(str(self["kind"].value() or "").replace("-", "_"))
        if kind is None:
            return
        if not kind.standing:
            del self.fields["expires"]
        if kind.targets is None:
            self.fields["target"].help_text = f"{kind_label(kind)}: its id or name."
        else:
            # a CharField still: a stale or typed value reaches kind.check, which says why
            choices = [("", "— choose —"), *kind.targets()]
            self.fields["target"].widget = forms.Select(choices=choices)
            self.fields["target"].help_text = ""

    def clean(self):
        cleaned = super().clean()
        cleaned.setdefault("expires", "")
        return cleaned


def kind_label(kind) -> str:
    """What it does ("Pause the lane…", "Drain…") and whether it stays in force."""
    does = kind.description[:1].upper() + kind.description[1:]
    return f"{does}… ({'until lifted or expired' if kind.standing else 'acts once'})"


class OverrideAdmin(SavesNothing, admin.ModelAdmin):
    """Rows are written by apply/lift only: the admin shows them and offers those two."""

    list_display = ["id", "created_at", "kind", "target", "status", "reason", "actor"]
    list_display += ["expires_at", "lifted_by"]
    list_filter = ["status", "kind"]
    search_fields = ["target", "reason", "actor"]
    actions = ["lift_selected"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        may_apply = {"may_apply": self.has_change_permission(request)}
        return super().changelist_view(request, may_apply | (extra_context or {}))

    def get_urls(self):
        view = self.admin_site.admin_view(self.apply_view)
        return [path("apply/", view, name="opscore_override_apply"), *super().get_urls()]

    def apply_view(self, request):
        """First POST shows the preview; the second (with `confirm`) applies it. Applying is
        changing what is in force: it needs the overrides' change permission, as lifting does."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = OverrideForm(request.POST or None, initial=request.GET.dict())
        preview = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                preview = preview_override(data["kind"], data["target"], data.get("expires"))
                if "confirm" in request.POST:
                    row = apply_override(
                        data["kind"],
                        data["target"],
                        reason=data["reason"],
                        actor=operator_actor(request.user),
                        expires=data.get("expires") or None,
                    )
                    self.message_user(request, f"Override {row.id} applied.", messages.SUCCESS)
                    return redirect("admin:opscore_override_changelist")
            except OverrideRefused as refused:
                form.add_error(None, str(refused))
                preview = None
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "preview": preview,
            "opts": self.model._meta,
            "title": "Apply an override",
        }
        return TemplateResponse(request, "admin/opscore/apply_override.html", context)

    @reasoned_action(
        "Lift selected overrides…",
        narrow=lambda queryset: queryset.filter(status=OverrideStatus.ACTIVE),
        heading="Lift {n} override(s)",
        label=lambda o: f"{o.id} — {o.kind} {o.target}: {o.reason}",
        button="Lift",
        kept_with="kept with each override",
        empty="None of the selected overrides is in force.",
    )
    def lift_selected(self, request, active, reason):
        actor, lifted, refused = operator_actor(request.user), 0, []
        for row in active:
            try:
                lift_override(row.id, actor=actor, reason=reason)
                lifted += 1
            except OverrideRefused as why:  # lifted or expired since the list was shown
                refused.append(str(why))
        report(self, request, lifted, "lifted", refused)
