"""agentbus: an external agent runtime closes the loop through the same durable write path."""

import json
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command

from missions.models import Proposal, Step
from opscore.models import Event, Runtime, StandingOrder, StandingOrderRun
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(db):
    """devops, worked by an outside runtime: the agent bus claims only such an agent's jobs."""
    return AgentFactory(slug="devops", runtime=Runtime.EXTERNAL)


def bus(*args, expect_exit=None, capsys=None):
    out = StringIO()
    if expect_exit is None:
        call_command("agentbus", *args, stdout=out)
        return json.loads(out.getvalue())
    with pytest.raises(SystemExit) as exit_info:
        call_command("agentbus", *args, stdout=out)
    assert exit_info.value.code == expect_exit
    return json.loads(capsys.readouterr().out)


def test_a_runtime_enqueues_claims_and_completes_a_job(agent):
    queued = bus(
        "enqueue-job",
        "--target-agent",
        "devops",
        "--subject",
        "check disks",
        "--kind",
        "noop",
        "--payload",
        '{"host": "db1"}',
    )
    assert queued["proposal"]["status"] == "accepted"
    assert Proposal.objects.get().cause_ref == "agentbus"

    job = bus("claim-jobs", "--lease-owner", "runtime-1", "--target-agent", "devops")["jobs"][0]
    assert (job["payload"], job["attempt"]) == ({"host": "db1"}, 1)

    done = bus(
        "complete-job",
        str(job["id"]),
        "--lease-token",
        job["lease_token"],
        "--result",
        '{"free": "40%"}',
        "--summary",
        "fine",
    )
    assert done["job"]["status"] == "succeeded"
    assert Step.objects.get().result == {"free": "40%", "summary": "fine"}


def test_a_stale_token_is_refused_with_exit_3(agent, capsys):
    bus("enqueue-job", "--target-agent", "devops", "--subject", "x", "--kind", "noop")
    job = bus("claim-jobs", "--lease-owner", "r", "--target-agent", "devops")["jobs"][0]

    refused = bus(
        "complete-job",
        str(job["id"]),
        "--lease-token",
        "00000000-0000-0000-0000-000000000000",
        expect_exit=3,
        capsys=capsys,
    )

    assert refused["error"] == (
        f"S{job['id']}: a completion under a lease token S{job['id']} never issued was refused"
    )
    assert Step.objects.get().status == "running"


def test_a_second_complete_job_is_refused_as_finished_not_as_a_lost_lease(agent, capsys):
    bus("enqueue-job", "--target-agent", "devops", "--subject", "x", "--kind", "noop")
    job = bus("claim-jobs", "--lease-owner", "r", "--target-agent", "devops")["jobs"][0]
    complete = ["complete-job", str(job["id"]), "--lease-token", job["lease_token"]]
    bus(*complete)

    said = bus(*complete, expect_exit=3, capsys=capsys)

    refused = Event.objects.get(kind="step.late_write_refused")
    assert refused.title == f"S{job['id']} already succeeded: a second completion was refused"
    assert said["error"] == refused.title  # the caller hears what the record says
    assert Event.objects.filter(kind="step.succeeded").count() == 1


def test_a_block_after_the_job_was_cancelled_is_refused_saying_so(agent, capsys):
    bus("enqueue-job", "--target-agent", "devops", "--subject", "x", "--kind", "noop")
    job = bus("claim-jobs", "--lease-owner", "r", "--target-agent", "devops")["jobs"][0]
    Step.objects.filter(pk=job["id"]).cancel()

    said = bus(
        "block-job",
        str(job["id"]),
        "--lease-token",
        job["lease_token"],
        "--blocked-reason",
        "waiting",
        expect_exit=3,
        capsys=capsys,
    )

    assert said["error"] == (
        f"S{job['id']} was cancelled while attempt 1 held its lease: its late block was refused"
    )
    assert said["error"] == Event.objects.get(kind="step.late_write_refused").title


