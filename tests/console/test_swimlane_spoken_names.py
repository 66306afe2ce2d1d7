"""The swimlane is one image to a screen reader (role="img"): its label names every lane's agent
whole, as the names drawn beside the lanes (a long slug ends in an ellipsis) cannot."""

import html
import re

import pytest

from tests.factories import AgentFactory, make_step

pytestmark = pytest.mark.django_db
LONG = "quarterly-revenue-forecast-analyst-eu-west"


def spoken(page: str) -> str:
    svg = re.search(r'<svg class="swimlane"[^>]*\baria-label="([^"]*)"', page)
    assert svg, "the swimlane has an aria-label"
    return html.unescape(svg[1])


def test_the_swimlane_label_names_every_lane_whole_and_which_are_off(client, settings):
    settings.STAGE_PUBLIC = True
    AgentFactory(slug=LONG)
    AgentFactory(slug="devops")
    retired = AgentFactory(slug="retired-forecast-analyst")
    make_step("noop", agent=retired)
    retired.enabled = False
    retired.save()

    page = client.get("/stage/swimlane?hours=1").content.decode()
    fragment = client.get("/stage/swimlane", headers={"HX-Request": "true"}).content.decode()

    assert spoken(page) == (
        "steps per agent over the last 1 hour, one lane each: devops, "
        f"{LONG}, retired-forecast-analyst (off)"
    )
    assert spoken(fragment).startswith("steps per agent over the last 6 hours, one lane each: ")
    assert LONG in spoken(fragment)


def test_a_swimlane_without_agents_says_so(client, settings):
    settings.STAGE_PUBLIC = True

    page = client.get("/stage/swimlane").content.decode()

    assert spoken(page) == "steps per agent over the last 6 hours: no agents yet"
