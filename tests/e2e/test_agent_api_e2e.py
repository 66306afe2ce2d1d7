"""End to end: an outside runtime works for its agent over the HTTP API — claim, mark running,
renew, complete — while a real Opscore worker process runs the internal agents' jobs beside it.
Neither takes the other's work, and the runtime cannot see or finish another agent's job."""

import pytest

from console.models import AgentToken
from missions.decisions import approve_proposal
from missions.models import Proposal, Step
from opscore.models import Runtime
from tests.console.test_agent_api import call, enqueue
from tests.factories import AgentFactory
from tests.processes import spawn_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker():
    process = spawn_worker("opscore-w1", seconds=60)
    yield process
    if process.poll() is None:
        process.kill()
    process.communicate()


def handed_over(client, secret, agent: str) -> int:
    """A job handed to another agent, approved by a person (it waits for one)."""
    made = call(client, secret, "enqueue-job", target_agent=agent, subject="job", kind="noop")
    approved = approve_proposal(Proposal.objects.get(pk=made["proposal"]["id"]), actor="op:ann")
    return approved.mission.steps.get().id


def succeeded(ids) -> bool:
    return set(Step.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"succeeded"}


def test_an_outside_runtime_claims_works_and_completes_its_own_jobs(client, worker):
    outside = AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL, max_concurrent_steps=10)
    AgentFactory(slug="devops", max_concurrent_steps=10)
    other = AgentFactory(slug="growth", runtime=Runtime.EXTERNAL)
    secret = AgentToken.issue(outside, "vps", actor="test")[1]
    other_secret = AgentToken.issue(other, "other", actor="test")[1]
    internal = [handed_over(client, secret, "devops") for _ in range(3)]
    mine = [enqueue(client, secret) for _ in range(6)]
    theirs = enqueue(client, other_secret, agent="growth")
    wait_for(lambda: succeeded(internal))  # Opscore's worker is running, and ran only its own

    jobs = call(client, secret, "claim-jobs", limit=10)["jobs"]
    assert sorted(job["id"] for job in jobs) == mine
    for job in jobs:
        lease = {"job_id": job["id"], "lease_token": job["lease_token"]}
        call(client, secret, "mark-running-job", openclaw_task_ref=f"task-{job['id']}", **lease)
        call(client, secret, "renew-job-lease", lease_seconds=300, **lease)
        done = call(client, secret, "complete-job", summary="done", result={"ok": True}, **lease)
        assert done["job"]["status"] == "succeeded"

    assert succeeded(mine) and Step.objects.get(pk=mine[0]).result == {
        "ok": True,
        "summary": "done",
    }
    held = call(client, other_secret, "claim-jobs")["jobs"][0]
    refused = call(
        client, secret, "complete-job", status=404, job_id=theirs, lease_token=held["lease_token"]
    )
    assert refused["error"] == f"no job {theirs}"
    assert Step.objects.get(pk=theirs).status == "running"
