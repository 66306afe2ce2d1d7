"""What a page offers follows who may act: a form its reader may not submit is replaced by the
reason (console.stage.access is the one rule, for the views and for the pages)."""

from django import template

from console.stage.access import why_not_operate

register = template.Library()


@register.simple_tag(takes_context=True)
def why_not_act(context, permission: str = "") -> str:
    """'' when the page's reader may take the action needing `permission`; else the reason."""
    request = context.get("request")
    return why_not_operate(getattr(request, "user", None), permission)
