"""Browsers ask every page's host for /favicon.ico; the admin's pages name no icon, so the
answer was a 404 in the console of every admin page."""

import pytest
from django.contrib.staticfiles import finders


@pytest.mark.django_db
def test_favicon_ico_points_at_the_stage_icon(client):
    answer = client.get("/favicon.ico")

    assert answer.status_code == 302
    assert answer["Location"].endswith("stage/favicon.svg")
    assert finders.find("stage/favicon.svg")
