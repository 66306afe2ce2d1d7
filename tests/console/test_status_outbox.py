"""Messages waiting to go out say how long the oldest has been due and untaken: with the
deliverer down, a handful of notices would otherwise wait for ever under every alert."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from prometheus_client.parser import text_string_to_metric_families

from console.status import system_status
from missions.models import OutboxMessage

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def waiting(clock):
    """One notice due since START and nobody took it; one backing off until an hour on."""
    clock.freeze(START)
    OutboxMessage.objects.create(key="notice:1", channel="local")
    OutboxMessage.objects.create(
        key="notice:2", channel="local", next_attempt_at=START + timedelta(hours=2)
    )
    OutboxMessage.objects.create(key="notice:3", channel="local", status="failed")
    clock.freeze(START + timedelta(hours=1))


def test_status_says_how_long_the_oldest_due_message_has_waited(waiting):
    text = io.StringIO()
    call_command("status", stdout=text)

    outbox = system_status()["outbox"]
    assert outbox == {"pending": 2, "failed": 1, "refused": 0, "oldest_due_age_seconds": 3600.0}
    said = "Outbox: 2 pending, 1 failed, 0 refused; oldest due 3600s ago, not taken"
    assert said in text.getvalue()


def test_metrics_age_the_oldest_due_message(waiting, client):
    scraped = text_string_to_metric_families(client.get("/metrics").content.decode())

    family = next(f for f in scraped if f.name == "opscore_outbox_oldest_due_age_seconds")
    assert [s.value for s in family.samples] == [3600.0]
