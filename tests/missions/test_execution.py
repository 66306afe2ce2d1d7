"""Claiming, outcomes, fencing, reaping and the breaker, driven one step at a time."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models.functions import Now

from missions.claimed_rows import STEP_ATTNAMES
from missions.execution import (
    claim_next_step,
    complete_and_claim_next,
    record_outcome,
    renew_lease,
)
from missions.executors import EXECUTORS, Failed, Succeeded
from missions.models import Mission, OutboxMessage, Step, StepAttempt, StepDependency
from missions.outbox import deliver_pending
from missions.recovery import reap_expired_leases, requeue_cleared_blockers
from missions.worker import handle_one_step
from opscore.actions import set_policy
from opscore.models import Event, Policy
from tests.factories import AgentFactory, make_step

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def instant_retries(settings):
    settings.OPS_RETRY_BASE_SECONDS = 0


def expire(step):
    Step.objects.filter(pk=step.pk).update(lease_expires_at=Now() - timedelta(seconds=1))


def test_the_most_urgent_ready_step_is_claimed_first():
    low = make_step(priority=10)
    high = make_step(priority=500)
    make_step(priority=999, run_after=Now() + timedelta(hours=1))

    claimed = claim_next_step("w1")

    assert claimed.id == high.id
    assert claim_next_step("w1").id == low.id
    assert claim_next_step("w1") is None


def test_a_claim_leases_the_step_and_opens_an_attempt():
    step = make_step()

    claimed = claim_next_step("w1", lease_seconds=30)

    assert (claimed.status, claimed.lease_owner, claimed.attempt_count) == ("running", "w1", 1)
    assert claimed.lease_token and claimed.lease_expires_at
    attempt = StepAttempt.objects.get(step=step)
    assert (attempt.worker_id, attempt.outcome, attempt.lease_token) == (
        "w1",
        "running",
        claimed.lease_token,
    )
    assert Mission.objects.get(pk=step.mission_id).status == "running"


def test_a_step_waits_for_the_steps_it_depends_on():
    first = make_step()
    second = Step.objects.create(mission=first.mission, kind="noop", agent=first.agent, position=1)
    StepDependency.objects.create(step=second, depends_on=first)

    assert claim_next_step("w1").id == first.id
    assert claim_next_step("w1") is None
    assert handle_one_step("w2") is False
    first.refresh_from_db()
    record_outcome(first.id, first.lease_token, Succeeded())

    assert claim_next_step("w1").id == second.id


def test_when_a_dependency_fails_its_dependents_are_cancelled_and_the_mission_fails():
    first = make_step("test_fail", payload={"retryable": False})
    second = Step.objects.create(mission=first.mission, kind="noop", agent=first.agent, position=1)
    StepDependency.objects.create(step=second, depends_on=first)

    handle_one_step("w1")

    second.refresh_from_db()
    assert (second.status, second.last_error) == (
        "cancelled",
        f"dependency S{first.id} ended failed",
    )
    assert Mission.objects.get(pk=first.mission_id).status == "failed"
    assert Event.objects.filter(kind="mission.failed", tags__contains=["mission_failed"]).exists()


def test_an_agent_never_runs_more_steps_than_it_may():
    busy = AgentFactory(slug="busy", max_concurrent_steps=1)
    other = AgentFactory(slug="other")
    make_step(agent=busy, priority=900)
    make_step(agent=busy, priority=800)
    third = make_step(agent=other, priority=1)

    claim_next_step("w1")

    assert claim_next_step("w2").id == third.id
    assert claim_next_step("w3") is None


def test_switched_off_kinds_and_disabled_agents_wait_in_the_queue():
    set_policy("worker_switches", {"kinds": {"noop": False}}, actor="operator:ann")
    make_step("noop")
    sleepy = AgentFactory(slug="sleepy", enabled=False)
    make_step("test_effect", agent=sleepy)

    assert claim_next_step("w1") is None


def test_success_stores_the_result_effects_and_closes_the_mission():
    step = make_step("test_effect")

    assert handle_one_step("w1") is True

    step.refresh_from_db()
    assert (step.status, step.result) == ("succeeded", {"attempt": 1})
    assert step.lease_token is None and step.finished_at
    assert StepAttempt.objects.get(step=step).outcome == "succeeded"
    assert OutboxMessage.objects.get(step=step).status == "pending"
    assert Mission.objects.get(pk=step.mission_id).status == "succeeded"
    assert deliver_pending() == 1
    assert OutboxMessage.objects.get(step=step).external_id.startswith("local-")
    assert deliver_pending() == 0


def test_a_failure_retries_with_backoff_until_it_is_dead(settings):
    settings.OPS_RETRY_BASE_SECONDS = 60
    step = make_step("test_fail", max_attempts=2)

    handle_one_step("w1")
    step.refresh_from_db()
    assert (step.status, step.last_error) == ("queued", "it broke")
    assert claim_next_step("w1") is None  # backing off, by the database clock

    Step.objects.filter(pk=step.pk).update(run_after=Now())
    handle_one_step("w1")
    step.refresh_from_db()
    assert step.status == "dead" and step.attempt_count == 2
    assert list(step.attempts.values_list("outcome", flat=True)) == ["failed", "failed"]
    assert Event.objects.filter(kind="step.dead", step=step).exists()


def test_an_executor_crash_fails_only_that_step_with_the_reason():
    step = make_step("test_crash", max_attempts=1)
    after = make_step("noop", priority=1)

    assert handle_one_step("w1") is True
    assert handle_one_step("w1") is True

    step.refresh_from_db()
    assert step.status == "dead"
    assert "RuntimeError: executor crashed" in step.last_error
    assert "\n" not in step.last_error and "Traceback" not in step.last_error  # in the log
    assert Step.objects.get(pk=after.pk).status == "succeeded"


def test_a_blocked_step_keeps_its_reason():
    step = make_step("test_block")

    handle_one_step("w1")

    step.refresh_from_db()
    assert (step.status, step.blocked_reason) == ("blocked", "waiting for a human")


def test_a_stalled_workers_late_completion_is_refused_and_recorded():
    step = make_step("test_effect")
    stalled = claim_next_step("stalled")
    expire(step)
    reap_expired_leases()
    current = claim_next_step("fresh")

    applied = record_outcome(step.id, stalled.lease_token, Succeeded({"by": "stalled"}))

    assert applied is False
    step.refresh_from_db()
    assert (step.status, step.lease_owner) == ("running", "fresh")
    refusal = Event.objects.get(kind="step.late_write_refused")
    assert "attempt 1 by stalled" in refusal.summary
    assert record_outcome(step.id, current.lease_token, Succeeded({"by": "fresh"})) is True
    assert Step.objects.get(pk=step.pk).result == {"by": "fresh"}


def test_renewal_needs_the_current_token():
    make_step()
    claimed = claim_next_step("w1", lease_seconds=1)

    assert renew_lease(claimed.id, claimed.lease_token, lease_seconds=600) is True
    assert renew_lease(claimed.id, "00000000-0000-0000-0000-000000000000") is False
    claimed.refresh_from_db()
    assert reap_expired_leases() == {"requeued": 0, "dead": 0, "blocked": 0}


def test_an_expired_lease_is_reaped_and_its_attempt_marked_lost():
    step = make_step("test_effect")
    claim_next_step("gone")
    expire(step)

    assert reap_expired_leases() == {"requeued": 1, "dead": 0, "blocked": 0}

    step.refresh_from_db()
    assert step.status == "queued" and step.lease_token is None
    attempt = step.attempts.get()
    assert attempt.outcome == "lost" and "gone lost its lease" in attempt.error


def test_a_lost_non_idempotent_step_waits_for_a_human():
    step = make_step("post_tweet")
    claim_next_step("gone")
    expire(step)

    reap_expired_leases()

    step.refresh_from_db()
    assert (step.status, step.blocked_code) == ("blocked", "needs_human")
    assert "not idempotent" in step.blocked_reason


def test_three_consecutive_failures_trip_the_breaker(monkeypatch):
    monkeypatch.setitem(EXECUTORS, "analyze", lambda run: Failed("model is down"))
    for _ in range(3):
        make_step("analyze", max_attempts=1)
        handle_one_step("w1")

    assert Policy.objects.value("worker_switches").is_enabled("analyze") is False
    alert = Event.objects.get(kind="breaker.tripped")
    assert "alert" in alert.tags
    make_step("analyze")
    assert claim_next_step("w1") is None


def test_a_success_in_between_keeps_the_breaker_closed(monkeypatch):
    outcomes = iter([Failed("x"), Failed("x"), Succeeded(), Failed("x"), Failed("x")])
    monkeypatch.setitem(EXECUTORS, "analyze", lambda run: next(outcomes))
    for _ in range(5):
        make_step("analyze", max_attempts=1)
        handle_one_step("w1")

    assert Policy.objects.value("worker_switches").is_enabled("analyze") is True


def lose_worker(step):
    claim_next_step("w1")
    expire(step)
    reap_expired_leases()


def test_workers_lost_once_each_do_not_trip_the_breaker():
    """A cluster killed mid-run loses every step it held; that says nothing about the kind."""
    steps = [make_step("analyze") for _ in range(4)]
    for step in steps:
        lose_worker(step)

    assert Policy.objects.value("worker_switches").is_enabled("analyze") is True
    assert {s.status for s in Step.objects.filter(pk__in=[s.pk for s in steps])} == {"queued"}


def test_steps_that_keep_killing_their_worker_trip_the_breaker():
    first, second = make_step("analyze", priority=900), make_step("analyze", priority=800)
    for step in (first, first, first, second, second):
        lose_worker(step)

    assert Policy.objects.value("worker_switches").is_enabled("analyze") is False
    assert Step.objects.get(pk=first.pk).status == "dead"


def test_a_missing_executor_blocks_until_one_is_installed(monkeypatch):
    step = make_step("plugin_kind")
    handle_one_step("w1")
    step.refresh_from_db()
    assert (step.status, step.blocked_code) == ("blocked", "no_executor")
    assert requeue_cleared_blockers() == 0

    monkeypatch.setitem(EXECUTORS, "plugin_kind", lambda run: Succeeded())

    assert requeue_cleared_blockers() == 1
    handle_one_step("w1")
    assert Step.objects.get(pk=step.pk).status == "succeeded"


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_runs_outside_any_transaction():
    from missions.tasks import sweep

    assert sweep() == {
        "requeued": 0,
        "dead": 0,
        "blocked": 0,
        "attempts_timed_out": 0,
        "unblocked": 0,
        "timed_out": 0,
        "woken": 0,
        "overrides_lifted": [],
        "idempotency_keys_pruned": 0,
    }


def test_urls_the_guard_refuses_never_switch_crawling_off():
    """Anyone who may propose could otherwise turn a lane off with three private URLs."""
    for url in ["http://127.0.0.1/", "http://10.0.0.1/", "http://169.254.169.254/", ""]:
        make_step("crawl", payload={"url": url} if url else {})
        handle_one_step("w1")

    assert Policy.objects.value("worker_switches").is_enabled("crawl") is True
    refused = StepAttempt.objects.filter(step__kind="crawl")
    assert set(refused.values_list("outcome", flat=True)) == {"refused"}
    assert set(Step.objects.values_list("status", flat=True)) == {"failed"}
    assert not Event.objects.filter(kind="breaker.tripped").exists()


def test_executor_faults_between_refusals_still_trip_the_breaker(monkeypatch):
    outcomes = iter([Failed("x"), Failed("no", input_refused=True), Failed("x"), Failed("x")])
    monkeypatch.setitem(EXECUTORS, "analyze", lambda run: next(outcomes))
    for _ in range(4):
        make_step("analyze", max_attempts=1)
        handle_one_step("w1")

    assert Policy.objects.value("worker_switches").is_enabled("analyze") is False


@pytest.mark.django_db(transaction=True)
def test_the_fast_path_hands_back_the_next_step_as_the_orm_reads_it():
    """opscore_finish_step hands the next step back as one JSON array, read by position: each
    claimed field arrives as Django would load it (timestamps in its time zone, a UUID)."""
    agent = AgentFactory(slug="roomy", max_concurrent_steps=5)
    make_step(agent=agent), make_step(agent=agent, payload={"n": [1, "two"]})
    claimed = claim_next_step("w1")

    following = complete_and_claim_next(claimed, Succeeded({}), "w1")

    stored = Step.objects.get(pk=following.pk)
    for name in STEP_ATTNAMES:
        assert getattr(following, name) == getattr(stored, name), name
        assert type(getattr(following, name)) is type(getattr(stored, name)), name
    assert following.updated_at.tzinfo is stored.updated_at.tzinfo


def prepared_claims() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%opscore_claim_step(%"],
        )
        return cursor.fetchone()[0]


def test_the_claim_is_prepared_once_per_connection():
    """Django turns psycopg's preparing off, which made the claim's `prepare=True` a no-op: the
    server parsed and planned it on every claim. It is now prepared once per connection."""
    make_step("noop", priority=10)
    make_step("noop", priority=20)

    assert claim_next_step("w1") is not None
    assert claim_next_step("w2") is not None

    assert prepared_claims() == 1
    assert connection.connection.prepare_threshold is None  # nothing else is prepared


def deadlocked(run):
    """A statement the database aborts as a deadlock victim, as it does under contention."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DO $$ BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END $$"
        )


