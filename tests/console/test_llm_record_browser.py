"""What a model call was sent and answered, opened on a mission's page in a real browser at
1440 and 390 px: its long lines wrap inside the page; nothing runs past the screen's edge."""

import pytest

from missions.actions import submit_proposal
from missions.models import Mission
from missions.worker import handle_one_step
from tests.console.test_stage_browser import (  # noqa: F401
    CHROMIUM,
    FLAGS,
    require_browser,
    server,
    sign_in_to_the_admin,
)
from tests.factories import OperatorFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
LONG_LINE = "disk usage per volume, " * 20  # one line of a prompt, as a topic may well be


def test_an_opened_calls_prompt_and_reply_wrap_inside_the_page(server, agent):  # noqa: F811
    """A call's system prompt, messages and reply were shown in bare <pre> blocks, which never
    wrap: a prompt line longer than the column (most are) ran past the screen's edge once a
    person opened the call, and the whole page scrolled sideways."""
    require_browser()
    from playwright.sync_api import sync_playwright

    OperatorFactory()
    steps = [{"kind": "analyze", "payload": {"topic": LONG_LINE}}]
    proposal = submit_proposal(
        {"agent": agent.slug, "title": "Disk usage", "steps": steps}, source="api"
    )
    mission = Mission.objects.get(proposal=proposal.proposal)
    assert handle_one_step("w1")
    assert mission.steps.get().llm_calls.exists()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        sign_in_to_the_admin(page, server)
        for width in (1440, 390):
            page.set_viewport_size({"width": width, "height": 844})
            page.goto(f"{server}/stage/missions/{mission.id}")
            page.click("details.llm-call summary")
            assert page.locator(".llm-record pre").first.is_visible()
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"the page is {wide} px wide at {width} px"
        browser.close()
