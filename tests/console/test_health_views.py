"""The seed's seven health views are SQL views an operator can query with psql: queue,
standing orders, workers, ready steps, stuck steps, opportunity and idea health, and the
snapshot joining them."""

from datetime import timedelta

import pytest
from django.db import connection

from console.health import health_snapshot
from missions.execution import claim_next_step
from missions.models import Step
from opportunities.actions import create_idea
from opportunities.models import Opportunity
from opscore.db import db_now
from tests.factories import AgentFactory, make_step

pytestmark = pytest.mark.django_db


def ids(view: str) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {view}")
        return {row[0] for row in cursor.fetchall()}


def test_ready_steps_are_queued_and_due_and_stuck_ones_hold_an_expired_lease(agent):
    stuck = make_step("noop", agent=agent)
    assert claim_next_step("gone").id == stuck.id
    Step.objects.filter(pk=stuck.pk).update(lease_expires_at=db_now() - timedelta(seconds=1))
    due = make_step("noop", agent=agent)
    later = make_step("noop", agent=agent, run_after=db_now() + timedelta(hours=1))

    assert ids("ready_steps_v") == {due.id}
    assert ids("stuck_steps_v") == {stuck.id}
    assert later.id not in ids("ready_steps_v")


def test_the_snapshot_carries_opportunity_and_idea_health(agent):
    AgentFactory(slug="research")
    create_idea({"source_agent": "devops", "theme": "ops", "title": "a thought", "body": "x"})
    Opportunity.objects.create(
        source_agent_id="research",
        owner_candidate_id="research",
        theme="t",
        title="Parked bet",
        why_now="w",
        evidence=[],
        impact=1,
        confidence=1,
        urgency=1,
        reversibility="high",
        suggested_next_step="s",
        status="parked",
    )

    health = health_snapshot()

    assert (health["idea_new_count"], health["opp_parked_count"]) == (1, 1)
    assert health["opp_new_count"] == 0 and health["idea_oldest_new_age_seconds"] >= 0


def test_status_reports_opportunity_and_idea_health(agent):
    from io import StringIO

    from django.core.management import call_command

    create_idea({"source_agent": "devops", "theme": "ops", "title": "a thought", "body": "x"})
    out = StringIO()
    call_command("status", stdout=out)

    line = next(x for x in out.getvalue().splitlines() if x.startswith("Opportunities:"))
    assert "new 0" in line and "ideas: new 1" in line and "oldest new" in line
