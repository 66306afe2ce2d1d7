"""The rows an admin bulk action is asked to act on must be ids of its model: anything else is
a 400 naming the value, before the action runs.

Django's changelist filters `pk__in` with the ticked boxes' values as sent, and a value that is
no id ('abc', '1.5', as only a hand-made form sends) raised a ValueError there: a 500 with a
traceback, in every admin (ours, axes', django-q's), where a short reason would do."""

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.http import HttpResponseBadRequest


def stranger_in(model, values: list[str]) -> str | None:
    """The first value that is no id of `model`, else None."""
    pk = model._meta.pk
    for value in values:
        try:
            pk.get_prep_value(pk.to_python(value))
        except (ValidationError, ValueError, TypeError):
            return value
    return None


class RefuseStrangeSelection:
    """Middleware: a changelist POST whose selection holds something that is no id is a 400."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        model_admin = getattr(view_func, "model_admin", None)  # set on each admin url's view
        if model_admin is None or request.method != "POST":
            return None
        if not (request.user.is_active and request.user.is_staff):
            return None  # the admin sends them to its login, as for any other page
        stranger = stranger_in(model_admin.model, request.POST.getlist(ACTION_CHECKBOX_NAME))
        if stranger is None:
            return None
        noun = model_admin.model._meta.verbose_name
        return HttpResponseBadRequest(
            f"{ACTION_CHECKBOX_NAME}: {stranger!r} is not a {noun}'s id.", content_type="text/plain"
        )
