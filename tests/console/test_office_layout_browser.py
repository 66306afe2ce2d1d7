"""The office drawing's layout in a real browser: on a phone (390 px) it opened scrolled to the
far-left wall, the meeting table, whiteboard and coffee machine (where conversations happen)
off-screen; at 1440 px it stopped at 960 px, an empty band beside it in its panel; and the
"meeting table" label printed over the table's legs.
Screenshots go to tests/artifacts/ (or OPS_SHOTS_DIR)."""

import os
from pathlib import Path

import pytest

from tests.console.test_stage_browser import CHROMIUM, FLAGS, require_browser, server  # noqa: F401
from tests.factories import AgentFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("OPS_SHOTS_DIR") or Path(__file__).parent.parent / "artifacts")
TABLE = "#office use[href='#px-table']"
LABEL = "#office text.label:text('meeting table')"

# The drawing's box and the width its panel leaves for it (inside the panel's padding).
FIT = """() => {
  const panel = document.getElementById("office");
  const style = getComputedStyle(panel);
  const inside = panel.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const box = document.querySelector("svg.office").getBoundingClientRect();
  return { inside, width: box.width, height: box.height };
}"""


def overlap(a, b) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and (a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])
    )


def the_table_is_on_screen_on_a_phone(browser, base):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{base}/stage/office")
    page.wait_for_load_state("load")
    page.screenshot(path=str(SHOTS / "office-layout-390.png"))
    table = page.locator(TABLE).bounding_box()
    assert table["x"] >= 0 and table["x"] + table["width"] <= 390, table
    scroller = page.evaluate("[document.getElementById('office').scrollWidth, innerWidth]")
    assert scroller[0] > scroller[1]  # the rest of the office is a sideways scroll away
    assert not overlap(page.locator(LABEL).bounding_box(), table)
    page.close()


def the_drawing_fills_its_panel_at_1440(browser, base):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{base}/stage/office")
    page.screenshot(path=str(SHOTS / "office-layout-1440.png"), full_page=True)
    fit = page.evaluate(FIT)
    assert fit["width"] >= 0.97 * fit["inside"], fit
    assert fit["height"] <= 900, fit  # never taller than the window
    assert not overlap(page.locator(LABEL).bounding_box(), page.locator(TABLE).bounding_box())
    page.close()


def in_a_browser(check, base):
    require_browser()
    from playwright.sync_api import sync_playwright

    for slug in ("devops", "auditor", "writer"):
        AgentFactory(slug=slug)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        check(browser, base)
        browser.close()


def test_on_a_phone_the_office_opens_on_the_meeting_table(server):  # noqa: F811
    in_a_browser(the_table_is_on_screen_on_a_phone, server)


def test_at_1440_px_the_office_fills_its_panel(server):  # noqa: F811
    in_a_browser(the_drawing_fills_its_panel_at_1440, server)
