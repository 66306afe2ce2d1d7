"""The goals pages in a real browser at a desktop and a phone width: the progress line and
the missions under a goal render, hostile or overlong text stays inert and never spills."""

from datetime import timedelta

import pytest
from django.db.models.functions import Now

from missions.goals import add_goal
from missions.models import GoalSnapshot, Mission
from tests.console.test_stage_browser import ARTIFACTS, CHROMIUM, FLAGS, require_browser, server  # noqa: F401
from tests.factories import AgentFactory, propose

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
HOSTILE = "<script>window.pwned = 1</script><img src=x onerror='window.pwned = 1'>"
LONG_WORD = "throughput" * 40


def a_goal_with_history():
    agent = AgentFactory(slug="devops")
    terms = {"title": f"Ship {HOSTILE} {LONG_WORD[:100]}", "why": f"Because {LONG_WORD}"}
    terms |= {"metric": "missions_succeeded", "scope": "goal", "target": 4, "owner": "devops"}
    goal = add_goal(terms | {"deadline": "30d"}, actor="operator:test")
    for day, value in [(1, 0), (3, 1), (6, 2)]:
        GoalSnapshot.objects.create(
            goal=goal, value=value, taken_at=goal.starts_at + timedelta(days=day)
        )
    proposal = propose(agent, "noop", goal=goal.id, title=f"Weekly report {LONG_WORD[:150]}")
    Mission.objects.filter(proposal=proposal).update(status="succeeded", finished_at=Now())
    return goal


def test_the_goal_pages_render_progress_inert_at_desktop_and_phone_widths(server):  # noqa: F811
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    goal = a_goal_with_history()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for width in (1440, 390):
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(f"{server}/stage/goals")
            expect(page.locator(f"#goal-{goal.id}")).to_contain_text("missions_succeeded")
            page.screenshot(path=str(ARTIFACTS / f"goals-{width}.png"), full_page=True)
            page.click(f"#goal-{goal.id} h3 a")
            expect(page.locator(".goal-chart polyline.measured")).to_have_count(1)
            expect(page.locator(".goal-missions")).to_contain_text("Weekly report")
            expect(page.locator(".goal-figure")).to_contain_text("1 of 4 (25%)")
            page.screenshot(path=str(ARTIFACTS / f"goal-{width}.png"), full_page=True)
            assert page.evaluate("window.pwned") is None
            assert HOSTILE in page.locator("h2").first.inner_text()
            chart = page.locator(".goal-chart").bounding_box()
            assert 0 < chart["width"] <= width
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 1, f"the goal page spills {overflow}px sideways at {width}px"
            page.close()
        browser.close()
