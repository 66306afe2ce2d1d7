"""A person who converts an opportunity in the admin put that proposal forward: they are its
author, so four-eyes holds for it as for a task they gave on the Stage."""

import pytest

from missions.decisions import DecisionRefused, approve_proposal
from missions.models import Proposal
from opportunities.actions import propose_opportunity
from tests.factories import AgentFactory
from tests.opportunities.test_opportunities import answer

pytestmark = pytest.mark.django_db


def test_the_person_who_converts_an_opportunity_cannot_approve_its_proposal_alone(admin_client):
    scout = AgentFactory(slug="devops")
    AgentFactory(slug="coordinator")
    made = propose_opportunity(answer(scout, reversibility="low")).opportunity
    chosen = {"action": "convert", "_selected_action": [made.pk]}

    admin_client.post("/admin/opportunities/opportunity/", chosen)

    proposal = Proposal.objects.get()
    assert proposal.status == "pending" and proposal.author == "operator"
    with pytest.raises(DecisionRefused, match="operator proposed this; someone else"):
        approve_proposal(proposal, actor="operator:operator", user=proposal.operator)
    proposal.refresh_from_db()
    assert proposal.status == "pending"
