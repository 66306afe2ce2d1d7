"""Standing orders prove that they ran (completed / no_work) or that they did not (missed)."""

import json
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from django_q.models import Schedule

from console.bootstrap import bootstrap
from missions import orders
from missions.execution import claim_next_step
from missions.models import Artifact, Step
from missions.orders import close_finished_missions
from missions.recovery import reap_expired_leases
from missions.worker import handle_one_step
from opscore.actions import record_event
from opscore.models import Agent, StandingOrder, StandingOrderRun
from opscore.schedule_math import latest_slot
from opscore.schedules import sync_order_schedules
from opscore.standing_orders import check_gaps, db_now, fire, start_run
from tests.factories import AgentFactory, make_step
from tests.scripted import Scripted

pytestmark = pytest.mark.django_db


def order(handler="lease_reaper", cron="*/5 * * * *", age=timedelta(hours=3), **fields):
    agent = fields.pop("agent", None) or AgentFactory(slug="auditor")
    made = StandingOrder.objects.create(
        agent=agent, name=f"{handler}-order", cron=cron, handler=handler, **fields
    )
    StandingOrder.objects.filter(pk=made.pk).update(created_at=db_now() - age)
    made.refresh_from_db()
    return made


def on_time(o):
    """A moment just after the order's latest slot, as its schedule would fire it."""
    return latest_slot(o.cron, o.timezone, db_now()) + timedelta(seconds=30)


def statuses(o):
    return list(o.runs.order_by("scheduled_for").values_list("status", flat=True))


def test_a_run_that_finds_nothing_records_no_work():
    run = fire(order())

    assert run.status == "no_work"
    assert run.summary == "no expired leases"


def test_a_run_that_does_something_records_completed_with_evidence():
    step = make_step("noop")
    claim_next_step("gone")
    Step.objects.filter(pk=step.pk).update(lease_expires_at=db_now() - timedelta(seconds=1))

    run = fire(order())

    assert run.status == "completed"
    assert run.evidence == {"requeued": 1, "dead": 0, "blocked": 0}


def test_a_reaper_run_cut_short_by_its_batch_cap_says_so(monkeypatch):
    monkeypatch.setattr(orders, "reap_expired_leases", partial(reap_expired_leases, limit=1))
    steps = [make_step("noop") for _ in range(2)]
    for n in range(2):
        claim_next_step(f"gone-{n}")
    Step.objects.filter(pk__in=[s.pk for s in steps]).update(
        lease_expires_at=db_now() - timedelta(seconds=1)
    )

    run = fire(order())

    assert run.evidence == {"requeued": 1, "dead": 0, "blocked": 0, "deferred": 1}
    assert run.summary == "recovered 1 step(s); 1 more wait for the next run"


def test_one_slot_runs_once_however_often_it_fires():
    o = order()
    now = db_now()

    assert fire(o, now) is not None
    assert fire(o, now) is None
    assert o.runs.count() == 1


def test_downtime_is_recorded_as_missed_windows_not_replayed_as_a_flood():
    o = order(age=timedelta(hours=2))

    counts = check_gaps()
    fire(o)

    assert counts["missed"] >= 20
    assert statuses(o).count("missed") == counts["missed"]
    assert statuses(o).count("no_work") == 1  # only the latest slot actually ran
    assert o.runs.count() == counts["missed"] + 1


def test_a_slot_fired_after_its_grace_is_recorded_missed_not_run_late():
    o = order(cron="0 * * * *", grace_minutes=5)
    slot = db_now().replace(minute=0, second=0, microsecond=0)

    run = fire(o, slot + timedelta(minutes=11))  # the timer came back after an outage

    assert run.status == "missed"
    assert run.scheduled_for == slot
    assert fire(o, slot + timedelta(minutes=12)).status == "missed"  # and stays so
    assert not o.runs.exclude(status="missed").exists()


def test_slots_within_the_grace_period_are_not_yet_missed():
    o = order(cron="* * * * *", age=timedelta(minutes=3), grace_minutes=10)

    assert check_gaps()["missed"] == 0
    assert not o.runs.exists()


def test_a_run_overlapping_its_predecessor_is_skipped_with_the_reason():
    o = order()
    earlier = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    start_run(o, earlier)

    skipped = start_run(o, earlier + timedelta(minutes=5))

    assert skipped.status == "skipped"
    assert "is still running" in skipped.summary


