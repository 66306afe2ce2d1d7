"""A paused lane is paused: nothing it declares runs — its step kinds are not claimed (by
Opscore's workers or an outside runtime's claim-jobs), its standing orders do not work, its
duties and loops touch nothing — and the pause says how the work it meets is kept: `queue`
holds it and resumes it when the pause ends, `drop` refuses it with a recorded reason.

The tests walk every lane the apps declare (`lane_names()`), so a new lane that does not declare
(and honour) what its pause stops fails here."""

from datetime import UTC, datetime, timedelta

import pytest

from missions.actions import submit_proposal
from missions.decisions import approve_proposal
from missions.execution import claim_next_step
from missions.models import Proposal, Reaction, Step
from missions.worker import handle_one_step
from opscore.actions import record_event
from opscore.heartbeat import run_heartbeat
from opscore.lanes import LANE_PARTS, lane_names
from opscore.models import StandingOrder
from opscore.overrides import OverrideRefused, apply_override, lift_override
from opscore.registry import STEP_KINDS
from opscore.tasks import run_held_orders
from tests.factories import AgentFactory, make_step, run_order_now

pytestmark = pytest.mark.django_db
LANES = lane_names()  # the apps are ready when tests are collected
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def pause(target: str):
    return apply_override("pause-lane", target, reason="quiet week", actor="operator:ana")


def lift(row) -> None:
    lift_override(row.id, actor="operator:ana", reason="back to work")


def lane_work(lane: str) -> dict:
    """One piece of every kind of work the lane declares, due now."""
    parts = LANE_PARTS[lane]
    inside = AgentFactory(slug="devops", max_concurrent_steps=20)
    outside = AgentFactory(slug="outsider", runtime="external", max_concurrent_steps=20)
    kinds = sorted(parts.step_kinds)
    return {
        "steps": [make_step(kind, agent=inside) for kind in kinds],
        "outside": [make_step(k, agent=outside) for k in kinds if STEP_KINDS[k].claimable_outside],
        "orders": [
            StandingOrder.objects.create(agent=inside, name=f"o-{h}", cron="0 * * * *", handler=h)
            for h in sorted(parts.order_handlers)
        ],
    }


def duty_states(lane: str) -> dict:
    beat = {d["name"]: d for d in run_heartbeat("test").duties}
    return {name: beat[name]["status"] for name in LANE_PARTS[lane].duties}


def test_every_lane_declares_what_its_pause_stops():
    for lane in LANES:
        assert lane in LANE_PARTS, f"lane {lane} declares nothing its pause stops"
        assert any(LANE_PARTS[lane].stops().values()), lane


@pytest.mark.parametrize("lane", LANES)
def test_nothing_of_a_queued_pause_runs_and_all_of_it_resumes(lane):
    work = lane_work(lane)
    row = pause(lane)

    assert handle_one_step("worker-1") is False
    assert claim_next_step("runtime-1", agent="outsider") is None
    held = [run_order_now(order) for order in work["orders"]]
    states = duty_states(lane)
    loops = {name: loop() for name, loop in LANE_PARTS[lane].loops.items()}

    assert {s.status for s in Step.objects.all()} <= {"queued"}
    assert all(r.status == "blocked" and r.summary.startswith("held: lane") for r in held)
    assert set(states.values()) <= {"paused"}
    assert all(result == {"paused": lane} for result in loops.values())

    lift(row)
    run_held_orders()

    claimed = {claim_next_step("worker-1").id for _ in work["steps"]}
    assert claimed == {s.id for s in work["steps"]}
    for step in work["outside"]:
        assert claim_next_step("runtime-1", agent="outsider").id == step.id
    states = duty_states(lane)
    for run in held:
        run.refresh_from_db()
        assert run.status != "blocked", run.summary
    assert "paused" not in states.values()
    assert all(loop() != {"paused": lane} for loop in LANE_PARTS[lane].loops.values())


@pytest.mark.parametrize("lane", LANES)
def test_a_dropping_pause_refuses_new_work_with_a_reason_and_runs_none(lane):
    work = lane_work(lane)
    waiting = [
        Proposal.objects.create(
            agent_id="devops",
            title=f"{kind} please",
            source="api",
            status="pending",
            proposed_steps=[{"kind": kind, "payload": {}}],
        )
        for kind in sorted(LANE_PARTS[lane].step_kinds)
    ]
    row = pause(f"{lane}:drop")

    assert handle_one_step("worker-1") is False
    dropped = [run_order_now(order) for order in work["orders"]]
    refused = [approve_proposal(p, actor="operator:ana") for p in waiting]
    states = duty_states(lane)

    assert all(r.status == "skipped" and f"lane {lane} paused (drop)" in r.summary for r in dropped)
    assert all(p.status == "rejected" and p.rejection_code == "lane_paused" for p in refused)
    assert all(f"lane {lane} paused (drop) by override {row.id}" in p.reason for p in refused)
    assert {s.status for s in Step.objects.all()} <= {"queued"}
    assert all(state in ("paused", "ok") for state in states.values())

    lift(row)
    run_heartbeat("test")

    for run in dropped:
        run.refresh_from_db()
        assert run.status == "skipped"


def test_a_post_proposed_while_publishing_drops_is_rejected_at_the_intake(agent):
    pause("publishing:drop")

    result = submit_proposal(
        {
            "agent": "devops",
            "title": "Say hi",
            "steps": [{"kind": "post_tweet", "payload": {"text": "hi"}}],
        },
        source="api",
    )

    assert result.proposal.status == "rejected"
    assert "post_tweet: lane publishing paused (drop)" in result.proposal.reason


def test_queued_reactions_are_skipped_with_the_reason_while_reactions_drop(agent):
    event = record_event("step.failed", "S1 failed", tags=["step", "failed"], agent=agent)
    reaction = Reaction.objects.create(
        source_event=event,
        pattern_key="k",
        pattern={},
        target_agent="devops",
        reaction_type="x",
        status="queued",
    )
    pause("reactions:drop")

    run_heartbeat("test")

    reaction.refresh_from_db()
    assert reaction.status == "skipped" and "lane reactions paused (drop)" in reaction.reason
    assert not Proposal.objects.filter(source="reaction").exists()


def test_a_lane_is_paused_once_whatever_the_mode_and_opportunities_names_proactive(agent):
    row = pause("opportunities")

    with pytest.raises(OverrideRefused, match="already paused"):
        pause("proactive:drop")
    assert row.target == "proactive"
    assert "opportunity_scan" in row.preview["stops"]["standing_orders"]


def test_a_lanes_held_slots_run_once_it_resumes_however_many_another_lane_still_holds(clock):
    """The timer looked at the 20 oldest held slots only: behind a day's worth of a lane still
    paused, the slots of a lane whose pause had ended waited for the other pause to end too."""
    agent = AgentFactory(slug="devops")
    scan = StandingOrder.objects.create(
        agent=agent, name="scan", cron="* * * * *", handler="opportunity_scan"
    )
    promote = StandingOrder.objects.create(
        agent=agent, name="promote", cron="* * * * *", handler="memory_promote"
    )
    pause("proactive")
    for minute in range(21):
        clock.freeze(T0 + timedelta(minutes=minute))
        run_order_now(scan)
    memory = pause("memory")
    held = run_order_now(promote)
    lift(memory)

    run_held_orders()

    held.refresh_from_db()
    assert held.status != "blocked", held.summary
    assert scan.runs.filter(status="blocked").count() == 21
