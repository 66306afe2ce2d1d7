"""Learning from outcomes: metric lessons, mission outcomes, the insight fast path and
outcome-calibrated confidence, each with its thresholds and caps."""

from decimal import Decimal

import pytest

from memory.actions import propose_candidate
from memory.calibration import calibrate_step
from memory.learning import learn_from_outcomes, promote_insights
from memory.models import Memory, MemoryCandidate, MemoryReview
from memory.upkeep import review_due_memories
from missions import loop
from missions.models import Publication, TriggerRule
from missions.worker import handle_one_step
from opscore.actions import record_event, set_policy
from opscore.models import Event, LLMCall, Policy
from tests.factories import make_publication, make_step

pytestmark = pytest.mark.django_db
FAR = float("inf")  # no deadline: an hour from import failed a worker running past it


def lessons(agent="devops"):
    return MemoryCandidate.objects.filter(source_agent=agent, tags__contains=["metric-lesson"])


def test_a_post_far_above_the_median_is_a_lesson_and_far_below_another(agent):
    for n, engagements in enumerate([50, 50, 50, 200, 10]):
        make_publication(agent, f"post number {n}", 1000, engagements)

    learn_from_outcomes(FAR)

    by_key = {c.dedupe_key: c for c in lessons()}
    high = by_key["engagement_rate-lesson:" + str(Publication.objects.get(body="post number 3").id)]
    low = by_key["engagement_rate-lesson:" + str(Publication.objects.get(body="post number 4").id)]
    assert (high.confidence, low.confidence) == (Decimal("0.70"), Decimal("0.60"))
    assert "4.0 times the median 5.00%" in high.body
    assert {"type": "metric", "id": high.evidence[0]["id"]} in high.evidence
    assert high.status == "promoted" and high.promoted_memory.scope == "agent"


def test_fewer_than_three_items_teach_nothing_and_say_so(agent):
    make_publication(agent, "post number 1", 1000, 50)
    make_publication(agent, "post number 2", 1000, 500)

    counts = learn_from_outcomes(FAR)

    assert counts["metrics"] == {"devops": "skipped: 2 item(s) in 48 h"}
    assert not lessons().exists()


def test_at_most_three_lessons_a_day_and_the_rest_are_counted_as_capped(agent):
    for n in range(4):
        make_publication(agent, f"post number {n}", 1000, 10)
    for n in range(4, 8):
        make_publication(
            agent, f"post number {n}", 1000, 300
        )  # median 155: the four at 10 are far below
    make_publication(agent, "post number 9", 1000, 155)

    counts = learn_from_outcomes(FAR)
    again = learn_from_outcomes(FAR)

    assert lessons().count() == 3
    assert counts["metrics"]["devops"]["capped"] > 0
    assert again["metrics"]["devops"]["proposed"] == 0


def test_the_same_item_is_learned_once(agent):
    for n, engagements in enumerate([50, 50, 50, 200]):
        make_publication(agent, f"post number {n}", 1000, engagements)
    set_policy("outcome_learning_policy", {"max_lessons_per_day": 50}, actor="test")

    learn_from_outcomes(FAR)
    first = lessons().count()
    again = learn_from_outcomes(FAR)

    assert lessons().count() == first
    assert again["metrics"]["devops"]["known"] == first


def finished_mission(agent, fail=False):
    kind = "test_fail" if fail else "noop"
    step = make_step(kind, agent=agent, payload={"retryable": False})
    assert handle_one_step("w1")
    step.mission.refresh_from_db()
    return step.mission


def test_a_succeeded_mission_is_a_strategy_and_later_ones_add_evidence_not_memories(agent):
    first = finished_mission(agent)
    learn_from_outcomes(FAR)
    second = finished_mission(agent)
    learn_from_outcomes(FAR)
    learn_from_outcomes(FAR)  # idempotent: the cursor moved

    strategy = Memory.objects.get(type="strategy", agent=agent)
    assert strategy.title == "What works: noop"
    cited = [ref["id"] for ref in strategy.evidence if ref["type"] == "mission"]
    assert cited == [first.id, second.id]
    assert MemoryCandidate.objects.filter(tags__contains=["mission-outcome"]).count() == 2


def test_a_failed_mission_is_a_lesson_naming_the_step_and_its_error(agent):
    mission = finished_mission(agent, fail=True)

    learn_from_outcomes(FAR)

    lesson = MemoryCandidate.objects.get(kind="lesson", tags__contains=["mission-outcome"])
    step = mission.steps.get()
    assert mission.status == "failed"
    assert lesson.title == "What fails: test_fail"
    assert f"S{step.id} test_fail: it broke" in lesson.body
    assert {"type": "step", "id": step.id} in lesson.evidence


