"""The Stage in a real browser: headless Chromium driven by Playwright against a real ASGI server
on loopback, on the test database. Screenshots go to tests/artifacts/ (git-ignored)."""

import os
import shutil
from pathlib import Path

import httpx
import pytest

from missions.models import Mission, Proposal
from missions.worker import handle_one_step
from opscore.models import Event
from tests.factories import AgentFactory, OperatorFactory, make_step, propose
from tests.processes import database_url, spawn_web, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ARTIFACTS = Path(__file__).parent.parent / "artifacts"
TOKEN = "browser-test-token-0123456789-0123456789"
CHROMIUM = shutil.which("chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_browser():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "playwright is not installed"
    else:
        missing = "" if CHROMIUM else "Debian's chromium is not installed"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {missing}")
        pytest.skip(missing)


@pytest.fixture
def server():
    env = os.environ | {
        "DATABASE_URL": database_url(),
        "OPS_API_TOKEN": TOKEN,
        "SECRET_KEY": "browser-test",
        "STAGE_PUBLIC": "true",
        "LOG_LEVEL": "WARNING",
    }
    process, base = spawn_web(env)
    yield base
    process.terminate()
    process.wait(timeout=10)


def sign_in_to_the_admin(page, server):
    """As OperatorFactory's operator, through the login form."""
    page.goto(f"{server}/admin/login/?next=/admin/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")
    page.wait_for_url(f"{server}/admin/")


def give_a_crawl_without_and_with_a_url(page):
    """The browser will not send a crawl without its URL; the server would refuse it too."""
    from playwright.sync_api import expect

    page.select_option("select.task-kind", "crawl")
    expect(page.locator("input[name=crawl-url]")).to_be_visible()
    expect(page.locator("input[name=analyze-topic]")).to_be_hidden()
    page.fill("input[name=title]", "Read the docs")
    page.click("button:has-text('Give task')")
    page.wait_for_timeout(300)
    assert not Proposal.objects.filter(title="Read the docs").exists()
    page.fill("input[name=crawl-url]", "ftp://not-the-web")
    page.evaluate("document.querySelector('input[name=crawl-url]').type = 'text'")
    page.click("button:has-text('Give task')")
    expect(page.locator(".give-task .field-error")).to_contain_text("http:// or https://")
    expect(page.locator("input[name=title]")).to_have_value("Read the docs")


def approve_from_the_inbox(page, server):
    from playwright.sync_api import expect

    httpx.post(
        f"{server}/api/ops/proposals",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"agent": "devops", "title": "Ship the fix", "steps": [{"kind": "deploy"}]},
        timeout=5,
    )
    page.reload()
    item = page.locator(".approvals li", has_text="Ship the fix")
    expect(item).to_contain_text("deploy")
    item.locator("button[value=approve]").click()
    expect(page.locator("#decision-note")).to_contain_text("accepted", timeout=10_000)
    expect(page.locator("#approvals")).not_to_contain_text("Ship the fix")
    # the live refresh that follows the decision must not wipe the answer the operator read
    with page.expect_response(lambda answer: "/stage/approvals" in answer.url):
        page.evaluate("htmx.trigger(document.body, 'approvals-changed')")
    expect(page.locator("#decision-note")).to_contain_text("accepted")
    assert Proposal.objects.get(title="Ship the fix").status == "accepted"


def office_acts_a_conversation_out(page, server):
    """A turn spoken now appears as a speech bubble over its speaker, live."""
    import random

    from playwright.sync_api import expect

    from roundtable.lifecycle import request_conversation
    from roundtable.speaking import run_conversation

    AgentFactory(slug="security", signature="Trust, but verify.")
    page.goto(f"{server}/stage/office")
    expect(page.locator(".office .agent")).to_have_count(2)
    page.wait_for_timeout(500)  # the websocket connects
    talk = request_conversation("debate", ["devops", "security"], "disk quotas", source="op")
    run_conversation(talk, random.Random(5), pause=0.2)
    bubble = page.locator(".agent .bubble.shown")
    expect(bubble.first).to_contain_text("disk", timeout=10_000)
    expect(page.locator("#office-log")).to_contain_text("disk quotas")
    page.screenshot(path=str(ARTIFACTS / "office.png"))


