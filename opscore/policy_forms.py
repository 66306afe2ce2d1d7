"""Typed form fields from a policy's pydantic schema, so an operator edits a number as a number
and a switch as a checkbox instead of hand-writing JSON. Fields with no plain widget (tables,
nested rules) stay in the JSON view; either way the value goes through validate_policy.
"""

import typing

import annotated_types
from django import forms
from pydantic.fields import FieldInfo

from opscore.overrides import OWNED
from opscore.policies import SCHEMAS
from opscore.policy_names import NamesIn

PREFIX = "p_"  # keeps schema names clear of the form's own (key, value, reason)


def typed_fields(key: str | None, stored: dict | None = None) -> dict[str, forms.Field]:
    """Form field per schema field that has a plain widget, named PREFIX + the field's name."""
    schema = SCHEMAS.get(key or "")
    if schema is None:
        return {}
    built = {}
    for name, info in schema.model_fields.items():
        field = form_field(info, (stored or {}).get(name))
        if field is not None:
            field.label = name.replace("_", " ")
            field.help_text = field.help_text or (info.description or "")
            if key in OWNED and (OWNED[key] is None or name in OWNED[key]):
                field.disabled = True  # shown, never posted: refuse_owned_change would refuse
                field.help_text = "changes only through an override (admin → Overrides)"
            built[PREFIX + name] = field
    return built


def form_field(info: FieldInfo, current) -> forms.Field | None:
    kind, args = typing.get_origin(info.annotation), typing.get_args(info.annotation)
    bounds = limits(info)
    if info.annotation is bool:
        return forms.BooleanField(required=False)
    if info.annotation is int:
        return forms.IntegerField(**bounds)
    if info.annotation is float:
        return forms.FloatField(widget=forms.NumberInput(attrs={"step": "any"}), **bounds)
    if info.annotation is str:
        return forms.CharField(required=False, max_length=max_length(info), strip=False)
    if kind is typing.Literal:
        return forms.ChoiceField(choices=[(a, a) for a in args])
    if kind is list and args:
        return list_field(args[0], names_marker(info), current)
    return None


def list_field(item, marker: NamesIn | None, current) -> forms.Field | None:
    """Known names (step kinds, channels) as checkboxes; other strings comma-separated."""
    if typing.get_origin(item) is typing.Literal:
        names = list(typing.get_args(item))
    elif item is str and marker is not None:
        names = sorted(set(marker.known()) | set(current or []))  # an old name stays visible
    elif item is str:
        return CommaSeparatedField(required=False, help_text="comma-separated")
    else:
        return None
    return forms.MultipleChoiceField(
        choices=[(n, n) for n in names], required=False, widget=forms.CheckboxSelectMultiple
    )


class CommaSeparatedField(forms.CharField):
    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value):
        parts = (super().to_python(value) or "").split(",")
        return [part.strip() for part in parts if part.strip()]


def limits(info: FieldInfo) -> dict:
    """min/max for the number input; strict bounds (gt/lt) are left to the schema's message."""
    bounds = {}
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge):
            bounds["min_value"] = meta.ge
        if isinstance(meta, annotated_types.Le):
            bounds["max_value"] = meta.le
    return bounds


def max_length(info: FieldInfo) -> int | None:
    found = [m.max_length for m in info.metadata if isinstance(m, annotated_types.MaxLen)]
    return found[0] if found else None


def names_marker(info: FieldInfo) -> NamesIn | None:
    annotation = info.annotation
    markers = [m for m in info.metadata if isinstance(m, NamesIn)]
    if not markers and typing.get_origin(annotation) is typing.Annotated:
        markers = [m for m in annotation.__metadata__ if isinstance(m, NamesIn)]
    return markers[0] if markers else None


def initial_values(key: str, value: dict) -> dict:
    return {PREFIX + name: item for name, item in (value or {}).items() if key in SCHEMAS}


def overlay(base: dict, cleaned: dict) -> dict:
    """The stored value with each typed field's new value laid over it."""
    typed = {k[len(PREFIX) :]: v for k, v in cleaned.items() if k.startswith(PREFIX)}
    return {**(base or {}), **typed}
