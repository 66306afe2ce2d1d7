"""The first ten minutes in a real browser at 1440 and 390 px: a fresh install's Stage and
office with the first-boot plan's work on them, the approvals inbox live over the socket, the
lineage tree indented under the Stage's CSP, a held mission explained, the health strip folded
on a phone, and the admin's Approve/Reject form on screen. Screenshots go to tests/artifacts/
(or OPS_SHOTS_DIR)."""

import os
import random
from pathlib import Path

import httpx
import pytest

from console.bootstrap import bootstrap
from console.first_boot import run_first_boot_plan, start_first_boot_plan
from missions.models import Mission, Proposal
from missions.worker import handle_one_step
from opscore.actions import set_policy
from roundtable.lifecycle import claim_conversation
from roundtable.speaking import run_conversation
from tests.console.test_stage_browser import CHROMIUM, FLAGS, TOKEN, require_browser, server  # noqa: F401
from tests.factories import OperatorFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("OPS_SHOTS_DIR") or Path(__file__).parent.parent / "artifacts")
WIDTHS = (1440, 390)


def first_two_minutes():
    """The first boot as `make run` does it, its first items worked (no waiting)."""
    bootstrap(1, actor="system:make-run")
    start_first_boot_plan(actor="system:make-run")
    run_first_boot_plan()
    handle_one_step("w1")
    handle_one_step("w1")
    talk = claim_conversation("w1")
    run_conversation(talk, random.Random(2), pause=0)


def sign_in(page, base):
    page.goto(f"{base}/admin/login/?next=/stage/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/stage/")


def csp_errors(page) -> list[str]:
    errors: list[str] = []
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return errors


def stage_at(browser, base, width):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": width, "height": 900})
    sign_in(page, base)
    expect(page.locator("#approvals")).to_contain_text("Post our hello tweet")
    compact = page.locator(".health-compact")
    full = page.locator(".health-full")
    if width < 800:
        expect(compact).to_be_visible()
        expect(full).to_be_hidden()
        assert compact.bounding_box()["height"] < 120  # one line, not the first screen
    else:
        expect(full).to_be_visible()
        expect(compact).to_be_hidden()
    for title in page.locator("h2").all():
        box = title.bounding_box()
        assert box is None or box["x"] + box["width"] <= width
    wraps = page.evaluate(
        "[...document.querySelectorAll('h1, h2, .missions summary')]"
        ".map((e) => getComputedStyle(e).overflowWrap)"
    )
    assert set(wraps) == {"break-word"}  # at words; "anywhere" split titles mid-word
    page.screenshot(path=str(SHOTS / f"stage-first-two-minutes-{width}.png"), full_page=True)
    return page


def approvals_update_live(page, base):
    """A new proposal for a human appears without a reload or a poll."""
    from playwright.sync_api import expect

    trigger = page.locator("#approvals").get_attribute("hx-trigger")
    assert "every" not in trigger
    page.wait_for_timeout(500)  # the websocket connects
    httpx.post(
        f"{base}/api/ops/proposals",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"agent": "devops", "title": "Ship it live", "steps": [{"kind": "deploy"}]},
        timeout=5,
    )
    expect(page.locator("#approvals")).to_contain_text("Ship it live", timeout=10_000)


def office_at(browser, base, width):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{base}/stage/office")
    expect(page.locator(".office .agent")).to_have_count(4)
    expect(page.locator("#office-log li").first).to_be_visible()
    names = [box for box in (n.bounding_box() for n in page.locator(".agent .name").all()) if box]
    for i, one in enumerate(names):
        for two in names[i + 1 :]:
            apart = (
                one["x"] + one["width"] <= two["x"]
                or two["x"] + two["width"] <= one["x"]
                or one["y"] + one["height"] <= two["y"]
                or two["y"] + two["height"] <= one["y"]
            )
            assert apart, "two agents' names print over each other"
    assert "step.succeeded" not in page.locator("#office-log").inner_text()
    page.screenshot(path=str(SHOTS / f"office-{width}.png"), full_page=True)
    return page


def office_states_expire_and_bubbles_say_offline_once(page):
    from playwright.sync_api import expect

    page.wait_for_timeout(500)
    from roundtable.lifecycle import request_conversation

    talk = request_conversation("debate", ["devops", "auditor"], "disk quotas", source="op")
    run_conversation(talk, random.Random(5), pause=0.2)
    bubble = page.locator(".agent .bubble.shown.offline")
    expect(bubble.first).to_be_visible(timeout=10_000)
    expect(bubble.first.locator(".offline-tag")).to_be_visible()
    assert "[offline]" not in bubble.first.locator(".line1").text_content()
    page.screenshot(path=str(SHOTS / "office-talking-1440.png"))
    from opscore.models import Agent
    from tests.factories import propose

    propose(Agent.objects.get(slug="devops"), "noop", title="A quick one")
    handle_one_step("w2")
    celebrating = page.locator(".agent.state-celebrating")
    expect(celebrating.first).to_be_visible(timeout=10_000)
    expect(page.locator(".agent.state-celebrating")).to_have_count(0, timeout=10_000)


def lineage_without_csp_errors(browser, base, width):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": width, "height": 900})
    errors = csp_errors(page)
    mission = Mission.objects.filter(steps__status="succeeded").first()
    page.goto(f"{base}/stage/lineage/mission/{mission.id}")
    expect(page.locator(".lineage-rows li.depth-1").first).to_be_visible()
    flat = page.locator(".lineage-rows li.depth-0").first.bounding_box()["x"]
    deeper = page.locator(".lineage-rows li.depth-2").first.bounding_box()["x"]
    assert deeper > flat
    assert errors == []


def held_mission_explained(browser, base, width):
    from playwright.sync_api import expect

    set_policy("worker_switches", {"kinds": {"analyze": False}}, actor="system:breaker")
    held = Mission.objects.filter(steps__status="queued", steps__kind="analyze").first()
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{base}/stage/missions/{held.id}")
    expect(page.locator(".held-banner").first).to_contain_text("the analyze breaker is open")
    expect(page.locator(".held-banner").first).to_contain_text("reset-breaker analyze")
    page.screenshot(path=str(SHOTS / f"mission-held-{width}.png"), full_page=True)
    set_policy("worker_switches", {"kinds": {"analyze": True}}, actor="test")


def admin_decide_form_on_screen(browser, base, width):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")
    waiting = Proposal.objects.get(title="Post our hello tweet")
    page.goto(f"{base}/admin/missions/proposal/{waiting.id}/change/")
    for button in ("Approve", "Reject"):
        target = page.locator(f"#decide button:has-text('{button}')")
        expect(target).to_be_visible()
        box = target.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"{button} off-screen"
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
    page.screenshot(path=str(SHOTS / f"admin-proposal-{width}.png"), full_page=False)


def test_the_first_ten_minutes_in_a_browser(server, monkeypatch):  # noqa: F811
    require_browser()
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    OperatorFactory()
    first_two_minutes()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for width in WIDTHS:
            page = stage_at(browser, server, width)
            if width == WIDTHS[0]:
                approvals_update_live(page, server)
            office = office_at(browser, server, width)
            if width == WIDTHS[0]:
                office_states_expire_and_bubbles_say_offline_once(office)
            lineage_without_csp_errors(browser, server, width)
            held_mission_explained(browser, server, width)
            admin_decide_form_on_screen(browser, server, width)
        browser.close()