def pages_worth_a_screenshot(page, server, mission):
    """The mission page draws attempts on its axis; the others render: saved for people."""
    from playwright.sync_api import expect

    from roundtable.models import Conversation

    page.goto(f"{server}/stage/missions/{mission.id}")
    expect(page.locator(".timeline-axis .bar.outcome-succeeded")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "mission.png"), full_page=True)
    talk = Conversation.objects.latest("id")
    page.goto(f"{server}/stage/conversations/{talk.id}")
    expect(page.locator(".turns .turn").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "conversation.png"), full_page=True)
    for name in ("swimlane", "agents", "opportunities", "coding"):
        page.goto(f"{server}/stage/{name}")
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_the_stage_lives_in_a_browser(server, monkeypatch):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop shares the thread
    AgentFactory(slug="devops")
    OperatorFactory()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{server}/stage/")
        page.wait_for_timeout(500)  # the websocket connects

        httpx.post(
            f"{server}/api/ops/proposals",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={
                "agent": "devops",
                "title": "Seen live in the browser",
                "steps": [{"kind": "noop"}],
            },
            timeout=5,
        )
        expect(page.locator("#feed")).to_contain_text("Seen live in the browser", timeout=10_000)

        page.goto(f"{server}/stage/login?next=/stage/")  # Opscore's own sign-in, not the admin's
        page.fill("input[name=username]", "operator")
        page.fill("input[name=password]", "correct-horse-battery")
        page.click("button:has-text('Sign in')")
        page.wait_for_url(f"{server}/stage/")
        page.fill("input[name=title]", "Check the disks")
        page.click("button:has-text('Give task')")
        expect(page.locator(".task-answer")).to_contain_text("Accepted", timeout=10_000)
        expect(page.locator("input[name=title]")).to_have_value("")  # cleared for the next one
        give_a_crawl_without_and_with_a_url(page)
        approve_from_the_inbox(page, server)
        page.screenshot(path=str(ARTIFACTS / "stage.png"), full_page=True)

        handle_one_step("browser-test")
        mission = Mission.objects.get(title="Seen live in the browser")
        page.goto(f"{server}/stage/missions/{mission.id}/playback")
        page.click("#step")
        expect(page.locator("#position")).to_contain_text("2 / ")
        expect(page.locator(".moment.current")).to_contain_text("step.succeeded")

        office_acts_a_conversation_out(page, server)

        Event.objects.create(kind="note", title="w" * 300, agent_id="devops")  # one long word
        pages_worth_a_screenshot(page, server, mission)
        for width in (1280, 390):
            narrow = browser.new_page(viewport={"width": width, "height": 900})
            narrow.goto(f"{server}/stage/")
            expect(narrow.locator("#feed")).to_contain_text("w" * 40)
            narrow.screenshot(path=str(ARTIFACTS / f"stage-{width}.png"))
            assert narrow.evaluate("document.documentElement.scrollWidth") == width
            columns = narrow.evaluate(
                "getComputedStyle(document.querySelector('main'))"
                ".gridTemplateColumns.split(' ').length"
            )
            assert columns == (2 if width > 800 else 1)
        browser.close()


def test_enter_in_a_reason_box_decides_nothing(server, monkeypatch):
    """Enter in a text box submits its form with the form's first button: on the decision
    forms that was the one a person typing was not choosing. A rejection's reason sent with
    Enter from the approvals inbox approved the proposal; a note sent with Enter from a
    mission's page paused the mission. Enter now decides nothing."""
    require_browser()
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop shares the thread
    OperatorFactory()
    agent = AgentFactory(slug="devops")
    proposal = propose(agent, "deploy", title="Ship it")
    step = make_step("analyze", agent=agent)
    Mission.objects.filter(pk=step.mission_id).update(status="running")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        sign_in_to_the_admin(page, server)
        page.goto(f"{server}/stage/")
        card = page.locator(f"#approval-{proposal.id}")
        card.locator("input[name=reason]").fill("not before the freeze")
        card.locator("input[name=reason]").press("Enter")
        card.locator("button[value=reject]").click(timeout=5_000)
        # what the click decided, read where it is kept: the note under the cards can be
        # redrawn away by the feed before a busy machine's browser is asked about it
        wait_for(lambda: Proposal.objects.get(pk=proposal.id).status != "pending")
        assert Proposal.objects.get(pk=proposal.id).status == "rejected"

        page.goto(f"{server}/stage/missions/{step.mission_id}")
        page.fill("#mission-control input[name=reason]", "check the disks first")
        page.press("#mission-control input[name=reason]", "Enter")
        page.click("#mission-control button[value=note]", timeout=5_000)
        page.wait_for_url(f"{server}/stage/missions/{step.mission_id}")
        assert Mission.objects.get(pk=step.mission_id).paused_at is None
        browser.close()
