"""A coding run's gated `deploy` (its payload names the run) is Opscore's own to run, whoever its
agent is: an outside runtime holding the agent's token never claims it, so it can never mark
succeeded a deploy that had no deploy approval and moved no ref. A plain `deploy` stays a job
an outside runtime may claim."""

import pytest

from coding.deploys import prepare_deploy
from coding.models import CodingRun
from coding.operations import approve_run
from console.models import AgentToken
from missions.actions import submit_proposal
from missions.decisions import approve_proposal
from missions.models import Step
from missions.recovery import requeue_cleared_blockers
from missions.worker import handle_one_step
from opscore.models import Runtime
from tests.coding.test_coding_deploys import deployed, merged
from tests.console.test_agent_api import call
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def approved_deploy(agent: str, payload: dict) -> Step:
    data = {"agent": agent, "title": "deploy", "steps": [{"kind": "deploy", "payload": payload}]}
    approve_proposal(submit_proposal(data, source="human").proposal, actor="operator:ana")
    return Step.objects.get(kind="deploy")


def test_an_outside_runtime_never_claims_a_coding_runs_deploy_which_opscore_runs(
    client, coding_repo
):
    run = merged(coding_repo)
    outside = AgentFactory(slug="devops", runtime=Runtime.EXTERNAL, max_concurrent_steps=5)
    secret = AgentToken.issue(outside, "vps", actor="test")[1]
    prepare_deploy(run, "production")
    step = approved_deploy("devops", {"run_id": run.id, "target": "production"})

    assert call(client, secret, "claim-jobs")["jobs"] == []
    assert handle_one_step("w1")  # Opscore's worker: it waits for the deploy approval
    step.refresh_from_db()
    assert step.status == "blocked" and deployed(coding_repo) == ""
    refused = call(client, secret, "complete-job", status=403, job_id=step.id, lease_token="x")
    assert "deploy" in refused["error"]

    approve_run(CodingRun.objects.get(pk=run.pk), "deploy", by="bo")
    assert requeue_cleared_blockers() == 1
    assert call(client, secret, "claim-jobs")["jobs"] == []
    assert handle_one_step("w1")
    step.refresh_from_db()
    assert step.status == "succeeded" and deployed(coding_repo) == run.merged_sha


def test_a_plain_deploy_is_still_an_outside_runtimes_to_claim(client, db):
    outside = AgentFactory(slug="devops", runtime=Runtime.EXTERNAL, max_concurrent_steps=5)
    secret = AgentToken.issue(outside, "vps", actor="test")[1]
    step = approved_deploy("devops", {"target": "production"})

    jobs = call(client, secret, "claim-jobs")["jobs"]

    assert [job["id"] for job in jobs] == [step.id]
    done = call(client, secret, "complete-job", job_id=step.id, lease_token=jobs[0]["lease_token"])
    assert done["ok"] and Step.objects.get(pk=step.pk).status == "succeeded"


def test_a_coding_runs_deploy_a_runtime_asks_for_is_run_in_opscores_lane_on_its_word(client, db):
    """Asked for through the bus, it is run by Opscore's workers on the runtime's word: marked
    so, as a post or a code change asked for that way is."""
    outside = AgentFactory(slug="devops", runtime=Runtime.EXTERNAL, max_concurrent_steps=5)
    secret = AgentToken.issue(outside, "vps", actor="test")[1]
    payload = '{"run_id": 1, "target": "production"}'
    asked = {"target_agent": "devops", "subject": "d", "kind": "deploy", "payload": payload}

    made = call(client, secret, "enqueue-job", **asked)["proposal"]

    assert made["status"] == "pending"
    assert "deploy runs in Opscore's own lane" in made["untrusted_reason"]
