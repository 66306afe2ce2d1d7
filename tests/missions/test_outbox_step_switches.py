"""An effect a step queued obeys the switches over that step, on every outbox channel: a
plug-in's (OPS_EXECUTOR_MODULES' CHANNELS) as much as the publishing networks'. The step ran and
queued it; the agent was disabled, or its mission paused, while it waited."""

import io

import pytest
from django.core.management import call_command
from prometheus_client.parser import text_string_to_metric_families

from missions.mission_control import pause_mission, resume_mission
from missions.models import OutboxMessage
from missions.outbox import CHANNELS, deliver_pending
from missions.step_actions import cancel_mission
from opscore.db import db_now
from opscore.models import Event
from opscore.overrides import apply_override, lift_override
from tests.factories import make_step

pytestmark = pytest.mark.django_db
ANN = "operator:ann"


@pytest.fixture
def invoices(monkeypatch):
    """A plug-in channel that sends invoices to the outside world."""
    sent = []
    monkeypatch.setitem(CHANNELS, "invoice", lambda message: sent.append(message.key) or "inv-1")
    step = make_step("noop", status="succeeded")
    OutboxMessage.objects.create(key=f"invoice:{step.id}", channel="invoice", step=step)
    return step, sent


def deliver_again() -> None:
    OutboxMessage.objects.update(next_attempt_at=db_now())
    deliver_pending()


def test_a_plug_in_effect_queued_before_its_agent_was_disabled_waits(invoices):
    _step, sent = invoices
    switch = apply_override("disable_agent", "devops", reason="misbehaving", actor=ANN)

    deliver_pending()

    message = OutboxMessage.objects.get()
    assert (message.status, message.attempts, sent) == ("pending", 0, [])
    assert message.last_error == f"held: devops is disabled (override {switch.id}: misbehaving)"
    lift_override(switch.id, actor=ANN, reason="fixed")
    deliver_again()
    assert OutboxMessage.objects.get().status == "delivered" and sent == [message.key]


def test_a_plug_in_effect_queued_before_its_mission_was_paused_waits(invoices):
    step, sent = invoices
    pause_mission(step.mission_id, actor=ANN, reason="checking the amounts")

    deliver_pending()

    message = OutboxMessage.objects.get()
    assert (message.status, message.attempts, sent) == ("pending", 0, [])
    said = f"held: mission M{step.mission_id} is paused: checking the amounts"
    assert message.last_error == said
    resume_mission(step.mission_id, actor=ANN, reason="fine")
    deliver_again()
    assert OutboxMessage.objects.get().status == "delivered" and sent == [message.key]


def test_a_plug_in_effect_whose_mission_was_cancelled_is_refused_saying_why(invoices):
    """Cancelling is how an operator takes back work queued before a pause: the publishing
    networks refused a cancelled mission's post, a plug-in's invoice still went out."""
    step, sent = invoices
    cancel_mission(step.mission, actor=ANN)

    deliver_pending()

    message = OutboxMessage.objects.get()
    assert (message.status, sent) == ("refused", [])
    assert message.last_error == f"refused: its mission M{step.mission_id} was cancelled"
    refusal = Event.objects.get(kind="outbox.refused")
    assert (refusal.summary, refusal.mission_id) == (message.last_error, step.mission_id)


def test_a_cancelled_missions_refused_effect_pages_nobody(invoices, client):
    """The operator who cancelled the mission asked for the refusal: it was an `outbox.failed`
    alert ('gave up after 1 attempts'), a failed message in `status` and in the metrics, where
    OpscoreOutboxFailed fires on any. It is counted as refused there, and said at no alert's
    level."""
    step, _sent = invoices
    cancel_mission(step.mission, actor=ANN)

    deliver_pending()

    assert not Event.objects.filter(tags__contains=["alert"]).exists()
    text = io.StringIO()
    call_command("status", stdout=text)
    assert "Outbox: 0 pending, 0 failed, 1 refused" in text.getvalue()
    scraped = text_string_to_metric_families(client.get("/metrics").content.decode())
    family = next(f for f in scraped if f.name == "opscore_outbox_messages")
    assert {s.labels["status"]: s.value for s in family.samples} == {
        "pending": 0,
        "failed": 0,
        "refused": 1,
    }