def test_the_fast_path_promotes_a_strong_insight_and_its_trigger_turns_it_into_work(agent):
    set_policy("memory_policy", {"auto_promote_private": False}, actor="test")
    event = record_event("step.failed", "export slow", agent=agent)
    strong = {"agent": "devops", "kind": "insight", "evidence": [{"type": "event", "id": event.id}]}
    propose_candidate(strong | {"title": "Exports", "body": "Exports stall.", "confidence": 0.9})
    weak = propose_candidate(
        strong | {"title": "Coffee", "body": "We like coffee.", "confidence": 0.6}
    )[0]
    TriggerRule.objects.create(
        name="insight-promoted-followup",
        trigger_event="insight_promoted",
        action_config={"target_agent": "devops", "step_kinds": ["analyze"]},
    )

    assert promote_insights(FAR) == {"promote": 1}
    loop.evaluate_triggers(FAR)

    assert Event.objects.filter(kind="insight.promoted").count() == 1
    assert MemoryCandidate.objects.get(pk=weak.pk).status == "new"  # waits for the gate's run
    assert agent.proposals.get(source="trigger").title == "Act on insight: devops learned: Exports"


@pytest.fixture
def memory(agent):
    event = record_event("step.failed", "x", agent=agent)
    return Memory.objects.create(
        agent=agent,
        type="lesson",
        content="Check the disk first.",
        confidence=Decimal("0.50"),
        evidence=[{"type": "event", "id": event.id}],
        source_trace_id="t",
    )


def carried(memory, step):
    LLMCall.objects.create(
        agent=step.agent,
        step=step,
        purpose="step.analyze",
        provider="offline",
        model="m",
        prompt_version="v",
        outcome="ok",
        injected={"memory_ids": [memory.id]},
    )


def test_a_memory_gains_on_success_loses_more_on_failure_and_stays_in_bounds(memory):
    policy = Policy.objects.value("calibration_policy")
    step = make_step(agent=memory.agent)
    carried(memory, step)

    calibrate_step(step.id, True, policy, 1)
    assert Memory.objects.get(pk=memory.pk).confidence == Decimal("0.52")
    calibrate_step(step.id, False, policy, 2)
    memory.refresh_from_db()
    assert memory.confidence == Decimal("0.47")
    assert [e["outcome"] for e in memory.calibration_log] == ["succeeded", "failed"]
    latest = dict(memory.calibration_log[-1])
    assert latest.pop("at")  # when it moved: a replay puts back what a call before then read
    assert latest | {"step": 0} == {
        "outcome": "failed",
        "from": 0.52,
        "to": 0.47,
        "step": 0,
        "event": 2,
    }

    for n in range(30):
        calibrate_step(step.id, True, policy, 10 + n)
    memory.refresh_from_db()
    assert memory.confidence == Decimal("0.95") and len(memory.calibration_log) == 20


def test_a_success_never_lowers_confidence_nor_a_failure_raises_it_past_the_bounds(memory):
    policy = Policy.objects.value("calibration_policy")  # floor 0.10, ceiling 0.95
    sure = Memory.objects.create(
        agent=memory.agent, type="lesson", content="sure", confidence=Decimal("1.00")
    )
    doubtful = Memory.objects.create(
        agent=memory.agent, type="lesson", content="doubt", confidence=Decimal("0.05"),
        source_trace_id="d",
    )  # fmt: skip
    step = make_step(agent=memory.agent)
    carried(sure, step)
    carried(doubtful, step)

    calibrate_step(step.id, True, policy, 1)
    calibrate_step(step.id, False, policy, 2)

    sure.refresh_from_db()
    doubtful.refresh_from_db()
    assert [e["to"] for e in sure.calibration_log] == [1.0, 0.95]
    assert [e["to"] for e in doubtful.calibration_log] == [0.07, 0.07]  # never up on a failure


def test_a_memory_that_keeps_preceding_failures_is_flagged_then_marked_stale(memory):
    policy = Policy.objects.value("calibration_policy")
    step = make_step(agent=memory.agent)
    carried(memory, step)

    for n in range(3):
        calibrate_step(step.id, False, policy, n)
    memory.refresh_from_db()
    assert memory.flagged_at is not None
    assert MemoryReview.objects.get(memory=memory, decision="flag").reason.startswith(
        "preceded 3 failures in a row"
    )

    review_due_memories()
    memory.refresh_from_db()
    assert memory.status == "stale" and memory.flagged_at is None


def test_step_endings_calibrate_what_their_prompts_carried_through_the_heartbeat(memory):
    ok = make_step(agent=memory.agent)
    carried(memory, ok)
    assert handle_one_step("w1")

    learn_from_outcomes(FAR)
    learn_from_outcomes(FAR)

    memory.refresh_from_db()
    assert memory.confidence == Decimal("0.52")
    assert memory.calibration_log[0]["step"] == ok.id


def test_an_ending_that_cannot_be_learned_from_is_recorded_and_passed_not_retried_forever(agent):
    """One bad event must not stop the lane: it was retried, and failed, on every beat."""
    bad = record_event("mission.failed", "a mission.failed naming no mission")
    good = make_step("noop", agent=agent)
    assert handle_one_step("w1")

    counts = learn_from_outcomes(FAR)
    again = learn_from_outcomes(FAR)

    skipped = Event.objects.get(kind="memory.learning_skipped")
    assert skipped.payload["event_id"] == bad.id and "\n" not in skipped.summary
    assert counts["skipped"] == [bad.id] and counts["events"] >= 2 and again["events"] == 0
    assert good.mission_id in Event.objects.filter(kind="mission.succeeded").values_list(
        "mission_id", flat=True
    )
