"""The first ten minutes of a fresh install, offline: the first-boot plan puts real work through
the intake (never fake events), driven here minute by minute with the pinned clock."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from console.bootstrap import bootstrap
from console.first_boot import run_first_boot_plan, start_first_boot_plan
from missions.models import Mission, Proposal, Step
from missions.worker import handle_one_step
from opscore.actions import set_policy
from opscore.models import Event
from roundtable.lifecycle import claim_conversation
from roundtable.models import Conversation, Turn
from roundtable.speaking import run_conversation

pytestmark = pytest.mark.django_db
BOOT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TICK = timedelta(seconds=15)


@pytest.fixture
def fresh_install(clock):
    clock.freeze(BOOT)
    bootstrap(1, actor="system:make-run")
    start_first_boot_plan(actor="system:make-run")


def live_for(clock, until: timedelta) -> None:
    """What `make run` does each moment: the plan's minute tick, workers, the roundtable."""
    moment = BOOT
    while moment <= BOOT + until:
        clock.freeze(moment)
        run_first_boot_plan()
        while handle_one_step("w1"):
            pass
        conversation = claim_conversation("w1")
        if conversation is not None:
            run_conversation(conversation, random.Random(1), pause=0)
        moment += TICK


def test_it_shows_a_roundtable_two_moving_missions_and_a_waiting_proposal_in_two_minutes(
    clock, fresh_install
):
    live_for(clock, timedelta(minutes=2) - TICK)

    assert Turn.objects.filter(conversation__source="first-boot").count() >= 4
    moving = [m for m in Mission.objects.all() if m.steps.filter(status="succeeded").exists()]
    assert len(moving) >= 2
    assert sum(m.steps.count() >= 2 for m in moving) >= 2  # missions of several steps
    waiting = Proposal.objects.filter(status="pending", source="plan")
    assert waiting.count() == 1
    assert waiting.get().needs_human


def test_it_makes_at_least_five_events_a_minute_for_ten_minutes(clock, fresh_install):
    live_for(clock, timedelta(minutes=10) - TICK)

    for minute in range(10):
        start = BOOT + timedelta(minutes=minute)
        made = Event.objects.filter(
            created_at__gte=start, created_at__lt=start + timedelta(1 / 1440)
        )
        assert made.count() >= 5, f"minute {minute}: {list(made.values_list('kind', flat=True))}"


def test_its_steps_move_one_at_a_time_not_all_at_once(clock, fresh_install):
    live_for(clock, timedelta(seconds=15))

    mission = Mission.objects.get(title="Get to know this installation")
    assert list(mission.steps.order_by("position").values_list("status", flat=True)) == [
        "succeeded",
        "queued",
        "queued",
        "queued",
    ]


def test_all_its_work_comes_through_the_intake_marked_as_the_plan(clock, fresh_install):
    live_for(clock, timedelta(minutes=10))

    plan = Proposal.objects.filter(dedupe_key__startswith="first-boot:")
    assert plan.count() == 12
    assert set(plan.values_list("source", flat=True)) == {"plan"}
    assert all("first-boot plan" in p.description for p in plan)
    assert Conversation.objects.filter(source="first-boot").count() == 3
    assert not Event.objects.filter(kind="first_boot.item_skipped").exists()


def test_an_operator_switches_it_off_with_a_policy(clock, fresh_install):
    set_policy("first_boot_plan", {"enabled": False}, actor="ops", reason="no demo here")
    live_for(clock, timedelta(minutes=3))

    assert not Proposal.objects.filter(source="plan").exists()
    assert not Conversation.objects.filter(source="first-boot").exists()


def test_it_never_replays_after_its_window(clock, fresh_install):
    clock.freeze(BOOT + timedelta(hours=1))

    assert run_first_boot_plan() == {"off": "the first ten minutes are over"}
    assert not Step.objects.exists()


def test_an_install_that_did_not_start_empty_has_no_plan(clock):
    clock.freeze(BOOT)
    bootstrap(1, actor="ops")

    assert run_first_boot_plan() == {"off": "this install did not start empty"}
