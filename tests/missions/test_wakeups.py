"""What wakes idle workers: only changes that can make a step claimable."""

import uuid

import psycopg
import pytest
from django.db import connection
from django.db.models.functions import Now

from missions.execution import claim_next_step, complete_and_claim_next, record_outcome
from missions.executors import Failed, Succeeded
from missions.models import Step
from opscore.actions import set_agent_enabled, set_policy
from opscore.models import Agent, Event
from tests.factories import AgentFactory, make_step

pytestmark = pytest.mark.django_db(transaction=True)


def listening(channel: str):
    params = connection.get_connection_params()
    params = {k: v for k, v in params.items() if k not in ("cursor_factory", "context")}
    conn = psycopg.connect(**params, autocommit=True)
    conn.execute(f"LISTEN {channel}")
    return conn


@pytest.fixture
def listener():
    with listening("opscore_steps") as conn:
        yield conn


@pytest.fixture
def stage_listener():
    with listening("opscore_events") as conn:
        yield conn


def wakeups(listener) -> int:
    """The wake-ups sent so far, counted up to a marker this test notifies after them: Postgres
    hands a listener its notifications in commit order, so every one committed before the marker
    is read before it, however long the server takes to pass them on. Counting what came within
    0.2 s missed a late one on a loaded machine (0 for 1), or left it for the next count."""
    marker = f"counted-{uuid.uuid4()}"
    with connection.cursor() as cursor:
        for channel in ("opscore_steps", "opscore_events"):
            cursor.execute("SELECT pg_notify(%s, %s)", [channel, marker])
    for count, notify in enumerate(listener.notifies(timeout=60)):
        if notify.payload == marker:
            return count
    raise AssertionError("the marker notified after the wake-ups never arrived")


def run_to_success(worker="w1"):
    step = claim_next_step(worker)
    assert record_outcome(step.id, step.lease_token, Succeeded({}))
    return step


def test_a_success_nothing_waits_on_wakes_nobody(listener):
    make_step(agent=AgentFactory(slug="roomy", max_concurrent_steps=5))
    wakeups(listener)  # the step being queued

    run_to_success()

    assert wakeups(listener) == 0


def test_a_success_with_a_dependent_wakes_workers(listener):
    first = make_step(agent=AgentFactory(slug="roomy", max_concurrent_steps=5))
    second = Step.objects.create(mission=first.mission, kind="noop", agent=first.agent)
    second.depends_on.add(first)
    wakeups(listener)

    run_to_success()

    assert wakeups(listener) == 1
    assert claim_next_step("w2").id == second.id


def test_a_success_that_frees_a_full_agent_wakes_workers(listener):
    busy = AgentFactory(slug="busy", max_concurrent_steps=1)
    make_step(agent=busy), make_step(agent=busy)
    wakeups(listener)

    run_to_success()

    assert wakeups(listener) == 1


def test_the_fast_path_wakes_workers_for_a_dependent_too(listener):
    first = make_step(agent=AgentFactory(slug="roomy", max_concurrent_steps=5))
    second = Step.objects.create(mission=first.mission, kind="noop", agent=first.agent)
    second.depends_on.add(first)
    claimed = claim_next_step("w1")
    wakeups(listener)

    following = complete_and_claim_next(claimed, Succeeded({}), "w1")

    assert wakeups(listener) == 1
    assert following.id == second.id


def test_the_fast_path_tells_the_stage_of_its_success_once_it_is_committed(stage_listener):
    """The success commits first, then its hint is sent (opscore_finish_step): the Stage,
    woken, reads the step.succeeded event from another connection."""
    agent = AgentFactory(slug="roomy", max_concurrent_steps=5)
    make_step(agent=agent), make_step(agent=agent)
    claimed = claim_next_step("w1")
    wakeups(stage_listener)

    following = complete_and_claim_next(claimed, Succeeded({}), "w1")

    assert wakeups(stage_listener) == 1
    seen = stage_listener.execute(
        "SELECT count(*) FROM opscore_event WHERE kind = 'step.succeeded' AND step_id = %s",
        [claimed.id],
    )
    assert seen.fetchone()[0] == 1
    assert following.status == "running" and following.lease_owner == "w1"


