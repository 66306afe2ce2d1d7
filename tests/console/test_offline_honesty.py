"""Offline never pretends: every page says the words are stand-ins, bubbles keep the mark."""

from pathlib import Path

import pytest

from tests.factories import propose

pytestmark = pytest.mark.django_db
BANNER = "Offline LLM provider"
PAGES = ["/stage/", "/stage/office", "/stage/swimlane", "/stage/agents", "/stage/conversations"]
PAGES += ["/stage/login"]  # the first page a newcomer on a private Stage sees


@pytest.mark.parametrize("path", PAGES)
def test_every_stage_page_carries_the_offline_banner(client, agent, settings, path):
    settings.OPSCORE_LLM = "offline"

    assert BANNER in client.get(path).content.decode()
    settings.OPSCORE_LLM = "anthropic"
    assert BANNER not in client.get(path).content.decode()


def test_the_mission_page_carries_the_offline_banner(client, agent, settings):
    from missions.models import Mission

    settings.OPSCORE_LLM = "offline"
    mission = Mission.objects.get(proposal=propose(agent, "noop"))

    assert BANNER in client.get(f"/stage/missions/{mission.id}").content.decode()


def test_the_admin_carries_the_offline_banner(admin_client, settings):
    settings.OPSCORE_LLM = "offline"

    for path in ["/admin/", "/admin/missions/mission/"]:
        assert BANNER in admin_client.get(path).content.decode()


def test_speech_bubbles_mark_offline_words_once_with_a_tag(client, agent):
    """The bubble's two short lines carry the words; its "offline" tag carries the mark (a
    line that spends 9 of its 22 characters on "[offline]" says the same thing twice)."""
    script = (Path(__file__).parent.parent.parent / "console/static/stage/office.js").read_text()
    office = client.get("/stage/office").content.decode()

    assert 'bubble.classList.toggle("offline", offline)' in script
    assert '<text class="offline-tag"' in office


def test_status_says_the_provider_is_offline(settings):
    import json
    from io import StringIO

    from django.core.management import call_command

    settings.OPSCORE_LLM = "offline"
    text, raw = StringIO(), StringIO()
    call_command("status", stdout=text)
    call_command("status", "--json", stdout=raw)

    assert "LLM provider: offline (OFFLINE: replies are stand-ins" in text.getvalue()
    assert json.loads(raw.getvalue())["llm"]["offline"] is True


def test_the_admin_marks_an_artifact_the_offline_provider_wrote(admin_client, settings):
    from missions.worker import handle_one_step
    from tests.factories import make_step

    settings.OPSCORE_LLM = "offline"
    make_step("analyze", payload={"topic": "pricing"})
    handle_one_step("w1")

    page = admin_client.get("/admin/missions/artifact/").content.decode()
    assert "Offline stand-in" in page and 'alt="True"' in page


def test_the_admin_marks_a_finding_an_offline_standing_order_wrote(admin_client, settings):
    """A standing order's finding has no step, so no step's call said offline: the admin
    marked its stand-in words as a model's (a red cross in "Offline stand-in")."""
    from opscore.actions import record_event
    from opscore.models import LLMCall, StandingOrder
    from tests.factories import AgentFactory, run_order_now

    settings.OPSCORE_LLM = "offline"
    order = StandingOrder.objects.create(
        agent=AgentFactory(slug="devops"),
        name="devops-drift-review",
        cron="0 * * * *",
        handler="generic",
        precondition="events_since_last_run",
    )
    record_event("config.changed", "nginx.conf edited on web-2", agent=order.agent)

    run = run_order_now(order)

    page = admin_client.get("/admin/missions/artifact/").content.decode()
    assert run.status == "completed" and 'alt="True"' in page and 'alt="False"' not in page
    assert run.evidence["provider"] == "offline"
    assert LLMCall.objects.get().links == {"standing_order_run": run.id}


def test_the_signal_feed_wears_an_offline_badge(client, agent, settings):
    settings.OPSCORE_LLM = "offline"
    page = client.get("/stage/").content.decode()
    feed = page[page.find("<h2>Signal feed") : page.find('<ol id="feed"')]

    assert 'id="feed-offline"' in feed and "offline: stand-in words" in feed
    settings.OPSCORE_LLM = "anthropic"
    assert 'id="feed-offline"' not in client.get("/stage/").content.decode()


def test_an_address_no_page_answers_is_a_stage_page_that_says_so(client, settings):
    """A label typed as it reads (/stage/missions/M12) or a mistyped path was Django's bare
    white 'Not Found': no way back to the Stage and no word that the words are stand-ins."""
    settings.OPSCORE_LLM = "offline"

    page = client.get("/stage/missions/M12")

    shown = page.content.decode()
    assert page.status_code == 404
    assert "There is no page /stage/missions/M12" in shown
    assert BANNER in shown and 'href="/stage/"' in shown
    assert "/stage/⟨U+202E⟩live" in client.get("/stage/%E2%80%AElive").content.decode()


def test_a_private_stages_visitor_sees_no_health_strip_on_a_page_no_one_answers(client, settings):
    settings.STAGE_PUBLIC = False

    page = client.get("/stage/missions/M12")

    assert page.status_code == 404 and 'id="health"' not in page.content.decode()
