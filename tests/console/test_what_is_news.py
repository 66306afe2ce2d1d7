"""One truth for what is news: a standing order's precondition and idle cognition read the same
events as company activity, and the same ones (bookkeeping, an operator's admin edits) as not."""

from datetime import timedelta

import pytest

from console.preconditions import events_since
from opscore.actions import record_event
from opscore.db import db_now
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


def news_since_a_minute_ago() -> list[str]:
    return [row["text"] for row in events_since(None, db_now() - timedelta(minutes=1))]


def test_an_admin_edit_and_roster_bookkeeping_are_not_news_to_a_precondition():
    """An hourly order woke on a repository's limit changed in the admin and spent a proposal on
    prose about it; an agent switched off is configuration too."""
    devops = AgentFactory(slug="devops")
    record_event(
        "coding.repository_changed",
        "web changed",
        tags=["admin", "repository"],
        actor="operator:bea",
    )
    record_event("agent.disabled", "Agent devops disabled", agent=devops, actor="operator:bea")

    assert news_since_a_minute_ago() == []


def test_real_activity_is_still_news_to_a_precondition():
    """An outside runtime failing is an alert, not roster bookkeeping; `ops.admin` from outside is
    not an operator's edit."""
    record_event("agent.runtime_failing", "Outside runtime of scout: 3 failures", actor="system:b")
    record_event("ops.admin", "admin panel restarted", tags=["ops", "admin"], actor="agentbus")
    record_event("deploy.finished", "web-2 deployed")

    assert len(news_since_a_minute_ago()) == 3
