"""A question is open only while its step waits on it: once the step has ended (cancelled,
dead-lettered, gone on without an answer) the Stage, the API and `thread show` list it as
closed and say why, as the answer they would refuse does; they never offered an answer box
for a question no prompt would read."""

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from missions.models import Comment
from tests.console.test_thread_answer_refusals import asking, step_ended

pytestmark = pytest.mark.django_db
TOKEN = "test-token-0123456789-0123456789"


def api_question(client, mission_id: int) -> dict:
    thread = client.get(
        f"/api/ops/threads/mission/{mission_id}", headers={"Authorization": f"Bearer {TOKEN}"}
    ).json()
    return next(c for c in thread["comments"] if c["kind"] == "question")


@pytest.mark.parametrize("how", ["cancelled", "dead", "succeeded"])
def test_a_question_whose_step_ended_is_listed_closed_with_why(
    admin_client, client, settings, monkeypatch, how
):
    settings.OPS_API_TOKEN = TOKEN
    step = asking(monkeypatch, "EU or US?", "Done: EU, as the likelier.")
    question = Comment.objects.get(kind="question")
    step_ended(step, how)
    why = f"S{step.id} is {how}"

    page = admin_client.get(f"/stage/threads/mission/{step.mission_id}").content.decode()
    shown = api_question(client, step.mission_id)
    out = io.StringIO()
    call_command("thread", "show", "mission", str(step.mission_id), stdout=out)

    assert f"Question closed: {why}" in page and "Question open" not in page
    assert 'name="answers"' not in page
    assert (shown["question_state"], shown["question_closed"]) == ("closed", why)
    assert f"T{question.id} question [closed: {why}]" in out.getvalue()
    assert not Comment.objects.open_questions().exists()  # the admin's "open" filter


def test_a_waiting_question_is_open_and_a_thread_reads_in_the_same_queries_however_many(
    client, settings, monkeypatch
):
    settings.OPS_API_TOKEN = TOKEN
    step = asking(monkeypatch, "EU or US?")
    with CaptureQueriesContext(connection) as one:
        shown = api_question(client, step.mission_id)
    more = Comment.objects.get(kind="question")
    for text in ("And the UK?", "And Japan?", "And Brazil?"):
        more.pk, more.text = None, text
        more.save()
    with CaptureQueriesContext(connection) as four:
        api_question(client, step.mission_id)

    assert len(four.captured_queries) == len(one.captured_queries)
    assert (shown["question_state"], shown.get("question_closed")) == ("open", None)
