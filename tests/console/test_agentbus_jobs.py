"""agentbus, the rest of seed 004's verbs: a runtime owns an agent's work end to end —
dependencies and start times on enqueue, claims for one agent, running refs, lease renewal."""

import json
from datetime import timedelta

import pytest

from missions.execution import claim_next_step
from missions.models import Step, StepAttempt, Worker
from opscore.db import db_now
from opscore.models import Runtime
from tests.console.test_agentbus import bus
from tests.factories import AgentFactory, make_step

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(db):
    """devops, worked by an outside runtime: the agent bus claims only such an agent's jobs."""
    return AgentFactory(slug="devops", runtime=Runtime.EXTERNAL)


def enqueue(*extra, agent="devops", subject="job"):
    made = bus(
        "enqueue-job", "--target-agent", agent, "--subject", subject, "--kind", "noop", *extra
    )
    return made["proposal"]["step_ids"][0]


def claim(*extra):
    target = [] if "--target-agent" in extra else ["--target-agent", "devops"]
    return bus("claim-jobs", "--lease-owner", "runtime-1", *target, *extra)["jobs"]


def test_a_job_waits_for_the_jobs_it_depends_on(agent):
    first = enqueue(subject="build")
    second = enqueue("--depends-on", str(first), subject="ship")

    jobs = claim("--limit", "5")
    assert [j["id"] for j in jobs] == [first]
    bus("complete-job", str(first), "--lease-token", jobs[0]["lease_token"])

    assert [j["id"] for j in claim()] == [second]


def test_run_after_holds_a_job_until_then(agent):
    later = enqueue("--run-after", (db_now() + timedelta(hours=1)).isoformat())

    assert claim() == []
    step = Step.objects.get(pk=later)
    assert timedelta(minutes=59) < step.run_after - db_now() <= timedelta(hours=1)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--depends-on", "999999"], "no step 999999"),
        (["--run-after", "EIGHT_DAYS_AHEAD"], "at most 7 days ahead"),
        (["--run-after", "tomorrow"], "not an ISO-8601 time"),
    ],
)
def test_bad_scheduling_is_refused_and_writes_nothing(agent, capsys, extra, message):
    """Too far ahead is counted from now, not from a fixed date: '2030-01-01' stopped being
    ahead at all on 2029-12-25, and the test failed from then on."""
    eight_days_ahead = (db_now() + timedelta(days=8)).isoformat()
    extra = [eight_days_ahead if arg == "EIGHT_DAYS_AHEAD" else arg for arg in extra]
    args = ["enqueue-job", "--target-agent", "devops", "--subject", "x", "--kind", "noop", *extra]

    refused = bus(*args, expect_exit=2, capsys=capsys)

    assert message in json_text(refused) and not Step.objects.exists()


def json_text(body) -> str:
    return json.dumps(body)


def test_a_runtime_claims_only_its_agents_work(agent):
    AgentFactory(slug="growth", max_concurrent_steps=5, runtime=Runtime.EXTERNAL)
    enqueue(subject="ops")
    theirs = enqueue(agent="growth", subject="growth")

    jobs = claim("--target-agent", "growth", "--limit", "5")

    assert [j["id"] for j in jobs] == [theirs]


def test_mark_running_and_renew_are_fenced_by_the_lease(agent, capsys):
    enqueue()
    job = claim("--lease-seconds", "30")[0]
    token = job["lease_token"]

    marked = bus(
        "mark-running-job",
        str(job["id"]),
        "--lease-token",
        token,
        "--openclaw-task-ref",
        "task-7",
        "--openclaw-session-key",
        "s-1",
    )
    before = Step.objects.get(pk=job["id"]).lease_expires_at
    renewed = bus(
        "renew-job-lease", str(job["id"]), "--lease-token", token, "--lease-seconds", "600"
    )
    stale = bus(
        "renew-job-lease",
        str(job["id"]),
        "--lease-token",
        "00000000-0000-0000-0000-000000000000",
        expect_exit=3,
        capsys=capsys,
    )

    assert marked["runtime_refs"]["task_ref"] == "task-7"
    assert StepAttempt.objects.get(step_id=job["id"]).runtime_refs["session_key"] == "s-1"
    assert Step.objects.get(pk=job["id"]).lease_expires_at > before + timedelta(minutes=5)
    assert renewed["lease_expires_at"] and "no longer holds" in stale["error"]


def test_a_claim_for_one_agent_keeps_its_concurrency_limit(agent):
    AgentFactory(slug="solo", max_concurrent_steps=1, runtime=Runtime.EXTERNAL)
    enqueue(agent="solo", subject="a")
    enqueue(agent="solo", subject="b")

    assert len(claim("--target-agent", "solo", "--limit", "5")) == 1


def test_a_runtime_never_claims_a_post_opscore_must_publish(agent):
    """A post goes out through Opscore's outbox and its holds (channel approval, words no
    person approved), never through a runtime that could post what it liked: an outside
    agent's post_tweet is Opscore's workers' to claim."""
    agent.max_concurrent_steps = 5
    agent.save(update_fields=["max_concurrent_steps"])
    post = make_step("post_tweet", agent=agent, payload={"text": "We are live."})
    noop = enqueue()

    jobs = claim("--limit", "5")

    assert [j["id"] for j in jobs] == [noop]
    assert claim_next_step("worker-1").id == post.id


@pytest.mark.parametrize(
    "verb, why", [("block-job", "--blocked-reason"), ("fail-job", "--last-error")]
)
def test_what_a_runtime_reports_as_it_blocks_or_fails_a_job_is_kept(agent, verb, why):
    """Its summary and result were taken, answered ok and dropped: nothing kept them."""
    enqueue()
    job = claim()[0]
    report = ["--summary", "got halfway", "--result", '{"done": 3, "of": 7}']

    bus(verb, str(job["id"]), "--lease-token", job["lease_token"], why, "disk full", *report)

    refs = StepAttempt.objects.get(step_id=job["id"]).runtime_refs
    assert refs["summary"] == "got halfway" and refs["result"] == {"done": 3, "of": 7}


@pytest.mark.parametrize("verb, why", [("block-job", "blocked_reason"), ("fail-job", "last_error")])
def test_a_result_that_is_no_json_object_is_refused_as_it_blocks_or_fails(agent, capsys, verb, why):
    enqueue()
    job = claim()[0]

    error = bus(
        verb,
        str(job["id"]),
        "--lease-token",
        job["lease_token"],
        f"--{why.replace('_', '-')}",
        "disk full",
        "--result",
        "true",
        expect_exit=2,
        capsys=capsys,
    )

    assert "must be a JSON object" in error["error"]
    assert Step.objects.get(pk=job["id"]).status == "running"  # nothing was written


def test_a_runtimes_lease_renewal_never_keeps_an_opscore_worker_alive(agent):
    """A runtime names its own lease owner; named after one of Opscore's workers, each renewal
    wrote that worker's liveness row, so a stuck worker looked alive and was never replaced."""
    silent_since = db_now() - timedelta(hours=1)
    Worker.objects.create(worker_id="ops-1:42:slot0", host="ops-1", pid=42)
    Worker.objects.update(last_seen_at=silent_since)
    enqueue()
    job = bus("claim-jobs", "--lease-owner", "ops-1:42:slot0", "--target-agent", "devops")
    held = job["jobs"][0]

    bus("renew-job-lease", str(held["id"]), "--lease-token", held["lease_token"])

    worker = Worker.objects.get()
    assert worker.last_seen_at == silent_since and worker.current_step_id is None
