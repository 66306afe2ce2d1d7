"""What a caller sends is kept whole or refused with the reason, never cut or dropped without a
word: a mission verb's field that the verb does not read (a `deadline` sent with a pause), a
mission's reason past its 300-character column, a conversation's topic or an outside runtime's
event title past their 300."""

import json

import pytest

from console.models import AgentToken
from missions.models import Mission
from opscore.models import Event, Runtime
from roundtable.models import Conversation
from tests.console.test_agent_api import call
from tests.factories import AgentFactory, make_step

pytestmark = pytest.mark.django_db
TOKEN = "test-token-0123456789-0123456789"


@pytest.fixture
def api(client, settings):
    settings.OPS_API_TOKEN = TOKEN
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return lambda path, body: client.post(
        path, json.dumps(body), content_type="application/json", headers=headers
    )


@pytest.fixture
def mission(agent):
    return make_step("noop", agent=agent).mission


def mission_events() -> list:
    return list(Event.objects.filter(kind__startswith="mission.").values_list("kind", flat=True))


@pytest.mark.parametrize(
    "verb, body, unknown",
    [
        ("pause", {"reason": "hold", "deadline": "2h"}, ["deadline"]),
        ("pause", {"reason": "hold", "text": "EU only"}, ["text"]),
        ("resume", {"reason": "go", "deadline": "2h"}, ["deadline"]),
        ("note", {"text": "EU only", "deadline": "2h"}, ["deadline"]),
        ("deadline", {"deadline": "2h", "reason": "launch", "text": "hurry"}, ["text"]),
    ],
)
def test_a_mission_verb_refuses_a_field_it_does_not_read(api, mission, verb, body, unknown):
    answer = api(f"/api/ops/missions/{mission.id}/{verb}", body)

    assert answer.status_code == 400
    assert answer.json()["errors"] == {"body": [f"unknown fields {unknown}"]}
    assert mission_events() == []


@pytest.mark.parametrize("verb", ["pause", "deadline"])
def test_a_mission_reason_past_500_characters_is_refused_not_cut(api, mission, verb):
    body = {"reason": "r" * 501} | ({"deadline": "2h"} if verb == "deadline" else {})

    answer = api(f"/api/ops/missions/{mission.id}/{verb}", body)

    assert answer.status_code == 400
    assert answer.json()["error"] == "a reason is at most 500 characters (501 given)"
    assert mission_events() == []
    assert Mission.objects.get(pk=mission.id).paused_at is None


def test_a_mission_reason_of_500_characters_is_kept_whole(api, mission):
    """500, as every reason (opscore.text.MAX_REASON): its column held 300, so a pause's reason
    was refused where a rejection's or a lift's was kept."""
    answer = api(f"/api/ops/missions/{mission.id}/pause", {"reason": "r" * 500})

    assert answer.status_code == 200
    assert Mission.objects.get(pk=mission.id).pause_reason == "r" * 500


def test_a_conversation_topic_past_its_column_is_refused_not_cut(api, crew):
    body = {"format": "watercooler", "topic": "t" * 301, "participants": ["devops", "research"]}

    answer = api("/api/ops/conversations", body)

    assert answer.status_code == 400
    assert answer.json()["errors"] == {"body": ["a topic is at most 300 characters (301 given)"]}
    assert not Conversation.objects.exists()


def test_an_event_title_past_its_column_is_refused_not_cut(client):
    outside = AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL)
    secret = AgentToken.issue(outside, "vps", actor="test")[1]

    answer = call(client, secret, "emit-event", status=400, topic="ops.x", title="t" * 301)

    assert answer["errors"] == {"title": ["at most 300 characters"]}
    assert not Event.objects.filter(kind="ops.x").exists()


def test_a_note_given_a_text_and_another_reason_is_refused_not_half_kept(api, mission):
    answer = api(f"/api/ops/missions/{mission.id}/note", {"text": "EU only", "reason": "legal"})

    assert answer.status_code == 400
    assert answer.json()["error"] == (
        "a note is one text: give it as text or as reason, not two different ones"
    )
    assert mission_events() == []
