"""Change pages with nothing to change: every field read-only, every decision a button or an
action of its own."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

NOT_SAVED = (
    "Nothing was saved: every field on this page is read-only. Its decisions are the buttons "
    "on the page and the actions of its list."
)
NO_SAVE_BUTTONS = dict.fromkeys(
    ["show_save", "show_save_and_continue", "show_save_and_add_another"], False
)


class SavesNothing:
    """Django offers Save on such a page, and its Save writes the whole row back as the request
    read it a moment before: a decision, a worker's move or a lift that landed in between is
    undone (a proposal approved, its mission started, read `pending` again). So an existing
    row's page has no Save, and a POST to it (a stale tab, a script) writes nothing."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if object_id is None:
            return super().changeform_view(request, object_id, form_url, extra_context)
        if request.method == "POST":
            if not self.has_change_permission(request):
                raise PermissionDenied
            self.message_user(request, NOT_SAVED, messages.WARNING)
            return redirect(request.get_full_path())
        context = NO_SAVE_BUTTONS | (extra_context or {})
        return super().changeform_view(request, object_id, form_url, context)