def test_a_started_run_that_never_finishes_fails_by_timeout():
    o = order(timeout_minutes=30)
    run = start_run(o, datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
    StandingOrderRun.objects.filter(pk=run.pk).update(started_at=db_now() - timedelta(hours=1))

    assert check_gaps()["timed_out"] == 1

    run.refresh_from_db()
    assert (run.status, run.summary) == ("failed", "timed out after 30 min")


def test_a_handler_crash_fails_the_run_with_the_reason(monkeypatch):
    monkeypatch.setattr(
        "missions.orders.reap_expired_leases",
        lambda: (_ for _ in ()).throw(RuntimeError("db on fire")),
    )

    run = fire(order())

    assert run.status == "failed" and "RuntimeError: db on fire" in run.summary


def test_the_publisher_digest_summarises_the_day_or_says_no_work():
    publisher = AgentFactory(slug="publisher")
    digest_order = order("daily_digest", cron="0 18 * * *", agent=publisher, age=timedelta(days=2))
    quiet = fire(digest_order, on_time(digest_order))
    assert quiet.status == "no_work"

    step = make_step("noop")
    handle_one_step("w1")
    StandingOrderRun.objects.all().delete()
    busy = fire(digest_order, on_time(digest_order))

    assert busy.status == "completed"
    digest = Artifact.objects.get(kind="digest")
    assert "Missions finished: 1 (succeeded 1)" in digest.body
    assert digest.standing_order_run == busy
    assert step.mission_id


def test_a_generic_order_asks_for_work_with_its_evidence_and_closes_when_it_ends(monkeypatch):
    devops = AgentFactory(slug="devops")
    o = order(
        "generic", instructions="Look for drift", agent=devops, precondition="events_since_last_run"
    )
    drift = record_event("config.changed", "nginx.conf edited on web-2", agent=devops)
    reply = {
        "result": "proposal",
        "title": "Check the nginx drift",
        "steps": [{"kind": "noop", "payload": {"why": "drift"}}],
        "evidence": [{"type": "event", "id": drift.id}],
    }
    model = Scripted(json.dumps(reply))
    monkeypatch.setattr("opscore.llm.get_provider", lambda: model)

    run = fire(o)
    assert run.status == "started" and run.mission is not None
    assert "nginx.conf edited on web-2" in model.requests[0].messages[0]["content"]
    assert Step.objects.get(mission=run.mission).payload == {"why": "drift"}
    assert run.mission.proposal.cause_ref == f"standing_order_run:{run.id}"
    assert run.evidence["evidence_ids"] == [f"event:{drift.id}"]

    handle_one_step("w1")
    assert close_finished_missions() == 1
    run.refresh_from_db()
    assert run.status == "completed"


def test_a_generic_order_does_not_wake_on_its_own_echo_or_bookkeeping():
    """Hourly orders must not spend the daily proposal limit on prose: the events of the work
    an order itself asked for, and the system's bookkeeping, are not news."""
    devops = AgentFactory(slug="devops")
    o = order(
        "generic",
        instructions="Look for drift",
        agent=devops,
        precondition="events_since_last_run",
        cron="0 * * * *",
    )
    record_event("config.changed", "something real", agent=devops)
    slot = latest_slot(o.cron, o.timezone, db_now()) + timedelta(seconds=30)
    first = fire(o, slot)
    handle_one_step("w1")
    close_finished_missions()
    record_event("policy.changed", "Policy x is now version 2")

    later = fire(o, slot + timedelta(hours=3))  # past the proposal interval: it looks

    assert first.status == "completed"
    assert (later.status, later.summary) == ("no_work", "events_since_last_run: nothing found")


def test_a_generic_order_reads_past_a_slot_its_agent_was_switched_off_for(clock):
    """The slot the agent was off for looked at nothing: what happened before it is still news
    to the next slot that looks."""
    clock.freeze(datetime(2027, 3, 2, 9, 0, 30, tzinfo=UTC))
    devops = AgentFactory(slug="devops")
    o = order("generic", agent=devops, precondition="events_since_last_run", cron="0 * * * *")
    assert fire(o).status == "no_work"
    clock.freeze(datetime(2027, 3, 2, 9, 30, tzinfo=UTC))
    record_event("config.changed", "something real", agent=devops)
    Agent.objects.filter(pk=devops.pk).update(enabled=False)
    clock.freeze(datetime(2027, 3, 2, 10, 0, 30, tzinfo=UTC))
    assert fire(o).evidence["checked"]["enabled"] is False
    Agent.objects.filter(pk=devops.pk).update(enabled=True)

    clock.freeze(datetime(2027, 3, 2, 11, 0, 30, tzinfo=UTC))
    run = fire(o)

    assert run.status == "completed"


def test_a_generic_order_without_a_precondition_fails_with_the_reason():
    o = order("generic", agent=AgentFactory(slug="devops"))

    run = fire(o)

    assert (run.status, run.summary) == (
        "failed",
        "no precondition: a generic order needs something to look at",
    )


def test_bootstrap_creates_the_phase_one_orders_and_their_schedules(settings):
    settings.TIME_ZONE = "UTC"  # the orders' own zone: their crons go to django-q2 as they are
    bootstrap(1, actor="test")

    names = set(StandingOrder.objects.values_list("name", flat=True))
    assert names == {
        "coord-backlog-rebalance",
        "audit-lease-reaper",
        "audit-standing-order-gaps",
        "devops-health-check",
        "publisher-daily-digest",
        "devops-nightly-backup",
        "audit-restore-drill",
    }
    schedules = Schedule.objects.filter(name__startswith="standing-order:")
    assert schedules.count() == 7
    assert {s.cron for s in schedules} >= {"*/5 * * * *", "0 18 * * *"}


def test_disabling_an_order_removes_its_schedule():
    bootstrap(1, actor="test")
    StandingOrder.objects.filter(name="audit-lease-reaper").update(enabled=False)

    assert sync_order_schedules() == {"scheduled": 6, "removed": 1}


def test_a_generic_order_whose_precondition_finds_nothing_records_no_work():
    o = order("generic", agent=AgentFactory(slug="devops"), precondition="failures_since_last_run")

    run = fire(o)

    assert (run.status, run.summary) == ("no_work", "failures_since_last_run: nothing found")
    assert not Step.objects.exists()


def test_a_generic_order_whose_precondition_finds_something_answers_with_a_finding():
    o = order("generic", agent=AgentFactory(slug="devops"), precondition="blocked_work_exists")
    blocked = make_step("noop", status="blocked", blocked_reason="waiting")

    run = fire(o)

    finding = Artifact.objects.get(standing_order_run=run)
    assert run.status == "completed" and finding.kind == "finding"
    assert finding.metadata["evidence"] == [{"type": "step", "id": blocked.id}]


def test_a_frequent_order_looks_at_most_once_an_interval_and_loses_nothing_it_saw():
    """The arithmetic behind 24 h under the daily limit: a 15-minute order asks its model (and
    so proposes) at most every 180 minutes (8 a day); what happened in between is carried by
    the next look."""
    devops = AgentFactory(slug="devops", daily_proposal_limit=20)
    o = order(
        "generic",
        agent=devops,
        precondition="events_since_last_run",
        cron="*/15 * * * *",
        age=timedelta(hours=12),
    )
    slot = latest_slot(o.cron, o.timezone, db_now()) - timedelta(hours=6)
    record_event("config.changed", "first change", agent=devops)
    first = fire(o, slot)

    folded = []
    for n in range(1, 12):  # the next 2 h 45 min of slots
        record_event("config.changed", f"change {n}", agent=devops)
        folded.append(fire(o, slot + timedelta(minutes=15 * n)))
    record_event("config.changed", "the last change", agent=devops)
    next_look = fire(o, slot + timedelta(minutes=180))

    assert first.status == "completed"
    assert {r.status for r in folded} == {"no_work"}
    assert all(r.summary.startswith("folded: looked at") for r in folded)
    assert next_look.status == "completed"
    checked = next_look.evidence["checked"]
    assert checked["since"] == first.started_at.isoformat()  # the window covers every fold
    assert checked["rows"] == 10  # 11 changes and the last one, ten shown
    finding = Artifact.objects.get(standing_order_run=next_look)
    assert "config.changed: the last change" in finding.body.splitlines()[0]
    assert o.runs.filter(evidence__has_key="result").count() == 2


def test_a_run_left_started_by_a_killed_process_times_out_even_once_its_order_is_disabled():
    """The process running it was killed; the operator then turned the order off. The run must
    not read `started` for ever on the admin, the Stage and the health views."""
    o = order(timeout_minutes=30)
    run = start_run(o, datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
    StandingOrderRun.objects.filter(pk=run.pk).update(started_at=db_now() - timedelta(hours=1))
    StandingOrder.objects.filter(pk=o.pk).update(enabled=False)

    assert check_gaps()["timed_out"] == 1

    run.refresh_from_db()
    assert (run.status, run.summary) == ("failed", "timed out after 30 min")
    assert not o.runs.filter(status="missed").exists()  # a disabled order owes no slot