def test_steps_the_database_picked_as_deadlock_victims_never_switch_their_kind_off(monkeypatch):
    """A deadlock or a serialization failure is the database choosing a victim among
    concurrent writers: it says nothing about the kind, so it is retried and never counts
    toward the breaker, nor breaks a run of real failures."""
    monkeypatch.setitem(EXECUTORS, "analyze", deadlocked)
    steps = [make_step("analyze", max_attempts=2) for _ in range(3)]
    for _ in steps:
        handle_one_step("w1")

    assert Policy.objects.value("worker_switches").is_enabled("analyze") is True
    assert {s.status for s in Step.objects.filter(pk__in=[s.pk for s in steps])} == {"queued"}
    attempt = StepAttempt.objects.filter(step=steps[0]).get()
    assert attempt.outcome == "contended" and "deadlock" in attempt.error

    monkeypatch.setitem(EXECUTORS, "analyze", lambda run: Failed("model is down"))
    for _ in range(2):
        make_step("analyze", max_attempts=1, priority=900)
        handle_one_step("w1")
    assert Policy.objects.value("worker_switches").is_enabled("analyze") is True


def test_a_reap_past_its_batch_cap_says_how_many_wait_in_a_row(monkeypatch):
    steps = [make_step("test_effect") for _ in range(3)]
    for n in range(3):
        claim_next_step(f"gone-{n}")
    for step in steps:
        expire(step)

    assert reap_expired_leases(limit=2) == {"requeued": 2, "dead": 0, "blocked": 0, "deferred": 1}
    capped = Event.objects.get(kind="sweep.capped")
    assert capped.payload == {"loop": "reap_expired_leases", "limit": 2, "waiting": 1}
    assert reap_expired_leases(limit=2) == {"requeued": 1, "dead": 0, "blocked": 0}
