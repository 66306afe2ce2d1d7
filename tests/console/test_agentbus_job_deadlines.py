"""A job an outside runtime holds has its kind's deadline too: no lease keeper of Opscore's
watches it, so the minute sweep times it out as the keeper times out a worker's, however long
the lease it claimed or however often it renews."""

from datetime import UTC, datetime, timedelta

import pytest

from missions.deadlines import time_out_overdue_attempts
from missions.execution import claim_next_step
from missions.models import Step
from missions.tasks import sweep
from opscore.models import Event, Runtime
from tests.console.test_agentbus import bus
from tests.factories import AgentFactory, make_step

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_job_renewed_past_its_kinds_deadline_is_timed_out(clock, settings, capsys):
    settings.OPS_STEP_TIMEOUT_SECONDS = 900
    clock.freeze(T0)
    AgentFactory(slug="devops", runtime=Runtime.EXTERNAL)
    bus("enqueue-job", "--target-agent", "devops", "--subject", "job", "--kind", "noop")
    claim = ["claim-jobs", "--lease-owner", "runtime-1", "--target-agent", "devops"]
    job = bus(*claim, "--lease-seconds", "86400")["jobs"][0]
    renew = ["renew-job-lease", str(job["id"]), "--lease-token", job["lease_token"]]
    for minutes in (10, 20):  # the runtime keeps its lease alive
        clock.freeze(T0 + timedelta(minutes=minutes))
        bus(*renew)

    counts = sweep()

    step = Step.objects.get(pk=job["id"])
    assert step.status == "queued" and "ran past its 900s timeout" in step.last_error
    assert counts["attempts_timed_out"] == 1
    assert step.attempts.get().outcome == "timed_out"
    assert Event.objects.filter(kind="step.timed_out", step=step).exists()
    refused = bus(*renew, expect_exit=3, capsys=capsys)
    assert "no longer holds" in refused["error"]


def test_past_its_batch_cap_the_sweep_says_how_many_wait_in_a_row(clock, settings):
    settings.OPS_STEP_TIMEOUT_SECONDS = 900
    clock.freeze(T0)
    steps = [make_step("noop") for _ in range(3)]
    for step in steps:
        claim_next_step(f"runtime:{step.id}")
    clock.freeze(T0 + timedelta(minutes=16))

    assert time_out_overdue_attempts(limit=2) == {"timed_out": 2, "deferred": 1}
    capped = Event.objects.get(kind="sweep.capped")
    assert capped.payload == {"loop": "time_out_overdue_attempts", "limit": 2, "waiting": 1}
    assert time_out_overdue_attempts(limit=2) == {"timed_out": 1}
