"""Threads and the chat in a real browser, at a desktop and a phone width: a comment written
elsewhere shows on an open thread page live, an answer is written in place, the chat answers
with links to the rows it read and submits a draft only when asked; hostile text stays inert
and nothing spills sideways. An open thread page whose socket dropped catches up when it
reconnects: it asked for the feed from 'now' on every connect until a batch had reached it, so
on a quiet thread a comment written while it was away never showed until a reload."""

import httpx
import pytest

from missions.models import Mission, Proposal
from tests.console.test_stage_browser import (  # noqa: F401
    ARTIFACTS,
    CHROMIUM,
    FLAGS,
    TOKEN,
    require_browser,
    server,
)
from tests.factories import AgentFactory, OperatorFactory, make_step

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
HOSTILE = "<img src=x onerror='window.pwned = 1'>"
LONG_WORD = "overlong" * 40


def sign_in(page, server):  # noqa: F811
    page.goto(f"{server}/admin/login/?next=/stage/chat")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")
    page.wait_for_url(f"{server}/stage/chat")


def no_sideways_spill(page, name: str, width: int) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    assert page.evaluate("window.pwned") is None
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"{name} spills {overflow}px sideways at {width}px"


def thread_lives(page, server, mission_id: int, width: int) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page.goto(f"{server}/stage/threads/mission/{mission_id}")
    page.wait_for_timeout(500)  # the websocket connects
    httpx.post(
        f"{server}/api/ops/threads/mission/{mission_id}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"text": f"live from the API at {width} {HOSTILE}", "actor": "bob"},
        timeout=10,
    )
    expect(page.locator("#thread")).to_contain_text(f"live from the API at {width}", timeout=10_000)
    page.fill("#thread-form textarea", f"{LONG_WORD} from the page")
    page.click("#thread-form button")
    expect(page.locator("#thread")).to_contain_text("from the page", timeout=10_000)
    expect(page.locator("#thread")).to_contain_text("[offline] I read your comment")
    no_sideways_spill(page, "thread", width)


def chat_drafts_then_submits(page, server, width: int) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page.goto(f"{server}/stage/chat")
    page.fill("#chat textarea", "What is running?")
    page.click("#chat form.talk-form button")
    expect(page.locator(".chat-coordinator").last).to_contain_text("[offline]")
    assert page.locator(".citations a").first.get_attribute("href").startswith("/stage/missions/")
    page.fill("#chat textarea", f"Please analyze churn at {width} {HOSTILE}")
    page.click("#chat form.talk-form button")
    expect(page.locator(".draft").last).to_contain_text("Draft proposal")
    no_sideways_spill(page, "chat", width)
    page.locator(".draft").last.locator("button:has-text('Submit to the intake')").click()
    expect(page.locator(".draft").last).to_contain_text("Submitted as P")


def test_threads_and_the_chat_at_desktop_and_phone_widths(server, monkeypatch):  # noqa: F811
    require_browser()
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop shares the thread
    OperatorFactory()
    AgentFactory(slug="coordinator", enabled=True, display_name=f"Coord {HOSTILE}")
    step = make_step("analyze", agent=AgentFactory(slug="devops"), payload={"topic": LONG_WORD})
    Mission.objects.filter(pk=step.mission_id).update(status="running", title=f"Run {HOSTILE}")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for width in (1440, 390):
            page = browser.new_page(viewport={"width": width, "height": 900})
            sign_in(page, server)
            thread_lives(page, server, step.mission_id, width)
            chat_drafts_then_submits(page, server, width)
            page.close()
        browser.close()
    assert Proposal.objects.filter(source="chat", status="pending").count() == 2


# The page's sockets, kept where the test can drop them; while `__away` holds, a reconnect
# reaches nothing (a port no one listens on) and the page retries, as when the server is down.
SOCKETS = """(() => {
  const Real = window.WebSocket;
  window.__sockets = [];
  window.__away = false;
  window.WebSocket = function (url, protocols) {
    const socket = new Real(window.__away ? "ws://127.0.0.1:65001/" : url, protocols);
    window.__sockets.push(socket);
    return socket;
  };
  window.WebSocket.prototype = Real.prototype;
})();"""


def until(page, condition: str, seconds: float = 20) -> None:
    """Poll `condition` in the page (wait_for_function evaluates a string, which the Stage's
    CSP refuses)."""
    for _ in range(int(seconds * 10)):
        if page.evaluate(condition):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"not within {seconds} s: {condition}")


def test_a_comment_written_while_the_socket_was_down_shows_once_it_reconnects(server, monkeypatch):  # noqa: F811
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop shares the thread
    step = make_step("analyze", agent=AgentFactory(slug="devops"))
    Mission.objects.filter(pk=step.mission_id).update(status="running")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        page.add_init_script(SOCKETS)
        page.goto(f"{server}/stage/threads/mission/{step.mission_id}")
        until(page, "window.__sockets[0].readyState === 1")
        page.evaluate("window.__away = true; window.__sockets[0].close()")
        httpx.post(
            f"{server}/api/ops/threads/mission/{step.mission_id}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"text": "written while you were away", "actor": "bob"},
            timeout=10,
        ).raise_for_status()
        page.evaluate("window.__away = false")
        # what a person sees, however the page got there (a reconnect, or a redraw the server
        # asked for): polling the sockets raced a redraw that replaced the page under the poll
        expect(page.locator("#thread")).to_contain_text(
            "written while you were away", timeout=30_000
        )
        browser.close()
