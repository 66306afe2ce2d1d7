"""`status` counts the rows its words name (today's rejections are those decided today) and
says what an operator needs to know of the heartbeat."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from console.status import system_status
from missions.decisions import reject_proposal
from missions.models import OutboxMessage
from opscore.models import ActionRun
from tests.factories import propose

pytestmark = pytest.mark.django_db
EVENING = datetime(2026, 3, 9, 22, 0, tzinfo=UTC)


def test_a_proposal_made_yesterday_and_rejected_today_is_a_rejection_today(agent, clock):
    """A proposal waits overnight for a person, who rejects it in the morning: `status` said
    no rejections today, and the one made today is not rejected until it is."""
    clock.freeze(EVENING)
    overnight = propose(agent, "deploy", title="overnight")
    clock.freeze(EVENING + timedelta(hours=11))
    waiting = propose(agent, "deploy", title="made today, still pending")

    reject_proposal(overnight, actor="operator:ann", reason="not this week")

    assert system_status()["proposals"]["rejections_today"] == {
        "total": 1,
        "by_code": {"operator": 1},
    }
    assert waiting.status == "pending"


def test_the_outbox_figures_have_one_shape_whether_or_not_a_message_waits():
    """A stray `"age": null` appeared beside `oldest_due_age_seconds` only while none was due."""
    empty = system_status()["outbox"]
    OutboxMessage.objects.create(key="k", channel="mail", status="pending")

    assert (
        set(empty)
        == set(system_status()["outbox"])
        == {
            "pending",
            "failed",
            "refused",
            "oldest_due_age_seconds",
        }
    )


def status_text() -> str:
    out = StringIO()
    call_command("status", stdout=out)
    return out.getvalue()


def test_status_says_when_the_heartbeat_last_beat_and_which_duties_failed(clock):
    """A duty failing on every beat (a partial run) was kept on its row and in `--json`; the
    text `status` an operator reads said nothing of the heartbeat at all."""
    assert "Heartbeat: never ran" in status_text()
    clock.freeze(EVENING)
    duties = [
        {"name": "reap_leases", "status": "ok"},
        {"name": "learn_from_outcomes", "status": "error", "error": "boom"},
    ]
    ActionRun.objects.create(trigger="schedule", status="partial", duties=duties)
    clock.freeze(EVENING + timedelta(minutes=3))

    said = status_text()

    assert "Heartbeat: last beat 3 min ago, partial: learn_from_outcomes failed" in said
    assert system_status()["last_heartbeat"]["failed_duties"] == ["learn_from_outcomes"]
