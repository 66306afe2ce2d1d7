"""The mission controls from the CLI, the API, the admin and the Stage: same functions, each
an event with its actor and reason, refusals in one line."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from missions.models import Mission
from opscore.models import Event
from tests.factories import make_step

pytestmark = pytest.mark.django_db
TOKEN = "test-token-0123456789-0123456789"


def post(client, path, body, token=TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(
        path, data=json.dumps(body), content_type="application/json", headers=headers
    )


def test_the_cli_pauses_notes_and_resumes_a_mission(agent):
    step = make_step("noop", agent=agent)
    out = io.StringIO()

    call_command("mission", "pause", str(step.mission_id), "--reason", "hold", stdout=out)
    call_command("mission", "note", str(step.mission_id), "EU only", stdout=out)
    call_command("mission", "--json", "resume", str(step.mission_id), "--reason", "go", stdout=out)

    assert f"M{step.mission_id} approved, paused (hold): pause recorded" in out.getvalue()
    assert '"paused": false' in out.getvalue()
    events = Event.objects.filter(mission_id=step.mission_id, kind__startswith="mission.")
    assert list(events.order_by("id").values_list("kind", "actor")) == [
        ("mission.paused", "operator:cli"),
        ("mission.note", "operator:cli"),
        ("mission.resumed", "operator:cli"),
    ]
    with pytest.raises(CommandError, match="is not paused"):
        call_command("mission", "resume", str(step.mission_id), "--reason", "again")


def test_the_api_sets_a_deadline_and_pauses_with_the_token(client, agent, settings):
    settings.OPS_API_TOKEN = TOKEN
    step = make_step("noop", agent=agent)
    base = f"/api/ops/missions/{step.mission_id}"

    assert post(client, f"{base}/pause", {"reason": "x"}, token="").status_code == 401
    answer = post(client, f"{base}/deadline", {"deadline": "2h", "reason": "launch"})
    assert answer.status_code == 200 and answer.json()["deadline_at"]
    answer = post(client, f"{base}/pause", {"reason": "hold", "actor": "ann"})
    assert (answer.status_code, answer.json()["paused"]) == (200, True)
    assert Mission.objects.get(pk=step.mission_id).pause_reason == "hold"
    assert Event.objects.get(kind="mission.paused").actor == "api:ann"

    refused = post(client, f"{base}/deadline", {"deadline": "soon", "reason": "r"})
    assert refused.status_code == 400 and "give a span" in refused.json()["error"]
    assert post(client, f"{base}/warp", {}).status_code == 404
    assert post(client, "/api/ops/missions/999999/pause", {"reason": "r"}).status_code == 404
    assert post(client, f"{base}/note", {"text": 3}).json()["errors"] == {
        "text": ["expected a string"]
    }


def test_the_api_answers_a_conflict_409_and_a_bad_value_400(client, agent, settings):
    """Every refusal used to be 400, so a client could not tell "fix your request" from "the
    mission is no longer in that state", nor a missing mission from a bad value."""
    settings.OPS_API_TOKEN = TOKEN
    step = make_step("noop", agent=agent)
    base = f"/api/ops/missions/{step.mission_id}"
    post(client, f"{base}/pause", {"reason": "hold"})

    again = post(client, f"{base}/pause", {"reason": "hold"})
    empty = post(client, f"{base}/note", {"text": " "})
    missing = post(client, "/api/ops/missions/999999/note", {"text": "hi"})

    assert again.status_code == 409 and "already paused" in again.json()["error"]
    assert empty.status_code == 400 and "needs text" in empty.json()["error"]
    assert missing.status_code == 404 and missing.json()["ok"] is False


def test_the_admin_asks_a_reason_then_pauses_and_sets_a_deadline(admin_client, agent):
    from django.urls import reverse

    step = make_step("noop", agent=agent)
    url = reverse("admin:missions_mission_changelist")
    chosen = {"_selected_action": [step.mission_id]}

    asked = admin_client.post(url, {"action": "pause_missions", **chosen})
    assert 'name="reason"' in asked.content.decode()
    assert Mission.objects.get(pk=step.mission_id).paused_at is None
    admin_client.post(url, {"action": "pause_missions", "apply": "1", "reason": "hold", **chosen})
    asked = admin_client.post(url, {"action": "deadline_missions", **chosen})
    assert 'name="deadline"' in asked.content.decode()
    fields = {"apply": "1", "reason": "launch", "deadline": "3d"}
    admin_client.post(url, {"action": "deadline_missions", **fields, **chosen})

    mission = Mission.objects.get(pk=step.mission_id)
    assert (mission.pause_reason, mission.deadline_at is not None) == ("hold", True)
    paused = Event.objects.get(kind="mission.paused", mission=mission)
    assert paused.actor.startswith("operator:") and paused.payload["reason"] == "hold"
    assert Event.objects.filter(kind="mission.deadline_set", mission=mission).exists()


def test_the_stage_mission_page_pauses_and_shows_refusals_in_place(admin_client, agent):
    from django.test import Client

    client = Client()  # signed out (admin_client is the test's signed-in client)
    step = make_step("noop", agent=agent)
    page = f"/stage/missions/{step.mission_id}"
    control = f"{page}/control"

    assert 'id="mission-control"' not in client.get(page).content.decode()  # signed out
    assert client.post(control, {"verb": "pause", "reason": "x"}).status_code == 302  # to login
    assert Mission.objects.get(pk=step.mission_id).paused_at is None
    assert 'id="mission-control"' in admin_client.get(page).content.decode()
    done = admin_client.post(control, {"verb": "pause", "reason": "legal review"})
    assert (done.status_code, done["Location"]) == (302, page)
    shown = admin_client.get(page).content.decode()
    assert "legal review" in shown and 'value="resume"' in shown
    admin_client.post(control, {"verb": "note", "reason": "EU only"})
    assert "EU only" in admin_client.get(page).content.decode()

    refused = admin_client.post(control, {"verb": "deadline", "reason": "r", "deadline": "soon"})
    assert refused.status_code == 400 and "give a span" in refused.content.decode()


def test_the_mission_page_says_an_offline_post_was_not_posted(client, agent, settings):
    from missions.outbox import deliver_pending
    from missions.worker import handle_one_step

    settings.OPSCORE_LLM = "offline"
    step = make_step("post_tweet", agent=agent, payload={"text": "We shipped!"})
    handle_one_step("w1")
    deliver_pending()

    shown = client.get(f"/stage/missions/{step.mission_id}").content.decode()
    assert "recorded locally, not published" in shown and "published to" not in shown
