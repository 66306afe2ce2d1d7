"""Feedback as evidence: an operator rates an output useful or not with a reason; the row is
evidence the memory lane can cite, and the outcome learner counts it."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from memory.evidence import check_evidence
from memory.learning import learn_from_outcomes
from memory.models import Memory, MemoryCandidate
from missions.feedback import FeedbackInvalid, record_feedback
from missions.models import Artifact, Feedback
from opscore.models import Event
from tests.factories import make_step

pytestmark = pytest.mark.django_db
FAR = float("inf")  # no deadline: an hour from import failed a worker running past it


def finished_output(agent, kind="analyze"):
    step = make_step(kind, agent=agent, status="succeeded")
    return Artifact.objects.create(step=step, kind="analysis", title="Disk report", body="ok")


def test_a_rating_is_a_row_and_an_event_the_memory_lane_can_cite(agent):
    report = finished_output(agent)

    rating = record_feedback(
        artifact=report.id, rating="useful", reason="caught the full disk", actor="operator:ana"
    )

    assert (rating.mission_id, rating.output) == (report.step.mission_id, f"artifact A{report.id}")
    event = Event.objects.get(kind="feedback.recorded")
    assert (event.actor, event.summary, event.mission_id) == (
        "operator:ana",
        "caught the full disk",
        report.step.mission_id,
    )
    assert check_evidence([{"type": "feedback", "id": rating.id}]) == [
        {"type": "feedback", "id": rating.id}
    ]


def test_the_outcome_learner_counts_ratings_into_one_memory_per_verdict(agent):
    first, second, third = (finished_output(agent) for _ in range(3))
    record_feedback(artifact=first.id, rating="useful", reason="clear", actor="operator:ana")
    record_feedback(artifact=second.id, rating="not_useful", reason="stale data", actor="op:bo")

    counts = learn_from_outcomes(FAR)

    assert counts["feedback"] == {"proposed": 2}
    useful = MemoryCandidate.objects.get(tags__contains=["operator-feedback", "useful"])
    assert useful.title == "Operators find analyze useful"
    assert "1 time(s) useful and 1 time(s) not useful" in useful.body
    lesson = MemoryCandidate.objects.get(tags__contains=["not_useful"])
    assert lesson.kind == "lesson" and "because stale data" in lesson.body

    record_feedback(artifact=third.id, rating="useful", reason="again", actor="operator:ana")
    again = learn_from_outcomes(FAR)

    assert sum(again["feedback"].values()) == 1
    memory = Memory.objects.active().get(tags__contains=["operator-feedback", "useful"])
    cited = [ref["id"] for ref in memory.evidence if ref["type"] == "feedback"]
    assert sorted(cited) == sorted(
        Feedback.objects.filter(rating="useful").values_list("id", flat=True)
    )
    latest = MemoryCandidate.objects.filter(tags__contains=["useful"]).latest("id")
    assert (latest.status, latest.promoted_memory_id) == ("merged", memory.id)
    assert "2 time(s) useful and 1 time(s) not useful" in latest.body


@pytest.mark.parametrize(
    ("given", "field", "message"),
    [
        ({"rating": "meh", "reason": "x", "mission": 1}, "rating", "one of useful, not_useful"),
        ({"rating": "useful", "reason": " ", "mission": 1}, "reason", "say why"),
        ({"rating": "useful", "reason": "x" * 501, "mission": 1}, "reason", "at most 500"),
        ({"rating": "useful", "reason": "x", "mission": 999}, "mission", "no mission 999"),
        ({"rating": "useful", "reason": "x"}, "output", "exactly one"),
        ({"rating": "useful", "reason": "x", "mission": 1, "artifact": 1}, "output", "exactly one"),
    ],
)
def test_bad_feedback_is_refused_naming_the_field(agent, given, field, message):
    with pytest.raises(FeedbackInvalid) as refused:
        record_feedback(actor="operator:test", **given)
    assert message in " ".join(refused.value.errors[field])
    assert not Feedback.objects.exists()


def test_the_cli_rates_a_mission(agent, capsys):
    step = make_step("noop", agent=agent, status="succeeded")
    out = io.StringIO()
    call_command("feedback", "--mission", str(step.mission_id), "--rating", "not_useful",
                 "--reason", "nobody reads it", "--json", stdout=out)  # fmt: skip
    assert json.loads(out.getvalue())["output"] == f"mission M{step.mission_id}"

    with pytest.raises(SystemExit):
        call_command("feedback", "--json", "--mission", "999", "--rating", "useful",
                     "--reason", "x")  # fmt: skip
    assert "no mission 999" in capsys.readouterr().out


def test_an_operator_rates_from_the_stage_mission_page(admin_client, agent):
    from django.test import Client

    client = Client()  # signed out (admin_client is the test's signed-in client)
    report = finished_output(agent)
    page = f"/stage/missions/{report.step.mission_id}"
    rate = f"{page}/feedback"

    assert client.post(rate, {"rating": "useful", "reason": "x"}).status_code == 302  # to login
    refused = admin_client.post(rate, {"rating": "useful", "reason": " "})
    assert refused.status_code == 400 and "say why" in refused.content.decode()
    admin_client.post(rate, {"rating": "useful", "reason": "clear", "artifact": str(report.id)})
    foreign = admin_client.post(rate, {"rating": "useful", "reason": "x", "artifact": "999"})

    assert "is not an output of" in foreign.content.decode()
    shown = admin_client.get(page).content.decode()
    assert f"artifact A{report.id}: <b>Useful</b> — clear" in shown
    assert Feedback.objects.get().given_by == "operator:operator"


def test_an_artifact_field_holding_no_number_is_refused_in_place(admin_client, agent):
    report = finished_output(agent)
    rate = f"/stage/missions/{report.step.mission_id}/feedback"

    refused = admin_client.post(rate, {"rating": "useful", "reason": "x", "artifact": "²"})

    assert refused.status_code == 400 and "is not an output of" in refused.content.decode()
    assert not Feedback.objects.exists()


def test_the_cli_names_a_zero_id_instead_of_dropping_it(agent):
    step = make_step("noop", agent=agent, status="succeeded")
    artifact = Artifact.objects.create(step=step, kind="report", title="r", body="b")
    cases = [
        (["--mission", "0"], "mission: a positive integer id"),
        (["--mission", "0", "--artifact", str(artifact.id)], "name exactly one of"),
    ]
    for ids, said in cases:
        with pytest.raises(CommandError) as refused:
            call_command("feedback", *ids, "--rating", "useful", "--reason", "x")
        assert (refused.value.returncode, said in str(refused.value)) == (2, True)
    assert not Feedback.objects.exists()


def test_a_rating_given_twice_by_one_person_counts_once_in_the_learned_tally(agent):
    """A double click on the Stage's rating form sends it twice: two rows (nothing dropped),
    but one person's one opinion of one output; a changed mind counts as the latest."""
    report, other = finished_output(agent), finished_output(agent)
    for _ in range(2):
        record_feedback(artifact=report.id, rating="useful", reason="clear", actor="operator:ana")
    record_feedback(artifact=other.id, rating="useful", reason="ok", actor="operator:ana")
    record_feedback(artifact=other.id, rating="not_useful", reason="stale", actor="operator:ana")

    learn_from_outcomes(FAR)

    latest = MemoryCandidate.objects.filter(tags__contains=["operator-feedback"]).latest("id")
    assert "1 time(s) useful and 1 time(s) not useful" in latest.body
    assert Feedback.objects.count() == 4
