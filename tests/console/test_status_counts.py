"""`status` counts the rows its words name: today's rejections are those decided today."""

from datetime import UTC, datetime, timedelta

import pytest

from console.status import system_status
from missions.decisions import reject_proposal
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
