"""A URL on a row the admin only shows is text, never a link. Django makes a URLField a link
on a read-only page and in a changelist column, and the URLs kept on such rows are words
Opscore did not write (a crawled page's address, the post URL a channel answered with): one
click in the operator's own console would open them, with the console's authority. The
operator can still read and copy one; it says it is untrusted."""

import functools

from django.db import models
from django.utils.html import format_html


def url_columns(model) -> list[str]:
    return [f.name for f in model._meta.fields if isinstance(f, models.URLField)]


def untrusted_url(value: str):
    if not value:
        return "-"
    return format_html('<span class="untrusted-url">{}</span> (untrusted; not a link)', value)


@functools.cache
def url_as_text(field: models.URLField):
    """A column of the admin's own (a callable, as list_display and readonly_fields take one)
    that shows `field` as text, labelled and sorted as the field would be: one per field, the
    same each time asked (the list's sortable columns are matched to it by identity)."""

    def shown(obj):
        return untrusted_url(getattr(obj, field.name))

    shown.__name__ = field.name
    shown.short_description = field.verbose_name
    shown.admin_order_field = field.name
    return shown


def urls_as_text(model, names) -> list:
    """`names` with each URLField of `model` among them swapped for its text column."""
    urls = {name: model._meta.get_field(name) for name in url_columns(model)}
    return [url_as_text(urls[n]) if isinstance(n, str) and n in urls else n for n in names]


class UrlsAsText:
    """For an admin whose fields are read-only: its URLFields are left out of its form and
    shown by their text column, in its list and on its page (`urls_as_text` on the page's
    read-only fields is the admin's own, as it lists them)."""

    def get_list_display(self, request):
        return urls_as_text(self.model, super().get_list_display(request))

    def get_exclude(self, request, obj=None):
        return [*(super().get_exclude(request, obj) or ()), *url_columns(self.model)]
