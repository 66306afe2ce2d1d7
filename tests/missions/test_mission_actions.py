import pytest
from django.db.models.functions import Now

from missions.actions import DecisionRefused, submit_proposal
from missions.mission_control import time_out_missions
from missions.models import Mission, Step, StepDependency
from missions.step_actions import cancel_mission, dead_letter_step, retry_step
from missions.worker import handle_one_step
from opscore.actions import set_policy
from opscore.models import Event
from tests.factories import make_step, propose

pytestmark = pytest.mark.django_db


def mission_of(proposal):
    return Mission.objects.get(proposal=proposal)


def test_cancelling_a_mission_cancels_its_open_steps_and_says_so(agent):
    mission = mission_of(propose(agent, "analyze", "crawl"))

    assert cancel_mission(mission, actor="operator:ann") == 2

    mission.refresh_from_db()
    assert mission.status == "cancelled" and mission.finished_at
    assert Event.objects.filter(kind="mission.cancelled", mission=mission).exists()
    with pytest.raises(DecisionRefused):
        cancel_mission(mission, actor="operator:ann")


def test_dead_lettering_the_last_open_step_fails_the_mission(agent):
    mission = mission_of(propose(agent, "analyze"))
    step = mission.steps.get()

    dead_letter_step(step, actor="operator:ann", reason="poison payload")

    step.refresh_from_db()
    mission.refresh_from_db()
    assert (step.status, step.last_error) == ("dead", "poison payload")
    assert mission.status == "failed"
    failed = Event.objects.get(kind="mission.failed")
    assert "mission_failed" in failed.tags


def test_dead_lettering_a_step_cancels_what_waits_on_it_and_ends_the_mission(agent):
    """Its dependents can never run: left queued, they read as a stuck queue for ever and the
    mission never ended (a dependency that dies by itself cancels them, saying why)."""
    blocked = make_step("analyze", agent=agent, status="blocked", blocked_reason="needs a human")
    waiting = Step.objects.create(mission=blocked.mission, kind="noop", agent=agent, position=1)
    StepDependency.objects.create(step=waiting, depends_on=blocked)

    dead_letter_step(blocked, actor="operator:ann", reason="poison payload")

    waiting.refresh_from_db()
    assert (waiting.status, waiting.last_error) == (
        "cancelled",
        f"dependency S{blocked.id} ended dead",
    )
    assert Mission.objects.get(pk=blocked.mission_id).status == "failed"


def test_retrying_a_dead_step_requeues_it_and_reopens_the_mission(agent):
    mission = mission_of(propose(agent, "analyze"))
    step = mission.steps.get()
    Step.objects.filter(pk=step.pk).update(attempt_count=3, max_attempts=3)
    dead_letter_step(step, actor="operator:ann", reason="worker died")

    retried = retry_step(step, actor="operator:ann")

    mission.refresh_from_db()
    assert retried.status == "queued" and retried.max_attempts == 4
    assert mission.status == "running"


def test_retrying_a_dead_step_brings_back_the_steps_its_death_cancelled(agent):
    """They were cancelled only because it could no longer succeed: left cancelled, the retry
    was pointless, since the mission ended failed however the retried step went."""
    first = make_step("noop", agent=agent)
    second = Step.objects.create(mission=first.mission, kind="noop", agent=agent, position=1)
    StepDependency.objects.create(step=second, depends_on=first)
    dead_letter_step(first, actor="operator:ann", reason="worker died")

    retry_step(first, actor="operator:ann")
    while handle_one_step("w1"):
        pass

    assert Step.objects.get(pk=second.pk).status == "succeeded"
    assert Mission.objects.get(pk=first.mission_id).status == "succeeded"


def test_only_finished_or_blocked_steps_can_be_retried(agent):
    step = mission_of(propose(agent, "analyze")).steps.get()

    with pytest.raises(DecisionRefused, match="only"):
        retry_step(step, actor="operator:ann")


