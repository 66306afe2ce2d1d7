"""An operator's add, edit or removal through the admin leaves an event, as a policy's change
does (set_policy's policy.changed): who, which fields, from what to what. Django's own log
names the fields but not the values, and never reaches the feed, the lineage or a query of
events; a repository's trust zone or a standing order's schedule changed there without a
trace anyone would find. The values are redacted of secrets, as every event's payload is."""

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q

from opscore.actions import record_event
from opscore.models import Agent, operator_actor

ADMIN_TAG = "admin"  # on every edit's event, beside the model's name


def made_in_the_admin() -> Q:
    """Events that are an operator's edit in the admin, whatever their kind (a repository's,
    a person's, a task resubmitted): configuration, not company activity. The tag alone is not
    enough: an outside runtime's topic words become its event's tags (`ops.admin`), and its
    actor is never an operator."""
    return Q(tags__contains=[ADMIN_TAG], actor__startswith="operator:")


def stored(value):
    """A column's value as an event's payload can hold it (a date, a decimal: as text)."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def value_of(obj, field):
    if field.many_to_many:  # a person's permissions, a group's: their names, sorted
        return sorted(str(row) for row in getattr(obj, field.name).all())
    return stored(field.value_from_object(obj))


def fields_of(obj, names) -> dict:
    fields = {f.name: f for f in [*obj._meta.concrete_fields, *obj._meta.many_to_many]}
    return {n: fields[n] for n in names if n in fields}


def columns_of(obj, names) -> dict:
    return {n: value_of(obj, field) for n, field in fields_of(obj, names).items()}


class EditsRecorded:
    """A model admin whose saves and deletions are events: `edit_event` then `added`,
    `changed` or `deleted` (in a namespace Opscore reserves from outside runtimes). A save that
    changed nothing writes none. What was there is read before the save, what is there after
    its related rows (a person's permissions) are saved too."""

    edit_event = ""  # e.g. "standing_order.": standing_order.added, standing_order.changed

    def save_model(self, request, obj, form, change):
        shown = form.changed_data if change else list(form.fields)
        names = list(fields_of(obj, shown))
        old = type(obj)._default_manager.get(pk=obj.pk) if change else None
        form.edited_before = columns_of(old, names) if old else dict.fromkeys(names)
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        before, obj = getattr(form, "edited_before", {}), form.instance
        if before or not change:
            after = columns_of(obj, before)
            edits = {n: {"old": before[n], "new": after[n]} for n in before}
            self.record_edit(request, obj, obj.pk, "changed" if change else "added", edits)

    def delete_model(self, request, obj):
        pk = obj.pk  # Django forgets it once the row is gone
        super().delete_model(request, obj)
        self.record_edit(request, obj, pk, "deleted", {})

    def delete_queryset(self, request, queryset):
        gone = [(obj, obj.pk) for obj in queryset]
        super().delete_queryset(request, queryset)
        for obj, pk in gone:
            self.record_edit(request, obj, pk, "deleted", {})

    def record_edit(self, request, obj, pk, verb: str, edits: dict) -> None:
        actor = operator_actor(request.user)
        what = f": {', '.join(edits)}" if edits and verb == "changed" else ""
        done = verb.replace("_", " ")  # password_set: "password set"
        record_event(
            f"{self.edit_event}{verb}",
            f"{obj._meta.verbose_name.capitalize()} {obj} {done} in the admin{what}",
            tags=[ADMIN_TAG, obj._meta.model_name],
            payload={"model": obj._meta.label, "id": stored(pk), "changed": edits},
            actor=actor,
            agent_id=obj.pk if isinstance(obj, Agent) else getattr(obj, "agent_id", None),
        )
