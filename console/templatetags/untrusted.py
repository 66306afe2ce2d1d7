"""Text a model, a chat or an outside runtime wrote, shown inert: `{{ value|reveal }}` names each
character that hides or reorders text where it stands (⟨U+202E⟩), so an override cannot make
'evil' read 'live' on a page. Escaping still follows, as for any other value; HTML already made
safe (an admin page's read-only field or changelist cell) stays safe: a name holds no markup."""

from django import template

from missions.text import reveal_invisible

register = template.Library()


@register.filter(is_safe=True)
def reveal(value) -> str:
    return reveal_invisible("" if value is None else str(value))
