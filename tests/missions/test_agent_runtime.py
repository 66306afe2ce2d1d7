"""Jobs have one owner runtime: Opscore's workers run an internal agent's jobs, an outside
runtime (the agent bus) runs an external agent's, and the coding lane's jobs only ever run here."""

import json

import pytest
from django.core.management import execute_from_command_line

from missions.execution import claim_next_step
from missions.models import Step
from missions.worker import handle_one_step
from opscore.models import Event, Policy, Runtime
from tests.console.test_agentbus import bus
from tests.factories import AgentFactory, make_step

pytestmark = pytest.mark.django_db


@pytest.fixture
def outside():
    return AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL, max_concurrent_steps=10)


def enqueue(agent: str, n: int) -> list[int]:
    args = ["enqueue-job", "--target-agent", agent, "--subject", "job", "--kind", "noop"]
    return [bus(*args)["proposal"]["step_ids"][0] for _ in range(n)]


def test_an_outside_runtime_gets_its_agents_jobs_while_opscores_workers_run(outside):
    AgentFactory(slug="devops", max_concurrent_steps=10)
    mine, theirs = enqueue("openclaw-ops", 6), enqueue("devops", 3)
    got = []
    for _ in range(6):  # Opscore's worker claims first every round, as a busy worker would
        handle_one_step("w1")
        claimed = bus("claim-jobs", "--lease-owner", "oc", "--target-agent", "openclaw-ops")
        got += [job["id"] for job in claimed["jobs"]]

    assert sorted(got) == mine
    assert set(Step.objects.filter(pk__in=theirs).values_list("status", flat=True)) == {"succeeded"}


def test_opscores_workers_still_run_an_external_agents_coding_job(outside):
    coding = make_step("dev.code_change", agent=outside)

    assert claim_next_step("opscore-worker").id == coding.id


def test_claim_jobs_names_the_agent_it_works_for(outside, capsys):
    enqueue("openclaw-ops", 1)

    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "agentbus", "claim-jobs", "--lease-owner", "oc"])

    assert exit_info.value.code == 2
    assert "--target-agent" in json.loads(capsys.readouterr().out)["error"]
    assert Step.objects.get().status == "queued"


def test_an_internal_agents_jobs_are_not_the_agent_bus_to_claim(capsys):
    AgentFactory(slug="devops")
    enqueue("devops", 1)

    refused = bus(
        "claim-jobs",
        "--lease-owner",
        "oc",
        "--target-agent",
        "devops",
        expect_exit=2,
        capsys=capsys,
    )

    assert "run by Opscore's workers" in refused["error"]
    assert Step.objects.get().status == "queued"


def test_complete_job_cannot_finish_a_coding_job(outside, capsys):
    coding = make_step("dev.code_change", agent=outside)
    held = claim_next_step("opscore-worker")

    refused = bus(
        "complete-job",
        str(coding.id),
        "--lease-token",
        str(held.lease_token),
        expect_exit=2,
        capsys=capsys,
    )

    assert "only Opscore's own workers run it" in refused["error"]
    coding.refresh_from_db()
    assert coding.status == "running" and coding.mission.status != "succeeded"


def test_an_outside_runtimes_failures_count_toward_its_agent_not_the_kind(outside, settings):
    settings.OPS_BREAKER_THRESHOLD = 3
    for job_id in enqueue("openclaw-ops", 3):
        job = bus("claim-jobs", "--lease-owner", "oc", "--target-agent", "openclaw-ops")["jobs"][0]
        assert job["id"] == job_id
        bus("fail-job", str(job_id), "--lease-token", job["lease_token"], "--last-error", "boom")

    assert Policy.objects.value("worker_switches").is_enabled("noop")
    assert not Event.objects.filter(kind="breaker.tripped").exists()
    alert = Event.objects.get(kind="agent.runtime_failing")
    assert alert.agent_id == "openclaw-ops" and "alert" in alert.tags


def test_the_roster_says_who_runs_an_agent_and_its_failures_today(outside, client, settings):
    settings.STAGE_PUBLIC = True
    step_id = enqueue("openclaw-ops", 1)[0]
    held = bus("claim-jobs", "--lease-owner", "oc", "--target-agent", "openclaw-ops")["jobs"][0]
    bus(
        "fail-job",
        str(step_id),
        "--lease-token",
        held["lease_token"],
        "--last-error",
        "x",
        "--no-retry",
    )

    card = client.get("/stage/agents").content.decode().split('data-agent="openclaw-ops"')[1]

    assert "an outside runtime" in card.split("</article>")[0]
    assert "1 failed" in card.split("</article>")[0]


def test_a_runtime_naming_itself_after_an_opscore_worker_neither_loses_its_job_nor_poses_as_it(
    outside,
):
    """A runtime picks its own lease owner. Named `host:4242`, an Opscore worker's shape, its job
    was released when the supervisor saw worker 4242 exit, and its events read `worker:host:4242`
    as if Opscore's worker had done its work."""
    from missions.recovery import release_steps_of_process

    (job_id,) = enqueue("openclaw-ops", 1)
    job = bus("claim-jobs", "--lease-owner", "host:4242", "--target-agent", "openclaw-ops")
    token = job["jobs"][0]["lease_token"]
    assert Step.objects.get(pk=job_id).lease_owner == "runtime:openclaw-ops:host:4242"

    release_steps_of_process("host", 4242, "exited")
    bus("complete-job", str(job_id), "--lease-token", token, "--result", '{"ok": true}')

    step = Step.objects.get(pk=job_id)
    assert step.status == "succeeded" and step.attempts.count() == 1
    actors = set(Event.objects.filter(step_id=job_id).values_list("actor", flat=True))
    assert "worker:host:4242" not in actors
