"""Every Stage page in a real browser at 1440 and 390 px: the page's title and the views' links
never print against each other (at 390 px 'Opscore Playback' ran into the links' '·' with no
gap), a table's headings break between words, never inside one ('scou t', 'propose d'), and
nothing runs past the screen's edge.
Screenshots go to tests/artifacts/ (or OPS_SHOTS_DIR)."""

import os
from pathlib import Path

import pytest

from tests.console.test_stage_browser import CHROMIUM, FLAGS, require_browser, server  # noqa: F401
from tests.factories import AgentFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("OPS_SHOTS_DIR") or Path(__file__).parent.parent / "artifacts")
PAGES = [
    "/stage/",
    "/stage/swimlane",
    "/stage/office",
    "/stage/agents",
    "/stage/conversations",
    "/stage/goals",
    "/stage/opportunities",
    "/stage/coding",
]

# How far each line of the views' links stands right of the title, for the lines beside it.
GAPS = """() => {
  const title = document.querySelector('header h1').getBoundingClientRect();
  const links = document.createRange();
  links.selectNodeContents(document.querySelector('header nav'));
  return [...links.getClientRects()]
    .filter((line) => line.top < title.bottom && title.top < line.bottom)
    .map((line) => Math.round(line.left - title.right));
}"""
# Each table heading's lines: a heading broken inside its word has two.
HEADING_LINES = """() => [...document.querySelectorAll('main th')].map((th) => {
  const words = document.createRange();
  words.selectNodeContents(th);
  const tops = new Set([...words.getClientRects()].map((r) => Math.round(r.top)));
  return [th.textContent, th.textContent.split(' ').length, tops.size];
})"""


def the_title_and_the_links_stand_apart(page, path, width):
    gaps = page.evaluate(GAPS)
    assert all(gap >= 8 for gap in gaps), f"{path} at {width} px: links {gaps} px from the title"


def nothing_runs_past_the_screens_edge(page, path, width):
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{path} at {width} px"
    tables = "[...document.querySelectorAll('.table-scroll')]"
    scrolls = tables + ".map((t) => t.scrollWidth - t.clientWidth)"
    assert all(cut <= 0 for cut in page.evaluate(scrolls)), (
        f"{path} at {width} px: a table needs scrolling"
    )


def no_heading_breaks_inside_a_word(page, path, width):
    broken = [(text, lines) for text, words, lines in page.evaluate(HEADING_LINES) if lines > words]
    assert broken == [], f"{path} at {width} px"


def test_every_stage_page_keeps_its_title_links_and_headings_whole(server):  # noqa: F811
    require_browser()
    from playwright.sync_api import sync_playwright

    for slug in ("devops", "product-metrics"):
        AgentFactory(slug=slug)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for width in (1440, 390):
            page = browser.new_page(viewport={"width": width, "height": 844})
            for path in PAGES:
                page.goto(f"{server}{path}")
                the_title_and_the_links_stand_apart(page, path, width)
                no_heading_breaks_inside_a_word(page, path, width)
                nothing_runs_past_the_screens_edge(page, path, width)
                name = path.strip("/").replace("/", "-")
                page.screenshot(path=str(SHOTS / f"frame-{name}-{width}.png"), full_page=True)
            page.close()
        browser.close()
