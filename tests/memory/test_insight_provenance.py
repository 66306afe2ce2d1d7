"""An insight learned from words Opscore did not write itself (an outside runtime's, a crawled
page's) is announced as such: the work the insight_promoted trigger proposes for another
agent because of it waits for a person, whoever promoted the memory."""

import pytest

from console.models import AgentToken
from memory.actions import propose_candidate
from memory.gate import review_candidate
from memory.learning import promote_insights
from missions import loop
from missions.models import Proposal, TriggerRule
from opscore.actions import record_event
from opscore.models import Event, Runtime
from tests.console.test_agent_api import call
from tests.factories import AgentFactory, crawled_page
from tests.missions.test_derived_provenance import FAR, INJECTED

pytestmark = pytest.mark.django_db


@pytest.fixture
def follow_up(db):
    AgentFactory(slug="coordinator")
    return TriggerRule.objects.create(
        name="insight-promoted-followup",
        trigger_event="insight_promoted",
        action_config={"target_agent": "coordinator", "step_kinds": ["analyze"]},
    )


def test_an_outside_runtimes_own_insight_does_not_start_another_agents_work(client, follow_up):
    alpha = AgentFactory(slug="alpha", runtime=Runtime.EXTERNAL)
    secret = AgentToken.issue(alpha, "vps", actor="test")[1]
    trusted = record_event("step.succeeded", "S1 done", agent=alpha, actor="worker:w1")
    call(
        client,
        secret,
        "create-memory-candidate",
        candidate_kind="insight",
        scope="agent",
        subject_key="ops",
        title=INJECTED,
        body=INJECTED,
        evidence=[{"type": "event", "id": trusted.id}],
        confidence_score=5,
    )

    assert promote_insights(FAR)["promote"] == 1  # its own agent's memory: the fast path holds
    announced = Event.objects.get(kind="insight.promoted")
    assert loop.evaluate_triggers(FAR)["fired"] == 1

    work = Proposal.objects.get(source="trigger", agent="coordinator")
    assert work.cause_event == announced and INJECTED in work.title
    assert (work.status, work.untrusted) == ("pending", True)
    assert "alpha's runtime" in work.untrusted_reason


def test_an_insight_from_a_crawled_page_stays_untrusted_once_a_person_promotes_it(follow_up):
    devops = AgentFactory(slug="devops")
    page = crawled_page(devops, INJECTED)
    data = {"agent": "devops", "kind": "insight", "title": INJECTED, "body": INJECTED}
    data |= {"confidence": 0.9, "evidence": [{"type": "artifact", "id": page.id}]}
    candidate = propose_candidate(data)[0]

    assert review_candidate(candidate.id, reviewer="operator:ann").decision == "promote"
    assert loop.evaluate_triggers(FAR)["fired"] == 1

    work = Proposal.objects.get(source="trigger", agent="coordinator")
    assert (work.status, work.untrusted) == ("pending", True)
    assert "evil.example" in work.untrusted_reason
