"""Parallel submissions race for the last quota slots; the gate must never let one too many in."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from missions.models import Proposal, Step
from opscore.actions import set_policy
from tests.factories import AgentFactory, propose

SUBMITTERS = 12


def submit_in_parallel(agents, kind):
    def one(agent):
        try:
            return propose(agent, kind).status
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=SUBMITTERS) as pool:
        return list(pool.map(one, agents))


@pytest.mark.django_db(transaction=True)
def test_parallel_submissions_never_exceed_the_content_quota():
    set_policy("content_policy", {"enabled": True, "max_drafts_per_day": 3}, actor="test")
    agents = [AgentFactory() for _ in range(SUBMITTERS)]

    statuses = submit_in_parallel(agents, "write_content")

    assert statuses.count("accepted") == 3
    assert statuses.count("rejected") == SUBMITTERS - 3
    assert Step.objects.filter(kind="write_content").count() == 3


@pytest.mark.django_db(transaction=True)
def test_parallel_submissions_by_one_agent_never_exceed_its_daily_limit():
    agent = AgentFactory(daily_proposal_limit=5)

    statuses = submit_in_parallel([agent] * SUBMITTERS, "analyze")

    assert statuses.count("accepted") == 5
    assert Proposal.objects.filter(rejection_code="daily_limit").count() == SUBMITTERS - 5
