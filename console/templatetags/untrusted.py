"""Text a model, a chat or an outside runtime wrote, shown inert: `{{ value|reveal }}` names each
character that hides or reorders text where it stands (⟨U+202E⟩), so an override cannot make
'evil' read 'live' on a page. Escaping still follows, as for any other value; HTML already made
safe (an admin page's read-only field or changelist cell) stays safe: a name holds no markup."""

from django import template
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeData, mark_safe

from missions.text import reveal_invisible

register = template.Library()


@register.filter(is_safe=True)
def reveal(value) -> str:
    return reveal_invisible("" if value is None else str(value))


@register.filter
def reveal_each(items) -> list:
    """A nested list of names (a deletion's objects, each a link the admin built) with each
    revealed: what was markup stays markup, for unordered_list."""
    return [
        reveal_each(item) if isinstance(item, list | tuple) else revealed(item) for item in items
    ]


def revealed(item):
    shown = reveal(item)
    return mark_safe(shown) if isinstance(item, SafeData) else shown


@register.filter
def same_site(url, host: str = "") -> bool:
    """May a stored URL (a chat citation) be a link: a path on this site, or http(s) to this
    host? A `javascript:` or `data:` one would run a script at a click; it is shown as text.
    `{% if c.url|same_site:request.get_host %}`"""
    if not isinstance(url, str) or not url:
        return False
    return url_has_allowed_host_and_scheme(url, allowed_hosts={host} if host else None)
