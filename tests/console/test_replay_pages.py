"""Why did it do that, on screen: each call's prompt and reply, collapsed, on the admin's
LLMCall page and the Stage's mission and conversation pages; replays listed in the admin."""

import random

import pytest
from django.urls import reverse

from missions.models import Mission
from missions.prompts import TEMPLATES
from missions.replay import replay_mission
from missions.worker import handle_one_step
from opscore.models import LLMCall
from roundtable.lifecycle import request_conversation
from roundtable.speaking import run_conversation
from tests.factories import propose

pytestmark = pytest.mark.django_db


@pytest.fixture
def mission(agent):
    mission = Mission.objects.get(proposal=propose(agent, "analyze", title="Disk usage"))
    handle_one_step("w1")
    return mission


def test_the_admin_shows_a_calls_request_reply_versions_and_links(admin_client, mission):
    call = LLMCall.objects.get(step__mission=mission)

    page = admin_client.get(reverse("admin:opscore_llmcall_change", args=[call.pk]))

    shown = page.content.decode()
    assert page.status_code == 200
    assert "<details><summary>system</summary>" in shown
    assert "Analyse the following" in shown and "[offline " in shown
    assert f"prompt {TEMPLATES['analyze'][0]}" in shown and f"mission {mission.id}" in shown


def test_the_admin_says_when_a_record_was_pruned(admin_client, mission):
    call = LLMCall.objects.get(step__mission=mission)
    call.record.prune("older than 30 days")

    page = admin_client.get(reverse("admin:opscore_llmcall_change", args=[call.pk]))

    assert "not kept: older than 30 days" in page.content.decode()


def test_the_admin_lists_replays_with_their_readable_report(admin_client, mission):
    run = replay_mission(mission.id)

    page = admin_client.get(reverse("admin:opscore_replayrun_change", args=[run.pk]))

    assert f"replay of mission {mission.id} (recorded): identical" in page.content.decode()


def test_the_stage_mission_page_shows_each_call_collapsed_without_inline_styles(
    admin_client, mission
):
    shown = admin_client.get(f"/stage/missions/{mission.id}").content.decode()

    assert '<details class="llm-call">' in shown and "<details open" not in shown
    assert "Analyse the following" in shown and "style=" not in shown


def test_the_stage_keeps_prompts_from_visitors_who_are_not_signed_in(client, mission, settings):
    settings.STAGE_PUBLIC = True

    shown = client.get(f"/stage/missions/{mission.id}").content.decode()

    assert "Sign in to read what was sent" in shown and "You are Devops" not in shown


def test_the_stage_conversation_page_shows_its_calls(admin_client, crew):
    talk = request_conversation("standup", [a.slug for a in crew], "the week", source="operator")
    run_conversation(talk, random.Random(1), pause=0)

    shown = admin_client.get(f"/stage/conversations/{talk.id}").content.decode()

    assert shown.count('<details class="llm-call">') == talk.turns.count() + 1
    assert "roundtable.distill" in shown


def test_the_stage_keeps_prompts_from_a_watcher_the_admin_would_not_show_them_to(client, mission):
    """Signed in is not enough: the bodies are the admin's LLMCall page, which asks staff and
    opscore.view_llmcall (README: "the bodies only for signed-in operators")."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    watcher = get_user_model().objects.create_user("nina", password="x")
    client.force_login(watcher)
    shown = client.get(f"/stage/missions/{mission.id}").content.decode()
    assert '<details class="llm-call">' in shown  # the call itself is listed
    assert "You are Devops" not in shown  # the system prompt
    assert "opscore.view_llmcall" in shown

    reader = get_user_model().objects.create_user("rita", password="x", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_llmcall"))
    client.force_login(reader)
    assert "You are Devops" in client.get(f"/stage/missions/{mission.id}").content.decode()
