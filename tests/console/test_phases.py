"""Bootstrap phases with gates: `--check` reads exit criteria from the database."""

import json
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from console.bootstrap import bootstrap
from missions.execution import claim_next_step
from missions.models import Step, Worker
from missions.recovery import reap_expired_leases
from missions.worker import handle_one_step
from opscore.models import Agent, Event, StandingOrder
from opscore.schedule_math import latest_slot
from opscore.standing_orders import db_now, fire
from tests.factories import make_step

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def instant_retries(settings):
    settings.OPS_RETRY_BASE_SECONDS = 0


def check(phase=1):
    out = StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("bootstrap", "--phase", str(phase), "--check", "--json", stdout=out)
        raise SystemExit(0)
    found = json.loads(out.getvalue())
    return exit_info.value.code, {c["name"]: c["passed"] for c in found}


def applied_ago(clock, hours: float, *phases: int) -> None:
    """Bootstrap these phases `hours` ago (forcing past the gates), then come back to now."""
    now = db_now()
    clock.freeze(now - timedelta(hours=hours))
    for phase in phases:
        bootstrap(phase, actor="test", force=True)
    clock.freeze(now)


def owing_one_slot(order: StandingOrder) -> datetime:
    """When an order the helpers fire once is said to have been created: two days ago, or just
    after its last slot but one when that is later. Only its latest slot is fired, so an order
    older than that would have missed the ones between, and a missed slot fails a phase's hold
    (the system was down)."""
    latest = latest_slot(order.cron, order.timezone, db_now())
    before = latest_slot(order.cron, order.timezone, latest - timedelta(seconds=1))
    return max(db_now() - timedelta(days=2), before + timedelta(seconds=1))


def run_phase_one_for_real(clock):
    """What an operator does in phase 1: work flows, a lease is recovered, orders run — and
    it has held for the seed's 48 h. Each order has existed for two days (or since its last slot
    but one: owing_one_slot), so on the 1st-2nd of a month the monthly drill owes its slot and
    runs, and later in the month it owes none yet (both must pass the gate)."""
    applied_ago(clock, 49, 1)
    devops = Agent.objects.get(slug="devops")
    lost = make_step("noop", agent=devops)
    claim_next_step("crashed-worker")
    Step.objects.filter(pk=lost.pk).update(lease_expires_at=db_now() - timedelta(seconds=1))
    reap_expired_leases()
    Worker.objects.create(worker_id="w1", host="test", pid=1)
    while handle_one_step("w1"):
        pass
    # The gap check goes last: run first, it would record the others' due slots as missed.
    for order in sorted(StandingOrder.objects.all(), key=lambda o: o.handler == "gap_check"):
        StandingOrder.objects.filter(pk=order.pk).update(created_at=owing_one_slot(order))
        order.refresh_from_db()
        slot = latest_slot(order.cron, order.timezone, db_now())
        if slot >= order.created_at:
            fire(order, slot + timedelta(seconds=30))


def test_the_phase_one_check_fails_on_an_empty_system():
    code, criteria = check()

    assert code == 1
    assert [name for name, ok in criteria.items() if ok] == ["no unexplained dead steps"]


# The monthly restore drill (`0 4 1 * *`) before, at and after its slot; a leap day; the last
# minute of a year (the check failed on the 1st-3rd of every month before).
INSTANTS = [
    "2027-01-01T03:50:00+00:00",
    "2027-01-01T04:10:00+00:00",
    "2027-01-03T08:00:00+00:00",
    "2027-01-17T12:00:00+00:00",
    "2028-02-29T12:00:00+00:00",
    "2027-12-31T23:59:00+00:00",
]


@pytest.mark.parametrize("instant", INSTANTS)
def test_the_phase_one_check_passes_after_a_real_run(clock, instant):
    clock.freeze(datetime.fromisoformat(instant))
    run_phase_one_for_real(clock)

    code, criteria = check()

    assert code == 0, criteria
    assert all(criteria.values())


def test_phase_two_refuses_while_phase_one_fails():
    bootstrap(1, actor="test")

    with pytest.raises(CommandError, match="phase 1 exit criteria fail"):
        call_command("bootstrap", "--phase", "2")

    assert Agent.objects.filter(enabled=True).count() == 4


def test_forcing_phase_two_is_recorded_with_the_operator():
    bootstrap(1, actor="test")

    call_command("bootstrap", "--phase", "2", "--force", "--operator", "ann", stdout=StringIO())

    forced = Event.objects.get(kind="bootstrap.gate_forced")
    assert forced.actor == "operator:ann"
    assert Agent.objects.filter(enabled=True).count() == 10


@pytest.mark.parametrize("instant", INSTANTS[:3])
def test_phase_two_brings_all_agents_and_the_other_seventeen_orders(clock, instant):
    clock.freeze(datetime.fromisoformat(instant))
    run_phase_one_for_real(clock)

    bootstrap(2, actor="operator:ann")

    assert Agent.objects.filter(enabled=True).count() == 10
    assert StandingOrder.objects.count() == 24
    again = bootstrap(2, actor="operator:ann")
    assert not again.changed


def test_a_failing_criterion_says_how_to_make_it_pass(db):
    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("bootstrap", "--phase", "1", "--check", stdout=out)

    lines = out.getvalue().splitlines()
    failing = [i for i, line in enumerate(lines) if line.startswith("FAIL")]
    assert failing and all(lines[i + 1].startswith("      to pass: ") for i in failing)
    assert ".venv/bin/opscore supervise" in out.getvalue()


def test_the_heartbeat_prints_one_readable_line_per_duty(db):
    out = StringIO()
    call_command("heartbeat", stdout=out)

    from console.heartbeat import DUTIES

    lines = out.getvalue().splitlines()
    assert len(lines) == 1 + len(DUTIES)
    assert any("evaluate_triggers" in line and "rules none" in line for line in lines)
    assert "{" not in out.getvalue()


def test_a_closed_gate_is_recorded_with_its_reasons_and_who_asked():
    """A refusal is a row: the operator who asked for phase 2 while phase 1 failed left no trace
    of it, so `why is phase 2 not on?` had no answer in the ledger."""
    bootstrap(1, actor="test")

    with pytest.raises(CommandError):
        call_command("bootstrap", "--phase", "2", "--operator", "ann")

    refused = Event.objects.get(kind="bootstrap.gate_refused")
    assert refused.actor == "operator:ann" and "phase-2" in refused.tags
    assert "a fresh worker liveness row" in refused.summary
    assert not Event.objects.filter(kind="bootstrap.phase_applied", tags__contains=["phase-2"])


def test_orders_whose_last_window_nothing_ran_have_not_proved_it(clock):
    """Every order ran once, then the system stopped for three days and the gap check with
    it: each order's last run was still `completed`, so the check printed 'PASS standing
    orders proved their last window' of windows in which nothing ran."""
    clock.freeze(datetime.fromisoformat("2027-01-17T12:00:00+00:00"))  # no drill due till Feb
    run_phase_one_for_real(clock)
    clock.freeze(db_now() + timedelta(days=3))

    _, criteria = check()

    assert criteria["standing orders proved their last window"] is False
