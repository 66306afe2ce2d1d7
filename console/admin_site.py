"""The admin as the operator's console: titled so, operator models first, library ones last,
and an index that opens with health, pending approvals and the overrides in force."""

from django.contrib import admin

from console.admin_guards import guarded
from console.sign_in import AdminSignInForm

APP_ORDER = ["missions", "opscore", "memory", "roundtable", "console", "opportunities"]
APP_ORDER += ["coding", "auth"]
LAST = ["axes", "django_q"]
MODEL_ORDER = ["Proposal", "Mission", "Step", "Agent", "StandingOrder", "Override"]


def _rank(app) -> tuple[int, int]:
    label = app["app_label"]
    if label in LAST:
        return (2, LAST.index(label))
    return (0 if label in APP_ORDER else 1, APP_ORDER.index(label) if label in APP_ORDER else 0)


def _model_rank(model) -> tuple[int, str]:
    name = model["object_name"]
    return (MODEL_ORDER.index(name) if name in MODEL_ORDER else len(MODEL_ORDER), model["name"])


class OpscoreAdminSite(admin.AdminSite):
    site_header = "Opscore console"
    site_title = "Opscore console"
    index_title = "Operations"
    login_form = AdminSignInForm

    def get_app_list(self, request, app_label=None):
        apps = sorted(super().get_app_list(request, app_label), key=_rank)
        for app in apps:
            app["models"].sort(key=_model_rank)
        return apps

    def admin_view(self, view, cacheable=False):
        """Every admin page (library ones too) goes through here: the guards for what Django
        would let through to a 500 stand in front of it, after the sign-in check."""
        return super().admin_view(guarded(view), cacheable)

    def index(self, request, extra_context=None):
        from console.stage.health import health_summary

        return super().index(request, (extra_context or {}) | {"health": health_summary()})
