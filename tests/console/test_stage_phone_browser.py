"""The Stage in a real browser at 1440 and 390 px: the conversations list is live over the
socket, the time axes' words are readable on a phone (11 px and more, rendered) and never print
over each other for a mission under a second, the swimlane's names never print over its steps
and a long one is cut with an ellipsis in its box, whole in its tooltip, and an opened health
strip stays open across its refresh; in the office no agent's label prints over a piece of
furniture's.
Screenshots go to tests/artifacts/ (or OPS_SHOTS_DIR)."""

import os
import random
from datetime import timedelta
from pathlib import Path

import pytest

from missions.models import Mission
from missions.worker import handle_one_step
from opscore.db import db_now
from roundtable.lifecycle import claim_conversation, request_conversation
from roundtable.speaking import run_conversation
from tests.console.test_stage_browser import CHROMIUM, FLAGS, require_browser, server  # noqa: F401
from tests.factories import AgentFactory, make_step, propose

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("OPS_SHOTS_DIR") or Path(__file__).parent.parent / "artifacts")
LONG = "quarterly-revenue-forecast-analyst-eu-west"

# Each label's rendered font size (its CSS size times the SVG's scale on screen) and its box.
LABELS = """(selector) => [...document.querySelectorAll(selector)].map((t) => {
  const box = t.getBoundingClientRect();
  const size = parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a;
  return { text: t.textContent, size, box: [box.left, box.top, box.right, box.bottom] };
})"""


# Each swimlane name's tooltip (its <title>), its box's right edge, where its lane starts (the
# SVG's x=0 on screen) and where the sideways scroller clips.
NAMES = """(selector) => [...document.querySelectorAll(selector)].map((t) => {
  const box = t.getBoundingClientRect();
  const clip = document.getElementById("swimlane").getBoundingClientRect();
  const title = t.querySelector("title");
  return { title: title && title.textContent, right: box.right, lane: t.getScreenCTM().e,
           clip: clip.right };
})"""


BOXES = """(selector) => [...document.querySelectorAll(selector)].map((e) => {
  const box = e.getBoundingClientRect();
  return [box.left, box.top, box.right, box.bottom];
})"""


def overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def assert_readable_and_apart(page, selector, width):
    labels = page.evaluate(LABELS, selector)
    assert labels, selector
    small = [(label["text"], round(label["size"], 1)) for label in labels if label["size"] < 11]
    assert small == [], f"{selector} at {width} px"
    boxes = [label["box"] for label in labels]
    clashes = [(i, j) for i in range(len(boxes)) for j in range(i) if overlap(boxes[i], boxes[j])]
    assert clashes == [], f"{selector} labels print over each other at {width} px"


def the_time_axes_read_on_a_phone(browser, base, width):
    page = browser.new_page(viewport={"width": width, "height": 844})
    page.goto(f"{base}/stage/swimlane")
    assert_readable_and_apart(page, ".swimlane .tick-label", width)
    assert_readable_and_apart(page, ".swimlane .lane-label:not(.lane-end)", width)
    now = page.locator(".swimlane .now-label").bounding_box()
    assert now["x"] >= 0 and now["x"] + now["width"] <= width, "it opens at now"
    every_name_fits_and_reads_whole(page, ".swimlane .lane-label:not(.lane-end)", "lane", width)
    if width < 800:  # and says whose lane is whose there too
        assert_readable_and_apart(page, ".swimlane .lane-end", width)
        names = page.locator(".swimlane .lane-end").all()
        assert all(0 <= n.bounding_box()["x"] <= width for n in names)
        every_name_fits_and_reads_whole(page, ".swimlane .lane-end", "clip", width)
        no_name_prints_over_a_step(page, width)
    page.screenshot(path=str(SHOTS / f"swimlane-{width}.png"), full_page=True)
    quick = Mission.objects.get(proposal__title="Quick one")
    page.goto(f"{base}/stage/missions/{quick.id}")
    assert_readable_and_apart(page, ".timeline-axis .tick-label", width)
    assert_readable_and_apart(page, ".timeline-axis .lane-label", width)
    page.screenshot(path=str(SHOTS / f"mission-axis-{width}.png"), full_page=False)
    page.close()


def every_name_fits_and_reads_whole(page, selector, ends_by, width):
    """A long slug ran over its lane at 1440 px and past the scroller's edge at 390 px, cut
    off there with no way to read it: it ends in an ellipsis by `ends_by` (where its lane
    starts, or where the scroller clips), whole in its title."""
    names = page.evaluate(NAMES, selector)
    assert LONG in [name["title"] for name in names], f"{selector} at {width} px"
    over = [name["title"] for name in names if name["right"] > name[ends_by]]
    assert over == [], f"{selector} past its box at {width} px"


def no_name_prints_over_a_step(page, width):
    """At 390 px the names at the right edge printed over the "due later" markers beside now."""
    names, steps = page.evaluate(BOXES, ".swimlane .lane-end"), page.evaluate(BOXES, ".bar")
    assert len(page.evaluate(BOXES, ".swimlane .due-marker")) == 12  # four lanes' futures
    covered = [(n, s) for n in names for s in steps if overlap(n, s)]
    assert covered == [], f"swimlane names over steps at {width} px"