def test_block_and_fail_record_their_reasons(agent, settings):
    settings.OPS_RETRY_BASE_SECONDS = 0
    agent.max_concurrent_steps = 2
    agent.save()
    for _ in range(2):
        bus("enqueue-job", "--target-agent", "devops", "--subject", "x", "--kind", "noop")
    first, second = bus(
        "claim-jobs", "--lease-owner", "r", "--target-agent", "devops", "--limit", "2"
    )["jobs"]

    bus(
        "block-job",
        str(first["id"]),
        "--lease-token",
        first["lease_token"],
        "--blocked-reason",
        "needs the prod password",
    )
    bus(
        "fail-job",
        str(second["id"]),
        "--lease-token",
        second["lease_token"],
        "--last-error",
        "disk full",
        "--no-retry",
    )

    assert Step.objects.get(pk=first["id"]).blocked_reason == "needs the prod password"
    assert (
        Step.objects.get(pk=second["id"]).status,
        Step.objects.get(pk=second["id"]).last_error,
    ) == ("failed", "disk full")


def test_standing_order_runs_start_once_and_finish(capsys, clock):
    clock.freeze(datetime(2026, 11, 23, 10, 4, tzinfo=UTC))  # created before the 10:05 slot
    auditor = AgentFactory(slug="auditor")
    StandingOrder.objects.create(agent=auditor, name="lease_reaper", cron="*/5 * * * *")
    clock.freeze(datetime(2026, 11, 23, 10, 7, tzinfo=UTC))  # the slot has come
    start = (
        "start-standing-order",
        "--agent-id",
        "auditor",
        "--order-name",
        "lease_reaper",
        "--scheduled-for",
        "2026-11-23T10:05:00Z",
    )

    run = bus(*start)
    again = bus(*start)
    finished = bus(
        "finish-standing-order",
        str(run["run_id"]),
        "--status",
        "completed",
        "--evidence",
        '{"requeued": 2, "gaps": 0}',
    )

    assert again == {
        "ok": True,
        "run_id": run["run_id"],
        "status": "started",
        "already_recorded": True,
    }
    assert finished["status"] == "completed"
    bus(
        "finish-standing-order",
        str(run["run_id"]),
        "--status",
        "failed",
        expect_exit=3,
        capsys=capsys,
    )


def test_events_are_emitted_with_their_topic_as_tags(agent):
    body = bus(
        "emit-event",
        "--topic",
        "security.review.completed",
        "--source-agent",
        "devops",
        "--payload",
        '{"risk": "low"}',
    )

    event = Event.objects.get(pk=body["event"]["id"])
    assert event.tags == ["security", "review", "completed"]


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_run_time_no_reader_could_load_back_is_refused(capsys, when):
    """Stored, such a run would fail every page and sweeper that reads it (psycopg cannot load a
    time outside Python's years 1-9999 in UTC)."""
    auditor = AgentFactory(slug="auditor")
    StandingOrder.objects.create(agent=auditor, name="lease_reaper", cron="*/5 * * * *")
    args = ["--agent-id", "auditor", "--order-name", "lease_reaper", "--scheduled-for", when]

    with pytest.raises(SystemExit) as exit_info:
        call_command("agentbus", "start-standing-order", *args)

    assert exit_info.value.code == 2
    assert "out of range" in json.loads(capsys.readouterr().out)["error"]
    assert not StandingOrderRun.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["enqueue-job", "--target-agent", "devops"], "--subject"),
        (
            ["enqueue-job", "--target-agent", "devops", "--subject", "x", "--kind", "warp"],
            "invalid job",
        ),
        (
            ["enqueue-job", "--target-agent", "devops", "--subject", "x", "--payload", "{"],
            "not valid JSON",
        ),
        (
            ["claim-jobs", "--lease-owner", "r", "--target-agent", "devops", "--limit", "0"],
            "between 1 and 100",
        ),
        (
            [
                "start-standing-order",
                "--agent-id",
                "a",
                "--order-name",
                "b",
                "--scheduled-for",
                "yesterday",
            ],
            "no standing order",
        ),
        (["frobnicate"], "invalid choice"),
        (["requeue-expired", "--limit", "-1"], "between 1 and 10000"),  # was a traceback
        (["requeue-expired", "--limit", "99999999999999999999"], "between 1 and 10000"),
    ],
)
def test_bad_input_exits_non_zero_with_a_json_error(agent, capsys, args, message):
    from django.core.management import execute_from_command_line

    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "agentbus", *args])

    assert exit_info.value.code == 2
    body = json.loads(capsys.readouterr().out)
    assert body["ok"] is False and message in body["error"]
