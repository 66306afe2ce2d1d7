"""A goal's numbers read as a person reads them wherever it is shown (the Stage, the admin,
the CLI, the daily digest): thousands grouped, at most two decimals, none when whole — not
'0 of 1000000000000 (0%)', '1e+12' or '2.50'. JSON keeps the plain numbers."""

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from console.order_handlers import goal_lines
from missions.goals import add_goal
from missions.models.goals import figure

pytestmark = pytest.mark.django_db
BIG = {"title": "Ship a lot", "metric": "missions_succeeded", "target": 1e12, "owner": "devops"}


@pytest.mark.parametrize(
    "value, shown",
    [
        (0, "0"),
        (2, "2"),
        (2.5, "2.5"),
        (1 / 3, "0.33"),
        (1234.5678, "1,234.57"),
        (1e12, "1,000,000,000,000"),
    ],
)
def test_a_figure_groups_thousands_and_keeps_at_most_two_decimals(value, shown):
    assert figure(value) == shown


@pytest.fixture
def big(agent):
    return add_goal(BIG | {"deadline": "30d"}, actor="operator:test")


def test_the_stage_shows_a_large_target_grouped(client, big):
    listing = client.get("/stage/goals").content.decode()
    page = client.get(f"/stage/goals/{big.id}").content.decode()

    for html in (listing, page):
        assert "<b>0</b> of 1,000,000,000,000 (0%)" in html
        assert "1000000000000" not in html.replace('aria-valuemax="1000000000000"', "")
    assert "at least the target 1,000,000,000,000 ·" in page


def test_the_admin_cli_and_digest_show_it_grouped(admin_client, big):
    changelist = admin_client.get(reverse("admin:missions_goal_changelist")).content.decode()
    out = io.StringIO()
    call_command("goal", "show", str(big.id), stdout=out)
    shown = io.StringIO()
    call_command("goal", "--json", "show", str(big.id), stdout=shown)

    assert "1,000,000,000,000" in changelist and "1000000000000" not in changelist
    assert "missions_succeeded 0 / 1,000,000,000,000 (at_least" in out.getvalue()
    assert f"- G{big.id} Ship a lot: missions_succeeded 0 of 1,000,000,000,000 (" in goal_lines()[1]
    assert json.loads(shown.getvalue())["target"] == 1e12
