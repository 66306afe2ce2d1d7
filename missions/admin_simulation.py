"""The policy form's "Simulate" button: the edited value, validated exactly as a save would
validate it, replayed over recent traffic (missions.simulation_report) and shown before anything
is saved. Lives here, not in opscore.admin, because the simulator reads missions' rows."""

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from missions.simulation import SimulationRefused, parse_since
from missions.simulation_report import simulate_policy
from opscore.admin import PolicyAdmin

WINDOWS = ["1d", "3d", "7d", "14d"]


class SimulatingPolicyAdmin(PolicyAdmin):
    change_form_template = "admin/missions/policy/change_form.html"

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and "_simulate" in request.POST:
            return self.simulate_view(request, object_id)
        context = (extra_context or {}) | {"simulation_windows": WINDOWS}
        return super().changeform_view(request, object_id, form_url, context)

    def simulate_view(self, request, object_id):
        """Nothing is saved: a valid value gets its report, an invalid one the form's errors."""
        # the admin's links quote the key (content_policy → content_5Fpolicy), as Django's own
        # change view unquotes before its get_object
        obj = self.get_object(request, unquote(object_id)) if object_id else None
        allowed = (
            self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        )
        if not allowed:  # whoever may not save a value may not try one either
            raise PermissionDenied
        form = self.get_form(request, obj)(request.POST, instance=obj)
        form.fields["reason"].required = False  # asked for when the value is saved
        report, error = None, ""
        if form.is_valid():
            key = obj.key if obj else form.cleaned_data["key"]
            try:
                since = parse_since(request.POST.get("since", "7d"))
                report = simulate_policy(key, form.cleaned_data["value"], since=since)
            except SimulationRefused as refused:
                error = str(refused)
            form = self.shown_as_simulated(request, obj, key, form.cleaned_data["value"])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": obj,
            "form": form,
            "report": report,
            "error": error,
            "title": "Simulated: nothing was saved",
        }
        return TemplateResponse(request, "admin/missions/policy/simulation.html", context)

    def shown_as_simulated(self, request, obj, key: str, value):
        """The page's one value is the one simulated, saved from the JSON box as shown: from
        the typed fields, the box held the stored value while hidden fields were saved."""
        initial = {"value": value, "editor": "json", "key": key}
        return self.get_form(request, obj)(instance=obj, initial=initial)
