"""What an admin page may write: an edit page, the fields its form changed; a page with
nothing to change (every field read-only, every decision a button or an action of its own),
nothing at all. Django's Save writes every column as the request read it a moment before, so a
decision, a worker's move, an override or a lift that landed in between was undone."""

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
    """An existing row's read-only page has no Save (undone there: a proposal approved, its
    mission started, read `pending` again), and a POST to it (a stale tab, a script) writes
    nothing."""

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


class JudgedAsShown:
    """A form whose fields carry the values the page showed (Django's hidden initials), so
    "changed" means changed by the operator on that page, not unlike the row read at save. A
    post without them (a script) is judged against the row, as before."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            shown = field.hidden_widget().value_omitted_from_data
            posted = self.is_bound and not shown(
                self.data, self.files, self.add_initial_prefix(name)
            )
            field.show_hidden_initial = posted or not self.is_bound


class SavesWhatItChanged:
    """An edit writes the columns its form changed (and `also_saved`, set by save_model), never
    those it shows read-only or leaves out (undone there: an agent's `enabled` a disable-agent
    override switched off, a trigger rule's cursor a pass moved, a remembered item's status).
    Changed is judged against what the page showed: a column a workflow moved while the page
    was open (a calibrated confidence) keeps the workflow's value."""

    also_saved: tuple[str, ...] = ()

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        return form if obj is None else type(form.__name__, (JudgedAsShown, form), {})

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        columns = {field.name for field in obj._meta.concrete_fields}
        obj.save(update_fields=[n for n in (*form.changed_data, *self.also_saved) if n in columns])
