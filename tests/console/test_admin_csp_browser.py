"""The admin in a real browser under the Stage's Content-Security-Policy: hostile words a model
or a crawled page wrote never run, the policy refuses nothing the console itself needs (no
violation on its pages), and its scripts still work: choosing an override's kind reloads the
form with that kind's targets, and the changelist's select-all checks every row."""

import pytest

from memory.models import MemoryCandidate
from missions.models import Proposal
from tests.console.test_stage_browser import (  # noqa: F401
    CHROMIUM,
    FLAGS,
    require_browser,
    server,
    sign_in_to_the_admin,
)
from tests.factories import AgentFactory, OperatorFactory, crawled_page, propose

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'


def admin_pages(proposal, step, candidate) -> list[str]:
    return [
        "/admin/",
        "/admin/missions/proposal/",
        f"/admin/missions/proposal/{proposal.id}/change/",
        f"/admin/missions/step/{step.id}/change/",
        f"/admin/memory/memorycandidate/{candidate.id}/decide/",
        "/admin/opscore/policy/auto_approve/change/",
        "/admin/opscore/override/apply/",
    ]


def choosing_a_kind_shows_its_targets(page, base):
    page.goto(f"{base}/admin/opscore/override/apply/")
    with page.expect_navigation():
        page.select_option("select[name=kind]", "pause_lane")
    assert page.url.endswith("?kind=pause_lane")
    assert page.locator("select[name=target] option[value='memory:drop']").count() == 1


def select_all_checks_every_row(page, base):
    page.goto(f"{base}/admin/missions/proposal/")
    page.check("#action-toggle")
    rows = page.locator("input.action-select")
    assert rows.count() == Proposal.objects.count()
    assert all(rows.nth(i).is_checked() for i in range(rows.count()))


def test_the_admin_runs_its_own_scripts_and_nothing_else(server, monkeypatch):  # noqa: F811
    require_browser()
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    OperatorFactory()
    agent = AgentFactory(slug="devops")
    proposal = propose(agent, "post_tweet", title=HOSTILE)
    propose(agent, "analyze", title="Check the disks")
    step = crawled_page(agent, HOSTILE).step
    candidate = MemoryCandidate.objects.create(
        source_agent=agent, kind="lesson", title=HOSTILE, body=HOSTILE, confidence="0.8"
    )
    refused = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.on("console", lambda m: "Content Security Policy" in m.text and refused.append(m.text))
        sign_in_to_the_admin(page, server)
        for path in admin_pages(proposal, step, candidate):
            answer = page.goto(f"{server}{path}")
            assert "script-src 'self'" in answer.headers["content-security-policy"], path
            assert page.evaluate("window.pwned") is None, path
        choosing_a_kind_shows_its_targets(page, server)
        select_all_checks_every_row(page, server)
        browser.close()
    assert refused == []
