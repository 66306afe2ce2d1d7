"""The Coding panel and the approvals inbox in a real browser, at a desktop and a phone width,
with hostile and overlong text in a run: nothing runs, nothing spills sideways."""

import pytest

from coding.models import CodingRun, Repository
from tests.console.test_stage_browser import ARTIFACTS, CHROMIUM, FLAGS, require_browser, server  # noqa: F401
from tests.factories import AgentFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
HOSTILE = "<script>window.pwned = 1</script><img src=x onerror='window.pwned = 1'>"
LONG_WORD = "refactor" * 60


def hostile_runs():
    repo = Repository.objects.create(
        name="app", path="/tmp/nowhere", allowed_base_refs=["main"], runners=["command"]
    )
    agent = AgentFactory(slug="devops", display_name=f"Dev {HOSTILE}")
    task = {"summary": f"{HOSTILE} {LONG_WORD}", "constraints": {"allow_merge": True}}
    sha = "a" * 40
    common = dict(repository=repo, agent=agent, runner="command", base_ref="main", task=task)
    CodingRun.objects.create(status="queued", reason=f"waiting {HOSTILE}", **common)
    CodingRun.objects.create(
        status="waiting_for_review",
        head_sha=sha,
        branch="opscore/2-x",
        reason=f"tests passed {LONG_WORD}",
        diff_stats={"changed": 1, "insertions": 3, "deletions": 1},
        review={"decision": "complete", "sha": sha, "by": "devops", "reason": HOSTILE},
        **common,
    )


def test_hostile_and_long_run_text_renders_inert_at_desktop_and_phone_widths(server):  # noqa: F811
    require_browser()
    from playwright.sync_api import sync_playwright

    hostile_runs()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for width in (1440, 390):
            page = browser.new_page(viewport={"width": width, "height": 900})
            for path, name in [("/stage/coding", "coding"), ("/stage/", "stage-inbox")]:
                page.goto(f"{server}{path}")
                page.wait_for_timeout(300)
                page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
                assert page.evaluate("window.pwned") is None
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 1, f"{path} spills {overflow}px sideways at {width}px"
            page.goto(f"{server}/stage/coding")
            assert HOSTILE in page.locator("#coding-panel").inner_text()
            page.close()
        browser.close()
