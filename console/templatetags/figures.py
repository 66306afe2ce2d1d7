"""`{{ goal.target|figure }}`: a goal's number as a person reads it (1,000,000,000,000; 2.5),
as the admin, the CLI and the digest print it (missions.models.goals.figure)."""

from django import template

from missions.models.goals import figure as readable

register = template.Library()


@register.filter
def figure(value) -> str:
    return "" if value is None else readable(float(value))
