"""Who an API caller says they are (`actor`): a name that is not a string is refused with a 400
naming the field, and nothing is written (a number, a list or an object was silently written
as `api:operator`); a name too long for the ledger's 150 is kept as `operator_actor` keeps a
long username: its start and a digest of the whole, so two long names stay two callers."""

import json

import pytest

from console.models import ChatMessage
from missions.goals import add_goal
from missions.models import Comment, Feedback, Goal, GoalVersion, Mission
from opscore.models import Event, Override
from opscore.overrides import apply_override
from tests.factories import AgentFactory, make_step

pytestmark = pytest.mark.django_db
TOKEN = "test-token-0123456789-0123456789"
NOT_NAMES = [7, 1.5, True, None, ["ann"], {"name": "ann"}]
LONG = "a" * 160


def post(client, path, body):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return client.post(path, json.dumps(body), content_type="application/json", headers=headers)


@pytest.fixture
def things(client, agent, settings):
    """One of everything the endpoints that take an `actor` write about, and their paths with a
    body each would accept."""
    settings.OPS_API_TOKEN = TOKEN
    AgentFactory(slug="coordinator", enabled=True)
    step = make_step("analyze", agent=agent, status="succeeded")
    goal = add_goal(
        {"title": "Ship", "metric": "missions_succeeded", "target": 2, "owner": "devops"}
        | {"scope": "goal", "deadline": "30d"},
        actor="operator:test",
    )
    pause = apply_override("pause-lane", "reactions", reason="storm", actor="operator:test")
    said = post(client, "/api/ops/chat", {"text": "draft a tweet about uptime", "actor": "ann"})
    draft = said.json()["answer"]["id"]
    mission = step.mission_id
    return {
        "/api/ops/goals": {
            "title": "More",
            "metric": "missions_succeeded",
            "target": 3,
            "owner": "devops",
            "deadline": "30d",
        },
        f"/api/ops/goals/{goal.id}/revise": {"target": 4, "reason": "more"},
        f"/api/ops/goals/{goal.id}/close": {"reason": "done"},
        "/api/ops/feedback": {"mission": mission, "rating": "useful", "reason": "good"},
        f"/api/ops/missions/{mission}/pause": {"reason": "hold"},
        "/api/ops/overrides": {"kind": "pause-lane", "target": "triggers", "reason": "quiet"},
        f"/api/ops/overrides/{pause.id}/lift": {"reason": "calm"},
        f"/api/ops/threads/mission/{mission}": {"text": "hi"},
        "/api/ops/chat": {"text": "what is running?"},
        f"/api/ops/chat/{draft}/discard": {},
        f"/api/ops/chat/{draft}/confirm": {},
    }


def ledger() -> dict:
    """Every row those endpoints write or change, counted or read."""
    counts = {
        model.__name__: model.objects.count()
        for model in (Event, Goal, GoalVersion, Feedback, Override, Comment, ChatMessage)
    }
    states = {
        "missions paused": Mission.objects.filter(paused_at__isnull=False).count(),
        "goals": list(Goal.objects.values_list("status", flat=True)),
        "overrides": list(Override.objects.values_list("lifted_at", flat=True)),
        "drafts": list(ChatMessage.objects.values_list("draft_state", flat=True)),
    }
    return counts | states


@pytest.mark.parametrize("not_a_name", NOT_NAMES, ids=repr)
def test_an_actor_that_is_not_a_string_is_refused_and_nothing_is_written(
    client, things, not_a_name
):
    before = ledger()

    answers = {
        path: post(client, path, body | {"actor": not_a_name}) for path, body in things.items()
    }

    assert {path: answer.status_code for path, answer in answers.items()} == dict.fromkeys(
        things, 400
    )
    for path, answer in answers.items():
        assert answer.json()["ok"] is False, path
        assert answer.json()["errors"]["actor"] == ["expected a string"], path
    assert ledger() == before


def test_a_name_too_long_for_the_ledger_keeps_its_start_and_a_digest_of_the_whole(client, things):
    path = next(p for p in things if p.startswith("/api/ops/threads/"))

    one = post(client, path, {"text": "one", "actor": LONG + "1"})
    other = post(client, path, {"text": "other", "actor": LONG + "2"})

    names = [one.json()["comment"]["actor"], other.json()["comment"]["actor"]]
    assert [len(name) for name in names] == [150, 150]
    assert all(name.startswith("api:" + "a" * 135 + "~") for name in names)
    assert names[0] != names[1]
    assert set(Comment.objects.filter(kind="remark").values_list("actor", flat=True)) == set(names)


def test_the_same_long_name_is_the_same_caller_across_endpoints(client, things):
    """The chat keeps a caller's messages by name: a long name must come back the same."""
    post(client, "/api/ops/chat", {"text": "what is running?", "actor": LONG})

    mine = client.get(f"/api/ops/chat?actor={LONG}", headers={"Authorization": f"Bearer {TOKEN}"})

    assert [m["text"] for m in mine.json()["messages"] if m["role"] == "operator"] == [
        "what is running?"
    ]
