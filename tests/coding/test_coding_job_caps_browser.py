"""A dev job's approval card in a real browser, at a desktop and a phone width: it names the
caps the job's run will start under (the approval binds them), and neither spills sideways."""

import pytest

from tests.coding.test_coding_job_caps_shown import CAPS, proposed  # noqa: F401
from tests.console.test_stage_browser import ARTIFACTS, CHROMIUM, FLAGS, require_browser, server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_approval_card_shows_the_caps_at_desktop_and_phone_widths(server, proposed):  # noqa: F811
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for width in (1440, 390):
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(f"{server}/stage")
            card = page.locator(f"#approval-{proposed.id}")
            for cap in CAPS:
                expect(card).to_contain_text(cap)
            card.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / f"coding-caps-card-{width}.png"), full_page=True)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 1, f"the Stage spills {overflow}px sideways at {width}px"
            page.close()
        browser.close()
