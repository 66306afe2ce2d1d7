"""A speech bubble in the office, in a real browser: whatever the words, they stay inside the
bubble (a URL, a long compound, a model's run-on token), cut with an ellipsis."""

import pytest

from opscore.models import Event
from tests.console.test_stage_browser import CHROMIUM, FLAGS, require_browser, server  # noqa: F401
from tests.factories import AgentFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Each bubble line's box and the bubble's own box, on screen.
BOXES = """() => {
  const bubble = document.querySelector(".agent[data-agent=devops] .bubble");
  const box = (e) => { const b = e.getBoundingClientRect(); return [b.left, b.right]; };
  const lines = [...bubble.querySelectorAll(".line1, .line2")];
  return { bubble: box(bubble.querySelector("rect")),
           lines: lines.map((t) => [t.textContent, ...box(t)]) };
}"""
SPOKEN = """() => [...document.querySelectorAll(".agent[data-agent=devops] text[class^=line]")]
  .some((line) => line.textContent !== "")"""
SAID = [
    "https://example.com/a/very/long/address/that/never/breaks",
    "Look: https://example.com/a/very/long/address/that/never/breaks",
    "Donaudampfschifffahrtsgesellschaftskapitän",
]


def test_long_words_stay_inside_the_speech_bubble(server, monkeypatch):  # noqa: F811
    """A bubble wrapped its words at spaces only: a word longer than a line (a link, a long
    compound) went on a line of its own whole, and ran out of the bubble across the office."""
    require_browser()
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop in this thread
    devops, writer = AgentFactory(slug="devops"), AgentFactory(slug="writer")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900}, reduced_motion="reduce")
        page.goto(f"{server}/stage/office")
        for words in SAID:
            Event.objects.create(
                kind="conversation.turn",
                title="turn",
                agent=devops,
                payload={"text": words, "participants": [devops.slug, writer.slug]},
            )
            page.wait_for_function(SPOKEN)
            shown = page.evaluate(BOXES)
            left, right = shown["bubble"]
            outside = [w for w, a, b in shown["lines"] if a < left or b > right]
            assert outside == [], f"{words!r} drawn past the bubble"
            page.evaluate(
                "document.querySelectorAll('.line1, .line2').forEach((t) => t.textContent = '')"
            )
        browser.close()
