"""The box under a policy's simulation report holds the value that was simulated, and "Save
this value" saves what it shows. Simulated from the Settings fields, the report replayed the
edit while the box beside "Save this value" still showed the old JSON; an edit typed into that
box and simulated again was ignored for the hidden Settings fields."""

import html
import json
import re
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from opscore.actions import set_policy
from opscore.models import Policy
from tests.factories import propose

pytestmark = pytest.mark.django_db
OLD = {"enabled": True, "allowed_step_kinds": ["noop"]}
URL = reverse("admin:opscore_policy_change", args=["auto_approve"])


def form_under_the_report(page) -> tuple[list[tuple[str, str]], dict]:
    """What the page's form would post: its hidden fields, and the JSON its value box shows."""
    text = page.content.decode()
    form = text[text.index('class="simulate-again"') :]
    hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)
    box = re.search(r'<textarea name="value"[^>]*>(.*?)</textarea>', form, re.S).group(1)
    return [(name, html.unescape(value)) for name, value in hidden], json.loads(html.unescape(box))


def post_as_the_page(client, pairs):
    return client.post(URL, urlencode(pairs), content_type="application/x-www-form-urlencoded")


def test_the_box_under_the_report_shows_the_value_simulated_and_saves_it(admin_client):
    set_policy("auto_approve", OLD, actor="t")
    edited = {"editor": "form", "p_enabled": "on", "p_allowed_step_kinds": ["noop", "analyze"]}

    page = admin_client.post(URL, edited | {"value": json.dumps(OLD), "_simulate": "1"})
    hidden, shown = form_under_the_report(page)
    pairs = [("value", json.dumps(shown)), ("reason", "r"), ("_save", "Save this value")]
    saved = post_as_the_page(admin_client, hidden + pairs)

    assert page.status_code == 200 and b"proposals replayed" in page.content
    assert shown["allowed_step_kinds"] == ["noop", "analyze"]
    assert saved.status_code == 302
    assert Policy.objects.get(key="auto_approve").value == shown


def test_an_edit_to_the_box_is_what_the_next_simulation_replays(admin_client, agent):
    set_policy("auto_approve", OLD, actor="t")
    propose(agent, "analyze")  # waits for a person under OLD
    edited = {"editor": "form", "p_enabled": "on", "p_allowed_step_kinds": ["noop", "analyze"]}
    first = admin_client.post(URL, edited | {"value": json.dumps(OLD), "_simulate": "1"})
    hidden, _ = form_under_the_report(first)
    typed = {"enabled": False, "allowed_step_kinds": ["noop"]}

    again = post_as_the_page(
        admin_client, [*hidden, ("value", json.dumps(typed)), ("_simulate", "1")]
    )

    assert b"1 proposals replayed, 1 decided differently" in first.content  # analyze let in
    assert b"1 proposals replayed, 0 decided differently" in again.content  # the box's value
