"""An agent's question to the operator is asked only while its step's worker holds the lease:
one whose step was taken from it mid-call (the mission cancelled, the attempt timed out) asks
nobody, or the Inbox holds a question no step waits on."""

import pytest

from missions.models import Comment, Step
from missions.worker import handle_one_step
from opscore.models import Event
from tests.factories import make_step
from tests.scripted import CancelledMidCall

pytestmark = pytest.mark.django_db


def test_a_worker_whose_step_was_cancelled_mid_call_asks_the_operator_nothing(agent, monkeypatch):
    step = make_step("analyze", agent=agent, payload={"topic": "pricing"})
    model = CancelledMidCall(step.mission, "QUESTION: Which region should I price for?")
    monkeypatch.setattr("opscore.llm.get_provider", lambda: model)

    assert handle_one_step("w1")

    assert not Comment.objects.filter(kind="question").exists()
    assert not Event.objects.filter(kind="thread.comment").exists()
    assert Step.objects.get(pk=step.pk).status == "cancelled"
    assert Event.objects.filter(kind="step.late_write_refused", step=step).exists()
