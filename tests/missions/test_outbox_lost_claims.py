"""A deliverer that dies mid-send leaves its claim to run out; the row's attempts still cap."""

import pytest
from django.db.models.functions import Now

from missions.models import OutboxMessage
from missions.outbox import MAX_DELIVERY_ATTEMPTS, claim_next, send, send_one
from opscore.models import Event

pytestmark = pytest.mark.django_db


def die_mid_send(message: OutboxMessage) -> None:
    """A deliverer claims the row and is killed before it answers; its claim runs out."""
    claimed = claim_next()
    assert claimed.pk == message.pk
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=Now())


def test_a_message_whose_deliverer_dies_every_time_fails_after_max_attempts():
    message = OutboxMessage.objects.create(key="effect:lost", channel="local", payload={})
    for _ in range(MAX_DELIVERY_ATTEMPTS):
        die_mid_send(message)

    assert send_one() == "failed"

    message.refresh_from_db()
    assert (message.status, message.attempts) == ("failed", MAX_DELIVERY_ATTEMPTS)
    assert message.external_id == ""
    assert "attempt 5 never finished" in message.last_error
    alert = Event.objects.get(kind="outbox.failed")
    assert "gave up after 5 attempts" in alert.summary


def test_a_message_whose_deliverer_died_once_is_still_delivered():
    message = OutboxMessage.objects.create(key="effect:once", channel="local", payload={})
    die_mid_send(message)

    assert send_one() == "delivered"
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("delivered", 2)


def test_a_send_that_answered_after_its_claim_ran_out_is_told_not_dropped():
    """The slow deliverer's channel took the message; meanwhile another deliverer had taken the
    row again and sent it. The first one's answer is refused (the row stays the second's), and
    an alert says the message may have gone out twice."""
    message = OutboxMessage.objects.create(key="effect:slow", channel="local", payload={})
    slow = claim_next()
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=Now())  # claim ran out
    assert send_one() == "delivered"

    assert send(slow) == "late"

    message.refresh_from_db()
    kept = (message.status, message.attempts, message.external_id)
    assert kept == ("delivered", 2, f"local-{message.id}")
    alert = Event.objects.get(kind="outbox.late_answer")
    assert alert.summary == (
        "attempt 1 answered after its 300 s claim ran out; attempt 2 had taken the message "
        "(now delivered): it may have gone out twice"
    )
