"""A number written as text (a form field, a query, a header, an override's target, a stored
reference) is read only when it is one written plainly, in ASCII digits. int() raised on more
than 4300 digits and on a digit it does not read ("²" passes isdigit): each was a 500 with a
traceback; and it read " 5", "5_0" and an Arabic-Indic five as 5, 50 and 5."""

import json

import pytest

from console.lineage import lineage
from missions.models import Artifact, Comment, Feedback, Proposal
from opscore.inputs import whole_number
from opscore.models import Override
from tests.factories import OperatorFactory, make_step, propose

pytestmark = pytest.mark.django_db
TOKEN = "test-token-0123456789-0123456789"
HUGE = "9" * 5000
ARABIC_FIVE = "\u0665"


@pytest.mark.parametrize(
    "text, number",
    [
        *[("41", 41), ("-3", -3), ("0", 0), (HUGE, None), ("²", None), (ARABIC_FIVE, None)],
        *[(" 5", None), ("5_0", None), ("+5", None), ("", None), ("1e3", None), ("5\n", None)],
    ],
    ids=lambda v: repr(v)[:12],
)
def test_a_whole_number_is_ascii_digits_within_what_int_reads(text, number):
    assert whole_number(text) == number


@pytest.fixture
def api(client, settings):
    settings.OPS_API_TOKEN = TOKEN
    client.raise_request_exception = False
    return client


def test_a_content_length_of_more_digits_than_int_reads_is_a_400(api, agent):
    body = json.dumps({"agent": "devops", "title": "x", "steps": [{"kind": "analyze"}]})
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Length": HUGE}

    answer = api.post("/api/ops/proposals", body, content_type="application/json", headers=headers)

    assert answer.status_code == 400
    assert answer.json()["errors"] == {"Content-Length": ["not a number"]}
    assert not Proposal.objects.exists()


@pytest.mark.parametrize("kind", ["cancel-mission", "force-retry", "force-dead-letter"])
def test_an_override_target_of_more_digits_than_int_reads_is_no_such_row(api, agent, kind):
    body = {"kind": kind, "target": HUGE, "reason": "r"}
    headers = {"Authorization": f"Bearer {TOKEN}"}

    answer = api.post("/api/ops/overrides", body, content_type="application/json", headers=headers)

    assert answer.status_code == 400 and answer.json()["error"].startswith("no ")
    assert not Override.objects.exists()


@pytest.mark.parametrize("limit", ["5_0", " 5", ARABIC_FIVE, "+5"])
def test_an_events_query_number_is_plain_ascii_digits(api, agent, limit):
    answer = api.get(
        "/api/ops/events", {"limit": limit}, headers={"Authorization": f"Bearer {TOKEN}"}
    )

    assert answer.status_code == 400
    assert answer.json()["errors"] == {"limit": ["must be an integer"]}


@pytest.fixture
def operator(client):
    client.raise_request_exception = False
    client.force_login(OperatorFactory())
    return client


@pytest.mark.parametrize("answers", [HUGE, ARABIC_FIVE], ids=["huge", "arabic-indic"])
def test_the_stage_refuses_an_answer_naming_no_plain_question_id(operator, agent, answers):
    mission = make_step("analyze", agent=agent).mission_id

    refused = operator.post(
        f"/stage/threads/mission/{mission}/comment", {"text": "EU", "answers": answers}
    )

    assert refused.status_code == 400 and "expected a question id" in refused.content.decode()
    assert not Comment.objects.exists()


def test_the_stage_refuses_feedback_on_an_artifact_of_more_digits_than_int_reads(operator, agent):
    step = make_step("analyze", agent=agent, status="succeeded")
    Artifact.objects.create(step=step, kind="report", title="t", body="b")

    refused = operator.post(
        f"/stage/missions/{step.mission_id}/feedback",
        {"rating": "useful", "reason": "clear", "artifact": HUGE},
    )

    assert refused.status_code == 400 and "is not an output of" in refused.content.decode()
    assert not Feedback.objects.exists()


def test_a_cause_whose_reference_is_no_plain_number_is_shown_as_its_source(operator, agent):
    """An operator named "²" gives a task: its proposal's cause is `stage:²`."""
    proposal = propose(agent, title="from the Stage")
    Proposal.objects.filter(pk=proposal.pk).update(cause_ref="stage:²")

    page = operator.get(f"/stage/lineage/proposal/{proposal.id}")

    assert page.status_code == 200
    assert [node.text for node in lineage("proposal", proposal.id)["causes"]] == ["source: api"]
