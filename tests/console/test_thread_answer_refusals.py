"""An answer through `/api/ops/threads/...` goes to exactly the question it names, while that
question's step still waits on it: an answer to another mission's question, to a question
answered already, to a step that moved on, or to a comment that is no question is a 400 saying
why, and nothing is written."""

import json

import pytest

from missions.models import Comment, Step
from missions.step_actions import cancel_mission, dead_letter_step, retry_step
from missions.worker import handle_one_step
from tests.factories import AgentFactory, make_step
from tests.scripted import Scripted

pytestmark = pytest.mark.django_db
TOKEN = "test-token-0123456789-0123456789"


@pytest.fixture
def api(client, settings):
    settings.OPS_API_TOKEN = TOKEN

    def answer(mission_id: int, question_id: int, text: str = "The EU."):
        return client.post(
            f"/api/ops/threads/mission/{mission_id}",
            data=json.dumps({"text": text, "answers": question_id}),
            content_type="application/json",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )

    return answer


def asking(monkeypatch, *questions: str) -> Step:
    """A step whose model asked `questions` in turn; it is blocked on the first."""
    replies = [f"QUESTION: {q}" for q in questions]
    monkeypatch.setattr("opscore.llm.get_provider", lambda: Scripted(*replies))
    step = make_step("analyze", agent=AgentFactory(slug="devops", max_concurrent_steps=10))
    handle_one_step("w1")
    step.refresh_from_db()
    assert (step.status, step.blocked_code) == ("blocked", "operator_answer")
    return step


def step_ended(step: Step, how: str) -> None:
    """`step`, blocked on its question, ends `how`: cancelled, dead, or succeeded (put back
    without an answer, it went on without one)."""
    if how == "cancelled":
        cancel_mission(step.mission, actor="operator:ann")
    elif how == "dead":
        dead_letter_step(step, actor="operator:ann", reason="not needed")
    else:
        retry_step(step, actor="operator:ann")
        handle_one_step("w1")
    assert Step.objects.get(pk=step.pk).status == how


def refused_and_nothing_written(response, reason: str) -> None:
    assert response.status_code == 400, response.content
    assert reason in response.json()["error"]
    assert "\n" not in response.json()["error"]
    assert set(Comment.objects.values_list("kind", flat=True)) == {"question"}


def test_a_question_of_another_mission_is_not_answered_through_this_one(api, monkeypatch):
    step = asking(monkeypatch, "EU or US?")
    question = Comment.objects.get(kind="question")
    other = make_step("analyze", agent=step.agent)

    refused = api(other.mission_id, question.id)

    refused_and_nothing_written(refused, f"no question T{question.id} on M{other.mission_id}")
    assert Step.objects.get(pk=step.pk).status == "blocked"


def test_a_comment_that_is_no_question_is_not_answered(api, monkeypatch):
    step = asking(monkeypatch, "EU or US?")
    remark = Comment.objects.create(
        subject_kind="mission",
        subject_id=step.mission_id,
        kind="remark",
        agent=step.agent,
        actor="operator:ann",
        text="a remark",
        mission_id=step.mission_id,
    )

    refused = api(step.mission_id, remark.id)

    assert refused.status_code == 400
    assert f"no question T{remark.id} on M{step.mission_id}" in refused.json()["error"]
    assert Comment.objects.count() == 2 and not Comment.objects.filter(kind="answer").exists()


def test_a_question_is_answered_once(api, monkeypatch):
    step = asking(monkeypatch, "EU or US?")
    question = Comment.objects.get(kind="question")
    assert api(step.mission_id, question.id).status_code == 201

    again = api(step.mission_id, question.id, text="The US after all.")

    assert again.status_code == 400 and f"T{question.id} is answered" in again.json()["error"]
    assert list(Comment.objects.filter(kind="answer").values_list("text", flat=True)) == ["The EU."]


@pytest.mark.parametrize("moved_on", ["cancelled", "dead", "succeeded"])
def test_a_question_whose_step_ended_is_not_answered(api, monkeypatch, moved_on):
    step = asking(monkeypatch, "EU or US?", "Done: EU, as the likelier.")
    question = Comment.objects.get(kind="question")
    step_ended(step, moved_on)

    refused = api(step.mission_id, question.id)

    refused_and_nothing_written(refused, f"S{step.id} is {moved_on}")
