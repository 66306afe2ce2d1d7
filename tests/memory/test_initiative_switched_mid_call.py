"""A switch thrown while an initiative's drafting call is out: the proactive lane paused, or
the agent disabled. The draft is not submitted — no proposal — and the request is skipped
naming the switch; the call's row stays, as it was billed."""

import time

import pytest

from memory.initiative import draft_next_initiatives, enqueue_initiatives
from missions.models import Proposal
from opscore.actions import set_policy
from opscore.llm import OfflineProvider
from opscore.models import LLMCall
from opscore.overrides import apply_override
from tests.factories import make_memories

pytestmark = pytest.mark.django_db
ANN = "operator:ann"
SWITCHES = {
    "lane paused": (
        lambda: apply_override("pause_lane", "proactive", reason="freeze", actor=ANN),
        "lane proactive paused (queue) by override {id}: freeze",
    ),
    "agent disabled": (
        lambda: apply_override("disable_agent", "devops", reason="odd", actor=ANN),
        "devops is disabled (override {id}: odd)",
    ),
}


class ThrownMidCall(OfflineProvider):
    def __init__(self, throw):
        self.throw, self.thrown = throw, []

    def complete(self, request):
        self.thrown.append(self.throw())
        return super().complete(request)


@pytest.mark.parametrize("switch", SWITCHES)
def test_a_switch_thrown_while_drafting_submits_nothing(agent, monkeypatch, switch):
    set_policy("initiative_policy", {"enabled": True}, actor="test")
    make_memories(agent, "strategy", 4, content="What works: crawl then analyze")
    make_memories(agent, "lesson", 1, tags=["metric-lesson"], content="Threads beat links")
    enqueue_initiatives(time.monotonic() + 3600)
    throw, said = SWITCHES[switch]
    provider = ThrownMidCall(throw)
    monkeypatch.setattr("opscore.llm.get_provider", lambda: provider)

    [request] = draft_next_initiatives("w1")

    why = said.format(id=provider.thrown[0].id)
    assert (request.status, request.reason) == (
        "skipped",
        f"{why} (the switch was thrown while its drafting call was out; nothing was submitted)",
    )
    assert not Proposal.objects.exists()
    assert LLMCall.objects.filter(outcome="ok").count() == 1