def the_conversations_list_is_live(browser, base, width):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": width, "height": 844})
    page.goto(f"{base}/stage/conversations")
    expect(page.locator("#conversation-list h2")).to_contain_text("Today's conversations")
    expect(page.locator("#conversation-list")).not_to_contain_text(f"quotas at {width}")
    page.wait_for_timeout(500)  # the websocket connects
    talk = request_conversation("debate", ["devops", "writer"], f"quotas at {width}", source="op")
    run_conversation(claim_conversation("w1"), random.Random(4), pause=0)
    row = page.locator(f"#conversation-{talk.id}")
    expect(row).to_contain_text(f"quotas at {width}", timeout=10_000)
    expect(row).to_contain_text("devops, writer")
    page.screenshot(path=str(SHOTS / f"conversations-live-{width}.png"), full_page=True)
    page.close()


def the_office_reads_on_a_phone(browser, base, width):
    """Agents' names, their states and the furniture's labels are 11 px and more on screen (at
    390 px they rendered at about 4 px); on a phone the office scrolls sideways instead."""
    page = browser.new_page(viewport={"width": width, "height": 844})
    page.goto(f"{base}/stage/office")
    assert_readable_and_apart(page, "#office .agent .name", width)
    assert_readable_and_apart(page, "#office .label", width)
    sizes = page.evaluate(LABELS, "#office .agent .state")
    assert min(label["size"] for label in sizes) >= 11, f"states at {width} px"
    no_agent_label_prints_over_the_furniture(page, width)
    page.screenshot(path=str(SHOTS / f"office-{width}.png"), full_page=True)
    page.close()


def no_agent_label_prints_over_the_furniture(page, width):
    """At 390 px the state of the first agent in the coffee queue ("coffee") printed over the
    coffee machine's own "coffee" label."""
    agents = page.evaluate(LABELS, "#office .agent .state, #office .agent .name")
    furniture = page.evaluate(LABELS, "#office .label")
    assert "coffee" in [label["text"] for label in agents]  # someone queues at the machine
    clashes = [
        (a["text"], f["text"]) for a in agents for f in furniture if overlap(a["box"], f["box"])
    ]
    assert clashes == [], f"agents' labels over the furniture's at {width} px"


def an_open_health_strip_stays_open(browser, base):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{base}/stage/")
    strip = page.locator("#health .health-compact")
    expect(strip).to_be_visible()
    page.click("#health .health-compact summary")
    expect(strip).to_have_attribute("open", "")
    page.evaluate(
        """() => {
          window.healthSwaps = 0;
          document.body.addEventListener("htmx:afterSwap", (e) => {
            if (e.detail.target.id === "health") window.healthSwaps += 1;
          });
          document.body.dispatchEvent(new CustomEvent("stage-changed"));
        }"""
    )
    page.wait_for_function("() => window.healthSwaps >= 1")
    expect(page.locator("#health .health-compact")).to_have_attribute("open", "")
    expect(page.locator("#health .health-compact .health").first).to_be_visible()
    page.click("#health .health-compact summary")
    page.evaluate("document.body.dispatchEvent(new CustomEvent('stage-changed'))")
    page.wait_for_function("() => window.healthSwaps >= 2")
    assert page.locator("#health .health-compact").get_attribute("open") is None
    page.close()


def a_mission_done_in_a_fifth_of_a_second():
    proposal = propose(AgentFactory(slug="devops"), "noop", "noop", title="Quick one")
    mission = Mission.objects.get(proposal=proposal)
    handle_one_step("w1")
    handle_one_step("w1")
    start = mission.created_at
    Mission.objects.filter(pk=mission.pk).update(finished_at=start + timedelta(seconds=0.2))
    for n, step in enumerate(mission.steps.order_by("id")):
        began = start + timedelta(seconds=0.02 + n * 0.1)
        step.attempts.update(started_at=began, finished_at=began + timedelta(seconds=0.08))
        step.created_at = step.run_after = start
        step.finished_at = began + timedelta(seconds=0.08)
        step.save(update_fields=["created_at", "run_after", "finished_at"])


def steps_due_later(agents):
    """Each lane's future: soon, later, and past the window's end (drawn at its edge)."""
    for agent in agents:
        for minutes in (5, 20, 300):
            make_step(agent=agent, run_after=db_now() + timedelta(minutes=minutes))


def test_the_stage_reads_on_a_phone_and_stays_live(server, monkeypatch):  # noqa: F811
    require_browser()
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    agents = [AgentFactory(slug=s) for s in ("devops", "writer", "a-rather-long-agent", LONG)]
    a_mission_done_in_a_fifth_of_a_second()
    steps_due_later(agents)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for width in (1440, 390):
            the_time_axes_read_on_a_phone(browser, server, width)
            the_conversations_list_is_live(browser, server, width)
            the_office_reads_on_a_phone(browser, server, width)
        an_open_health_strip_stays_open(browser, server)
        browser.close()
