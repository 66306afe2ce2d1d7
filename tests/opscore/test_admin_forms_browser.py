"""The admin's typed policy form and override form in a real browser at 1440 and 390 px, with
long and hostile text in them: nothing runs, nothing spills sideways, an error stays in place.
Screenshots go to tests/artifacts/ (or OPS_SHOTS_DIR)."""

import pytest

from opscore.actions import set_policy
from opscore.models import Policy
from tests.console.test_stage_browser import CHROMIUM, FLAGS, require_browser, server  # noqa: F401
from tests.e2e.test_first_ten_browser import SHOTS, WIDTHS
from tests.factories import AgentFactory, OperatorFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
HOSTILE = "<script>window.pwned=1</script><img src=x onerror=window.pwned=1> " + "w" * 300


def sign_in(page, base):
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")


def fits(page, width) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= width + 1


def policy_form_refuses_in_place(page, base, width):
    from playwright.sync_api import expect

    page.goto(f"{base}/admin/opscore/policy/outcome_learning_policy/change/")
    page.check("input[name=editor][value=form]")
    page.fill("input[name=p_low_ratio]", "1.5")  # the browser allows it; only the schema refuses
    page.fill("[name=reason]", HOSTILE)
    page.locator("input[name=_save]").click()
    expect(page.locator(".errorlist").first).to_be_visible()  # waits for the answer
    assert page.evaluate("window.pwned") is None
    assert fits(page, width)
    page.screenshot(path=str(SHOTS / f"admin-policy-form-{width}.png"), full_page=True)


def override_form_offers_targets(page, base, width):
    page.goto(f"{base}/admin/opscore/override/apply/?kind=pause_lane")
    assert page.locator("select[name=target] option[value='memory:drop']").count() == 1
    page.fill("[name=reason]", HOSTILE)
    assert page.evaluate("window.pwned") is None
    assert fits(page, width)
    page.screenshot(path=str(SHOTS / f"admin-override-form-{width}.png"), full_page=True)


def test_the_admin_policy_and_override_forms_in_a_browser(server, monkeypatch):  # noqa: F811
    require_browser()
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    OperatorFactory()
    AgentFactory(slug="devops-" + "x" * 40, display_name=HOSTILE[:100])
    set_policy("outcome_learning_policy", {}, actor="t")
    before = Policy.objects.get(key="outcome_learning_policy").value
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for width in WIDTHS:
            page = browser.new_page(viewport={"width": width, "height": 900})
            sign_in(page, server)
            policy_form_refuses_in_place(page, server, width)
            override_form_offers_targets(page, server, width)
        browser.close()
    assert Policy.objects.get(key="outcome_learning_policy").value == before
