"""A coding run's admin page in a real browser at 1440 and 390 px: the Approve card stands under
the change form, as wide as the page's content. Appended after the form it sat beside the form's
float, squeezed to a few pixels at the right edge: one letter a line, unreadable,
and its buttons off the screen. The passes' and approvals' column headings break between words,
never inside one (at 390 px they printed a letter a line: 'N U M B E R')."""

import os
from pathlib import Path

import pytest

from tests.coding_support import new_run
from tests.console.test_stage_browser import (  # noqa: F401
    CHROMIUM,
    FLAGS,
    require_browser,
    server,
    sign_in_to_the_admin,
)
from tests.factories import OperatorFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("OPS_SHOTS_DIR") or Path(__file__).parent.parent / "artifacts")

# The Approve card's width beside the content's, and how far anything reaches past the screen.
WIDTHS = """() => {
  const card = [...document.querySelectorAll('fieldset')]
    .find((f) => f.querySelector('h2')?.textContent.trim() === 'Approve');
  return {
    card: card.getBoundingClientRect().width,
    content: document.querySelector('#content').getBoundingClientRect().width,
    spill: document.scrollingElement.scrollWidth - innerWidth,
  };
}"""
# Each inline column heading whose lines outnumber its words: broken inside a word.
BROKEN_HEADINGS = """() => [...document.querySelectorAll('.inline-group thead th')].filter((th) => {
  const words = document.createRange();
  words.selectNodeContents(th);
  const lines = new Set([...words.getClientRects()].map((r) => Math.round(r.top))).size;
  return lines > th.textContent.trim().split(/\\s+/).length;
}).map((th) => th.textContent.trim())"""


def test_the_approve_card_stands_full_width_on_a_coding_runs_page(server, git_repo):  # noqa: F811
    require_browser()
    from playwright.sync_api import sync_playwright

    OperatorFactory()
    run = new_run(git_repo, "@greet")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        sign_in_to_the_admin(page, server)
        for width in (1440, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{server}/admin/coding/codingrun/{run.id}/change/")
            found = page.evaluate(WIDTHS)
            page.screenshot(path=str(SHOTS / f"admin-coding-run-{width}.png"), full_page=True)
            assert found["card"] >= found["content"] * 0.9, f"{found} at {width} px"
            assert found["spill"] <= 0, f"{found} at {width} px"
            assert page.evaluate(BROKEN_HEADINGS) == [], f"at {width} px"
        browser.close()
