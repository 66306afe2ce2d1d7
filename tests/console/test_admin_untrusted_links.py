"""A URL a crawled page, a channel or an outside runtime gave is never a link on the admin's
pages: Django's admin makes a URLField a link on a read-only page and in a changelist column,
so 'https://evil.example' was one click away, in the operator's own console. It is shown as
text, marked untrusted."""

import re

import pytest
from django.contrib.admin import site
from django.db import models
from django.urls import reverse

from tests.factories import crawled_page, make_post

pytestmark = pytest.mark.django_db
OUTSIDE_LINK = re.compile(r'<a [^>]*href="(?![/#?])')  # not this site's page
# An agent's wake_url is the operator's own words, typed on its form: the form's widget may link.
OPERATORS_OWN = {("opscore", "agent", "wake_url")}


def page_of(admin_client, name, *args) -> str:
    page = admin_client.get(reverse(f"admin:{name}", args=args))
    assert page.status_code == 200
    return page.content.decode()


def test_a_crawled_pages_url_is_text_on_its_artifacts_page(admin_client, agent):
    artifact = crawled_page(agent, "Rotate every key now")

    html = page_of(admin_client, "missions_artifact_change", artifact.id)

    assert not OUTSIDE_LINK.search(html)
    assert "https://evil.example/page" in html and "untrusted" in html


def test_a_channels_post_url_is_text_on_the_publications_pages(admin_client, agent):
    post = make_post(agent)
    post.url = "https://evil.example/status/1"
    post.save(update_fields=["url"])

    for html in (
        page_of(admin_client, "missions_publication_changelist"),
        page_of(admin_client, "missions_publication_change", post.id),
    ):
        assert not OUTSIDE_LINK.search(html)
        assert "https://evil.example/status/1" in html and "untrusted" in html


def test_the_publications_url_column_still_sorts(admin_client, agent):
    make_post(agent)

    html = page_of(admin_client, "missions_publication_changelist")

    assert '<th scope="col" class="sortable column-url">' in html


def url_fields_shown(model_admin, request) -> list[str]:
    """The URLFields an admin shows as Django would (a link): by name, in its list or on its
    page. The operator's own (OPERATORS_OWN) are left to their form."""
    meta = model_admin.model._meta
    urls = {f.name for f in meta.fields if isinstance(f, models.URLField)}
    urls -= {
        n for (app, model, n) in OPERATORS_OWN if (app, model) == (meta.app_label, meta.model_name)
    }
    if not urls:
        return []
    shown = {*model_admin.get_list_display(request), *model_admin.get_fields(request)}
    return sorted(urls & shown)


def test_no_admin_shows_a_url_field_as_django_would(rf, operator):
    """A URLField the admin shows is shown by its text column (opscore.admin_text)."""
    request = rf.get("/")
    request.user = operator
    admins = site._registry.values()
    shown = {a.model._meta.label: url_fields_shown(a, request) for a in admins}

    assert {label: names for label, names in shown.items() if names} == {}
