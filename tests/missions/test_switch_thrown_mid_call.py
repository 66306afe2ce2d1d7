"""A switch thrown while a step's model call is out holds what the reply would have done: the
agent disabled, or the step's lane paused, after the call left and before it came back. The
reply is not applied (no artifact, the mission does not move on); the call's row stays, as it
was billed; the step goes back to the queue, no attempt spent, with the switch's reason on its
attempt and in an event, and runs again once the switch is lifted."""

import pytest

from missions.models import Artifact, StepAttempt
from missions.worker import handle_one_step
from opscore.lanes import LANE_PARTS, Lane
from opscore.models import Event, LLMCall
from opscore.overrides import apply_override, lift_override
from tests.factories import make_step
from tests.scripted import SwitchedMidCall

pytestmark = pytest.mark.django_db
ANN = "operator:ann"


@pytest.fixture
def research_lane(monkeypatch):
    """A lane whose step kind asks the model (no lane of the house's does yet)."""
    monkeypatch.setitem(LANE_PARTS, "research", Lane("research", step_kinds={"analyze"}))


SWITCHES = {
    "agent disabled": (
        lambda: apply_override("disable_agent", "devops", reason="misbehaving", actor=ANN),
        "devops is disabled (override {id}: misbehaving)",
    ),
    "lane paused": (
        lambda: apply_override("pause_lane", "research", reason="freeze", actor=ANN),
        "lane research paused (queue) by override {id}: freeze",
    ),
}


@pytest.mark.parametrize("switch", SWITCHES)
def test_a_switch_thrown_during_the_call_holds_the_reply(monkeypatch, research_lane, switch):
    throw, said = SWITCHES[switch]
    provider = SwitchedMidCall(throw, "Disk usage is fine.")
    monkeypatch.setattr("opscore.llm.get_provider", lambda: provider)
    step = make_step("analyze", payload={"topic": "disk"}, max_attempts=1)

    handle_one_step("w1")

    step.refresh_from_db()
    override = provider.thrown[0]
    reason = "held: " + said.format(id=override.id) + "; the reply was not applied"
    assert (step.status, step.attempt_count, step.last_error) == ("queued", 1, reason)
    assert step.max_attempts == 2  # the held try spent none
    assert not Artifact.objects.filter(step=step).exists()
    attempt = StepAttempt.objects.get(step=step)
    assert (attempt.outcome, attempt.error) == ("held", reason)
    assert LLMCall.objects.get(step=step).outcome == "ok"  # billed, and kept
    assert Event.objects.filter(kind="step.held", step=step, summary=reason).exists()

    lift_override(override.id, actor=ANN, reason="fine again")
    handle_one_step("w1")

    step.refresh_from_db()
    assert step.status == "succeeded"
    assert Artifact.objects.get(step=step).body == "fine"


def test_an_agent_disabled_while_its_thread_reply_is_written_posts_none(agent, monkeypatch):
    """The remark's note says why no reply came, as for an agent disabled before it."""
    from missions.threads import post_comment

    throw, said = SWITCHES["agent disabled"]
    provider = SwitchedMidCall(throw, "Understood.")
    monkeypatch.setattr("opscore.llm.get_provider", lambda: provider)
    step = make_step("analyze", agent=agent)

    remark = post_comment("mission", step.mission_id, actor=ANN, text="how is it going?")

    why = said.format(id=provider.thrown[0].id)
    assert not remark.replies.exists()
    assert remark.note == f"no reply from devops: {why} (while its reply was being written)"
    assert LLMCall.objects.get(purpose="thread.reply").outcome == "ok"
