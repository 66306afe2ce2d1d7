"""A page whose cursor the socket does not serve (past the newest event, as after a restore, or
further back than a catch-up covers) is closed with 4409 and reloads itself, in a real browser
against the real ASGI server: it then follows the feed live again."""

import re

import httpx
import pytest

from opscore.models import Event
from tests.console.test_stage_browser import (  # noqa: F401
    CHROMIUM,
    FLAGS,
    TOKEN,
    require_browser,
    server,
)
from tests.factories import AgentFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_stale_page_reloads_and_follows_the_feed_live_again(server, monkeypatch):  # noqa: F811
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop shares the thread
    AgentFactory(slug="devops")
    newest = Event.objects.create(kind="note", title="drawn with the page").id
    drawn = []

    def from_before_a_restore(route):
        """The first drawing holds an id the feed never reached; a reload is served as is."""
        answer = route.fetch()
        body = answer.text()
        if not drawn:
            body = body.replace(f'data-last-id="{newest}"', f'data-last-id="{newest + 10_000}"')
        drawn.append(re.search(r'data-last-id="(\d+)"', body).group(1))
        route.fulfill(response=answer, body=body)

    with sync_playwright() as playwright:
        # a document served through page.route counts as public to Chromium, which then
        # blocks its socket to loopback: the check is Chromium's, not the Stage's
        args = [*FLAGS, "--disable-features=LocalNetworkAccessChecks"]
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page()
        page.route(re.compile(r".*/stage/$"), from_before_a_restore)
        page.goto(f"{server}/stage/")
        expect(page.locator("#feed")).to_have_attribute("data-last-id", str(newest))
        assert drawn == [str(newest + 10_000), str(newest)]
        page.wait_for_timeout(500)  # the new page's socket connects
        httpx.post(
            f"{server}/api/ops/proposals",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"agent": "devops", "title": "Seen after the reload", "steps": [{"kind": "noop"}]},
            timeout=5,
        )
        expect(page.locator("#feed")).to_contain_text("Seen after the reload", timeout=10_000)
        browser.close()