def test_the_fast_path_with_nothing_left_to_claim_returns_none(stage_listener):
    make_step(agent=AgentFactory(slug="roomy", max_concurrent_steps=5))
    claimed = claim_next_step("w1")
    wakeups(stage_listener)

    assert complete_and_claim_next(claimed, Succeeded({}), "w1") is None
    assert Step.objects.get(pk=claimed.pk).status == "succeeded"
    assert wakeups(stage_listener) == 1  # the step's success and its mission's, one hint


def test_the_fast_path_refuses_a_late_success_commits_nothing_and_claims_on(stage_listener):
    """A lost lease fails the procedure before its commit: the step keeps its new holder, the
    refusal is recorded, and the worker claims its next step as usual."""
    agent = AgentFactory(slug="roomy", max_concurrent_steps=5)
    first, second = make_step(agent=agent), make_step(agent=agent)
    claimed = claim_next_step("w1")
    Step.objects.filter(pk=claimed.pk).update(lease_token=uuid.uuid4())  # now someone else's

    following = complete_and_claim_next(claimed, Succeeded({}), "w1")

    assert following.id == second.id
    assert Step.objects.get(pk=first.pk).status == "running"
    assert Event.objects.filter(kind="step.late_write_refused", step_id=first.pk).exists()
    assert not Event.objects.filter(kind="step.succeeded").exists()


def test_a_failure_still_wakes_workers(listener, settings):
    settings.OPS_RETRY_BASE_SECONDS = 0
    make_step(agent=AgentFactory(slug="roomy", max_concurrent_steps=5))
    step = claim_next_step("w1")
    wakeups(listener)

    record_outcome(step.id, step.lease_token, Failed("boom"))

    assert wakeups(listener) >= 1
    assert Step.objects.get(pk=step.pk).status == "queued"


def test_enabling_an_agent_or_giving_it_room_wakes_workers(listener):
    agent = AgentFactory(slug="sleepy", enabled=False, max_concurrent_steps=1)
    make_step(agent=agent)
    wakeups(listener)

    set_agent_enabled(agent, True, actor="operator:ann")
    assert wakeups(listener) == 1
    Agent.objects.filter(pk=agent.pk).update(max_concurrent_steps=3)
    assert wakeups(listener) == 1
    Agent.objects.filter(pk=agent.pk).update(max_concurrent_steps=2)
    assert wakeups(listener) == 0


def test_switching_a_kind_back_on_wakes_workers(listener):
    set_policy("worker_switches", {"kinds": {"noop": False}}, actor="system:breaker")
    wakeups(listener)

    set_policy("worker_switches", {"kinds": {"noop": True}}, actor="operator:ann")

    assert wakeups(listener) == 1


def test_any_exit_from_running_but_success_wakes_workers(listener):
    """Whoever writes it (here a plain UPDATE): the step's agent has room again."""
    make_step(agent=AgentFactory(slug="roomy", max_concurrent_steps=5))
    step = claim_next_step("w1")
    running = Step.objects.filter(pk=step.pk)
    wakeups(listener)

    running.update(
        status="blocked", blocked_reason="waits", lease_token=None, lease_expires_at=None
    )

    assert wakeups(listener) == 1


def test_a_queued_step_moved_sooner_wakes_workers_and_a_plain_success_does_not(listener):
    step = make_step(agent=AgentFactory(slug="roomy", max_concurrent_steps=5))
    queued = Step.objects.filter(pk=step.pk)
    wakeups(listener)

    queued.update(run_after=Now())
    assert wakeups(listener) == 1
    queued.update(priority=500)  # neither status nor run_after
    assert wakeups(listener) == 0
    claimed = claim_next_step("w1")
    wakeups(listener)
    Step.objects.filter(pk=claimed.pk).update(
        status="succeeded", lease_token=None, lease_expires_at=None
    )
    assert wakeups(listener) == 0