def test_a_retry_that_would_exceed_todays_quota_is_refused_with_a_row_saying_why(agent):
    """A failed deploy stopped counting, another took its slot, and the retry ran both: two
    deploys on a day whose deploy_policy allows one."""
    set_policy("deploy_policy", {"enabled": True, "max_per_day": 1}, actor="test")
    failed = make_step("deploy", agent=agent)
    failed.finish("failed", "the target was down")
    make_step("deploy", agent=agent)  # today's one deploy, admitted after the failure

    with pytest.raises(DecisionRefused, match=r"deploy: quota full \(1/1\)"):
        retry_step(failed, actor="operator:ann")

    assert Step.objects.get(pk=failed.pk).status == "failed"
    refused = Event.objects.get(kind="step.retry_refused", step=failed)
    assert refused.actor == "operator:ann" and "quota full (1/1)" in refused.summary


def test_a_retry_fits_a_quota_with_a_slot_left(agent):
    set_policy("deploy_policy", {"enabled": True, "max_per_day": 1}, actor="test")
    failed = make_step("deploy", agent=agent)
    failed.finish("failed", "the target was down")

    assert retry_step(failed, actor="operator:ann").status == "queued"


def test_a_retry_that_would_bring_back_a_gated_step_past_todays_quota_is_refused(agent):
    """The deploy cancelled when the step it waited for died freed its slot; another deploy
    took it, and the retry of that step (no gated kind, so no gate) brought the cancelled deploy
    back: two deploys on a day whose deploy_policy allows one."""
    set_policy("deploy_policy", {"enabled": True, "max_per_day": 1}, actor="test")
    first = make_step("noop", agent=agent)
    deploy = Step.objects.create(mission=first.mission, kind="deploy", agent=agent, position=1)
    StepDependency.objects.create(step=deploy, depends_on=first)
    dead_letter_step(first, actor="operator:ann", reason="worker died")
    make_step("deploy", agent=agent)  # today's one deploy, admitted after the cancellation

    with pytest.raises(DecisionRefused, match=r"deploy: quota full \(1/1\)"):
        retry_step(first, actor="operator:ann")

    assert Step.objects.get(pk=deploy.pk).status == "cancelled"
    assert Step.objects.get(pk=first.pk).status == "dead"
    refused = Event.objects.get(kind="step.retry_refused", step=first)
    assert f"S{deploy.id} (deploy)" in refused.summary


def test_a_retry_leaves_the_slots_goal_preference_keeps_to_goal_work(agent):
    """The intake and a person's approval keep the last slots for work serving an active goal;
    a retry of other work took them."""
    from missions.goals import add_goal

    terms = {"title": "Ship", "metric": "missions_succeeded", "target": 5, "deadline": "30d"}
    add_goal(terms | {"owner": agent.slug}, actor="operator:test")
    set_policy("goal_preference", {"enabled": True, "reserved_slots": 1}, actor="test")
    set_policy("deploy_policy", {"enabled": True, "max_per_day": 2}, actor="test")
    failed = make_step("deploy", agent=agent)
    failed.finish("failed", "the target was down")
    make_step("deploy", agent=agent)

    with pytest.raises(DecisionRefused, match="kept for work serving an active goal"):
        retry_step(failed, actor="operator:ann")


def waiting_on(agent, step) -> Step:
    """A step of another mission that waits on `step` (agentbus enqueue-job --depends-on)."""
    data = {"agent": agent.slug, "title": "later", "steps": [{"kind": "analyze"}]}
    data["steps"][0]["after_steps"] = [step.id]
    return Step.objects.get(mission__proposal=submit_proposal(data, source="api").proposal)


def test_cancelling_a_mission_cancels_another_missions_step_waiting_on_it(agent):
    """Only the steps of the cancelled mission ended: one of another mission waiting on them
    sat queued for ever, its mission never ending."""
    first = make_step(agent=agent)
    later = waiting_on(agent, first)

    cancel_mission(first.mission, actor="operator:ann")

    later.refresh_from_db()
    assert (later.status, later.last_error) == (
        "cancelled",
        f"dependency S{first.id} ended cancelled",
    )
    assert later.mission.status == "failed"


def test_a_mission_past_its_deadline_cancels_another_missions_step_waiting_on_it(agent):
    first = make_step(agent=agent)
    later = waiting_on(agent, first)
    Mission.objects.filter(pk=first.mission_id).update(deadline_at=Now())

    time_out_missions()

    later.refresh_from_db()
    assert (later.status, later.last_error) == ("cancelled", f"dependency S{first.id} ended failed")
    assert later.mission.status == "failed"
