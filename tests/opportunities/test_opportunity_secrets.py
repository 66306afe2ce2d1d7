"""A known secret pasted into an opportunity or an idea (a scout's model echoing a key, an
outside runtime quoting the operator's token) is masked before the row is written: the board,
the API and the admin show the row as stored."""

import pytest

from opportunities.actions import create_idea, promote_idea, propose_opportunity, review_idea
from opscore.actions import record_event
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db

SECRET = "opstoken-0123456789-0123456789-abcdef"


@pytest.fixture
def scout(db, settings):
    settings.OPS_API_TOKEN = SECRET
    AgentFactory(slug="coordinator")
    return AgentFactory(slug="devops")


def evidence(scout) -> list:
    return [{"type": "event", "id": record_event("step.failed", "late", agent=scout).id}]


def answer(scout) -> dict:
    return {
        "source_agent": "devops",
        "theme": "reliability",
        "title": f"Rotate {SECRET}",
        "why_now": f"It leaked: {SECRET}",
        "evidence": evidence(scout),
        "impact": 3,
        "confidence": 4,
        "urgency": 2,
        "reversibility": "high",
        "owner_candidate": "devops",
        "suggested_next_step": f"revoke {SECRET}",
        "cost_of_doing_nothing": f"anyone may use {SECRET}",
    }


def test_a_known_secret_in_an_opportunity_is_masked_before_it_is_stored(scout):
    opportunity = propose_opportunity(answer(scout)).opportunity

    opportunity.refresh_from_db()
    assert opportunity.title == "Rotate [redacted]"
    assert opportunity.why_now == "It leaked: [redacted]"
    assert opportunity.suggested_next_step == "revoke [redacted]"
    assert opportunity.cost_of_doing_nothing == "anyone may use [redacted]"


def test_a_known_secret_in_an_idea_and_its_promotion_is_masked_before_it_is_stored(scout):
    idea = create_idea(
        {"source_agent": "devops", "theme": "ops", "title": f"Idea {SECRET}", "body": SECRET}
    )
    idea.refresh_from_db()
    assert (idea.title, idea.body) == ("Idea [redacted]", "[redacted]")

    opportunity = promote_idea(review_idea(idea), answer(scout), promoted_by="ops")

    opportunity.refresh_from_db()
    assert SECRET not in f"{opportunity.title} {opportunity.why_now} {opportunity.evidence}"
