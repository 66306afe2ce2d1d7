"""`{% max_reason %}`: the longest reason a person may type (opscore.text.MAX_REASON), for the
inputs that ask for one, so what a browser lets through is what the server keeps."""

from django import template

from opscore.text import MAX_REASON

register = template.Library()


@register.simple_tag
def max_reason() -> int:
    return MAX_REASON
