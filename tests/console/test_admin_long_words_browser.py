"""The console in a real browser at 1440 and 390 px: a 200-character title without a space and a
3,000-character error without one (a blob a model or an outside runtime wrote) wrap inside their
boxes. They widened the mission's page to 25,000 px, the title cut off under its own edge; on
its lineage page ("why did this happen?") the title ran 1,142 px past a 1440 px window. On a
phone the scouts' calibration table pushed the scout weights page 421 px past the screen."""

import os
from pathlib import Path

import pytest

from missions.models import Mission, Step
from tests.console.test_stage_browser import (  # noqa: F401
    CHROMIUM,
    FLAGS,
    require_browser,
    server,
    sign_in_to_the_admin,
)
from tests.factories import AgentFactory, OperatorFactory, make_opportunity, make_step, propose

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("OPS_SHOTS_DIR") or Path(__file__).parent.parent / "artifacts")

# How far the page and the title's box reach past what they show, and how many lines of the
# object's name print under the History button.
SPILL = """() => {
  const underTools = (heading) => {
    const tools = document.querySelector('.object-tools').getBoundingClientRect();
    const range = document.createRange();
    range.selectNodeContents(heading);
    return [...range.getClientRects()].filter((line) => line.right > tools.left
      && line.left < tools.right && line.top < tools.bottom && tools.top < line.bottom).length;
  };
  const title = document.querySelector('.field-title div.readonly');
  return {
    page: document.scrollingElement.scrollWidth - innerWidth,
    title: title.scrollWidth - title.clientWidth,
    cut: title.getBoundingClientRect().right - title.parentElement.getBoundingClientRect().right,
    under: underTools(document.querySelector('#content > h2')),
  };
}"""


def signed_in_admin(playwright, base, width: int):
    """A page of a fresh Chromium, signed in to the admin, `width` px wide."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
    page = browser.new_page(viewport={"width": width, "height": 900})
    sign_in_to_the_admin(page, base)
    return page


def wider_than_the_screen(page) -> int:
    return page.evaluate("document.scrollingElement.scrollWidth - innerWidth")


def a_mission_with_long_words() -> Mission:
    step = make_step("analyze", agent=AgentFactory(slug="devops"))
    Step.objects.filter(pk=step.pk).update(last_error="Traceback " + "E" * 3000)
    Mission.objects.filter(pk=step.mission_id).update(title="M" * 200)
    return step.mission


def test_long_words_wrap_on_the_missions_admin_page(server, monkeypatch):  # noqa: F811
    require_browser()
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    OperatorFactory()
    mission = a_mission_with_long_words()
    make_opportunity(AgentFactory(slug="scout"))  # a row in the calibration table
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        page = signed_in_admin(playwright, server, 1440)
        for width in (1440, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{server}/admin/missions/mission/{mission.id}/change/")
            spill = page.evaluate(SPILL)
            page.screenshot(path=str(SHOTS / f"admin-long-words-{width}.png"))
            assert max(spill.values()) <= 0, f"{spill} at {width} px"
            for name, path in [
                ("lineage", f"/admin/lineage/mission/{mission.id}/"),
                ("scout-weights", "/admin/opportunities/scoutweight/"),
            ]:
                page.goto(f"{server}{path}")
                page.screenshot(path=str(SHOTS / f"admin-{name}-{width}.png"))
                wider = wider_than_the_screen(page)
                assert wider <= 0, f"the {name} page is {wider} px wider than {width} px"


def test_a_bulk_actions_reason_page_fits_a_phone(server, monkeypatch):  # noqa: F811
    """Pausing, noting or cancelling missions first lists them and asks for a reason: a
    200-character title without a space widened that page to 900 px on a 390 px phone, the
    reason's box 600 px wide, both cut off at the screen's edge."""
    require_browser()
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    OperatorFactory()
    a_mission_with_long_words()
    with sync_playwright() as playwright:
        page = signed_in_admin(playwright, server, 390)
        page.goto(f"{server}/admin/missions/mission/")
        page.check("#action-toggle")
        page.select_option("select[name=action]", "note_missions")
        with page.expect_navigation():
            page.click("button[name=index]")
        page.screenshot(path=str(SHOTS / "admin-reason-page-390.png"), full_page=True)
        assert "M" * 200 in page.locator("#content li").first.inner_text().replace("\n", "")
        reason = page.locator("textarea[name=reason]").bounding_box()
        assert reason["x"] + reason["width"] <= 390, "the reason's box runs off the screen"
        wider = wider_than_the_screen(page)
        assert wider <= 0, f"the reason page is {wider} px wider than the phone"


def test_a_memory_candidates_decision_page_wraps_a_long_word(server, monkeypatch):  # noqa: F811
    """A candidate a model wrote can hold one long word (a path, a hash, a blob): its body
    widened the page where a person decides on it to 9,900 px, the form beside it."""
    require_browser()
    from playwright.sync_api import sync_playwright

    from memory.models import MemoryCandidate

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    OperatorFactory()
    candidate = MemoryCandidate.objects.create(
        source_agent=AgentFactory(slug="devops"), kind="lesson", title="T" * 190,
        body="B" * 900, confidence="0.8",
    )  # fmt: skip
    with sync_playwright() as playwright:
        page = signed_in_admin(playwright, server, 1440)
        for width in (1440, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{server}/admin/memory/memorycandidate/{candidate.id}/decide/")
            page.screenshot(path=str(SHOTS / f"admin-candidate-decide-{width}.png"), full_page=True)
            wider = wider_than_the_screen(page)
            assert wider <= 0, f"the decision page is {wider} px wider than {width} px"


def test_a_policys_simulation_report_fits_the_screen(server, monkeypatch):  # noqa: F811
    """The report read before a policy is saved names the proposals it would decide otherwise:
    a title an agent wrote as one long word widened it past the screen (1,451 px on a 390 px
    phone and past a 1440 px window), the heading squeezed, the value's box cut off."""
    require_browser()
    from playwright.sync_api import sync_playwright

    from opscore.actions import set_policy

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    OperatorFactory()
    set_policy("auto_approve", {"enabled": True, "allowed_step_kinds": ["noop"]}, actor="t")
    propose(AgentFactory(slug="devops"), "analyze", title="Y" * 200)
    with sync_playwright() as playwright:
        page = signed_in_admin(playwright, server, 1440)
        for width in (1440, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{server}/admin/opscore/policy/auto_approve/change/")
            page.check("input[name=p_allowed_step_kinds][value=analyze]")
            with page.expect_navigation():
                page.click("[name=_simulate]")
            page.screenshot(path=str(SHOTS / f"admin-simulation-{width}.png"), full_page=True)
            assert "Y" * 200 in page.locator("#simulation").inner_text().replace("\n", "")
            wider = wider_than_the_screen(page)
            assert wider <= 0, f"the simulation report is {wider} px wider than {width} px"
