"""Give task's per-kind fields: an input is named `<kind>-<field>` so two kinds' fields never
collide, and errors and typed values are looked up by that name."""

from django import template

register = template.Library()


@register.simple_tag
def field_name(kind, field) -> str:
    return f"{kind.name}-{field.name}"


@register.simple_tag
def field_error(errors: dict, name: str):
    return errors.get(name)


@register.simple_tag
def field_value(values: dict, name: str) -> str:
    return values.get(name, "")
