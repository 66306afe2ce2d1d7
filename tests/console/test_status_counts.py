"""`status` counts the rows its words name: today's rejections are those decided today."""

from datetime import UTC, datetime, timedelta

import pytest

from console.status import system_status
from missions.decisions import reject_proposal
from missions.models import OutboxMessage
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
