"""A JSON field of the wrong kind is a 400 naming the field and the kind it wants, and nothing is
written: a number where text is wanted was written as its digits (an override's reason `7`, a
feedback's reason `[1]` as "[1]"), `0` or `false` for an override's expiry meant "never", and a
string where a number is wanted was read as one (a goal's target "1e3" became 1000)."""

import json

import pytest

from missions.goals import add_goal
from missions.models import Feedback, Goal, GoalVersion, Proposal
from opscore.models import Event, Override
from opscore.overrides import apply_override
from tests.factories import make_step

pytestmark = pytest.mark.django_db
TOKEN = "test-token-0123456789-0123456789"
NOT_TEXT = [7, 0, 1.5, True, False, None, ["x"], {"a": "b"}]
NOT_NUMBERS = ["3", "1e3", " 5 ", True, None, [3], {"n": 3}]
GOAL = {"title": "More", "metric": "missions_succeeded", "owner": "devops", "deadline": "30d"}


def post(client, path, body):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return client.post(path, json.dumps(body), content_type="application/json", headers=headers)


@pytest.fixture
def api(client, settings):
    settings.OPS_API_TOKEN = TOKEN
    return lambda path, body: post(client, path, body)


def ledger() -> dict:
    models = (Event, Override, Feedback, Goal, GoalVersion)
    counts = {model.__name__: model.objects.count() for model in models}
    lifted = list(Override.objects.values_list("status", "lift_reason"))
    return counts | {"overrides": lifted, "goals": list(Goal.objects.values_list("target"))}


@pytest.mark.parametrize("field", ["kind", "target", "reason", "expires"])
@pytest.mark.parametrize("preview", [False, True])
@pytest.mark.parametrize("wrong", NOT_TEXT, ids=repr)
def test_an_override_field_that_is_not_text_is_refused(api, agent, field, preview, wrong):
    body = {"kind": "pause-lane", "target": "triggers", "reason": "quiet", "preview": preview}
    before = ledger()

    answer = api("/api/ops/overrides", body | {field: wrong})

    assert answer.status_code == 400
    assert answer.json()["errors"] == {field: ["expected a string"]}
    assert ledger() == before


def test_an_override_given_as_text_still_applies_with_its_expiry(api, agent):
    body = {"kind": "pause-lane", "target": "triggers", "reason": "quiet", "expires": "2h"}

    answer = api("/api/ops/overrides", body)

    assert answer.status_code == 201 and answer.json()["expires_at"]
    assert Override.objects.get().reason == "quiet"


@pytest.fixture
def in_force(agent):
    return apply_override("pause-lane", "reactions", reason="storm", actor="operator:test")


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"reason": "calm", "reson": "typo"}, "body", "unknown fields ['reson']"),
        ({"reason": "c" * 501}, "reason", "at most 500 characters"),
    ],
)
def test_a_lift_with_an_unknown_field_or_a_reason_too_long_is_refused(
    api, in_force, body, field, message
):
    """An unknown field was dropped without a word, and a long reason cut to its first 500."""
    before = ledger()

    answer = api(f"/api/ops/overrides/{in_force.id}/lift", body)

    assert answer.status_code == 400
    assert answer.json()["errors"] == {field: [message]}
    assert ledger() == before


@pytest.mark.parametrize("wrong", [7, 1.5, True, ["useful"], {"why": "good"}], ids=repr)
def test_a_feedback_reason_that_is_not_text_is_refused(api, agent, wrong):
    mission = make_step("analyze", agent=agent, status="succeeded").mission_id
    before = ledger()

    answer = api("/api/ops/feedback", {"mission": mission, "rating": "useful", "reason": wrong})

    assert answer.status_code == 400
    assert answer.json()["errors"] == {"reason": ["expected a string"]}
    assert ledger() == before


@pytest.fixture
def goal(agent):
    return add_goal(GOAL | {"target": 2}, actor="operator:test")


@pytest.mark.parametrize("wrong", NOT_NUMBERS, ids=repr)
def test_a_goal_target_that_is_not_a_number_is_refused(api, goal, wrong):
    before = ledger()

    made = api("/api/ops/goals", GOAL | {"target": wrong})
    revised = api(f"/api/ops/goals/{goal.id}/revise", {"target": wrong, "reason": "more"})

    for answer in (made, revised):
        assert answer.status_code == 400
        assert answer.json()["errors"] == {"target": ["expected a number"]}
    assert ledger() == before


def test_a_goal_target_may_be_an_integer_or_a_fraction(api, goal):
    made = api("/api/ops/goals", GOAL | {"target": 3})
    revised = api(f"/api/ops/goals/{goal.id}/revise", {"target": 2.5, "reason": "less"})

    assert (made.status_code, made.json()["target"]) == (201, 3.0)
    assert (revised.status_code, revised.json()["target"]) == (200, 2.5)


@pytest.mark.parametrize("field", ["depends_on", "after_steps"])
@pytest.mark.parametrize("kind", [str, float, bool])
def test_the_steps_a_step_waits_on_are_named_by_integers(api, agent, field, kind):
    """Read leniently, "0" and 0.0 named step 0, and true named step 1 (or the row with id 1)."""
    earlier = make_step("analyze", agent=agent).id if field == "after_steps" else 0
    steps = [{"kind": "analyze"}, {"kind": "analyze", field: [kind(earlier)]}]
    before = ledger() | {"proposals": Proposal.objects.count()}

    answer = api("/api/ops/proposals", {"agent": "devops", "title": "t", "steps": steps})

    assert answer.status_code == 400
    assert answer.json()["errors"] == {f"steps.1.{field}.0": ["Input should be a valid integer"]}
    assert ledger() | {"proposals": Proposal.objects.count()} == before
