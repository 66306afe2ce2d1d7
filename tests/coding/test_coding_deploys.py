"""Deploys do real work behind their approval: `deploy.prepare` plans which commit moves the
target's ref, a deploy approval is given for that plan, and the gated `deploy` moves the ref
only while the plan is still exactly what was approved."""

from pathlib import Path

import pytest

from coding.approvals import ApprovalRefused
from coding.deploys import DeployRefused, deploy, prepare_deploy
from coding.driver import handle_one_run
from coding.models import CodingRun
from coding.operations import approve_run
from missions.actions import submit_proposal
from missions.decisions import approve_proposal
from missions.execution import claim_next_step
from missions.models import Step
from missions.recovery import requeue_cleared_blockers
from missions.step_actions import cancel_mission, retry_step
from missions.worker import handle_one_step, work_through
from opscore.models import Event
from tests.coding.test_coding_approvals import COMMIT
from tests.coding_support import approved_to_merge
from tests.conftest import sh
from tests.factories import AgentFactory, ran_then_lost

pytestmark = pytest.mark.django_db(transaction=True)


def merged(repo):
    run = approved_to_merge(repo, "@greet", allow_deploy=True)
    assert handle_one_run()
    run.refresh_from_db()
    assert run.merged_sha
    return run


def deployed(repo, target="production") -> str:
    return sh(
        "git",
        "for-each-ref",
        "--format=%(objectname)",
        f"refs/heads/deploy/{target}",
        cwd=repo.path,
    ).strip()


def test_a_deploy_approval_is_given_for_a_prepared_plan_and_moves_the_ref(coding_repo):
    run = merged(coding_repo)
    with pytest.raises(ApprovalRefused, match="prepare the deploy first"):
        approve_run(run, "deploy", by="bo")

    plan = prepare_deploy(run, "production")
    with pytest.raises(DeployRefused, match="no standing deploy approval"):
        deploy(run)
    approve_run(run, "deploy", by="bo")
    sha = deploy(run)

    assert plan["from_sha"] == "" and plan["to_sha"] == run.merged_sha and plan["commits"]
    assert "app.py" in plan["diff_stat"]
    assert sha == run.merged_sha == deployed(coding_repo)
    assert Event.objects.filter(kind="coding.deployed").count() == 1
    assert Event.objects.filter(kind="coding.deploy.refused").count() == 1


def test_a_plans_diff_counts_lines_whatever_the_repositorys_gitattributes_say(coding_repo):
    Path(coding_repo.path, ".gitattributes").write_text("*.py -diff\n")
    sh("git", "add", ".gitattributes", cwd=coding_repo.path)
    sh(*COMMIT, "attributes", cwd=coding_repo.path)
    run = merged(coding_repo)

    plan = prepare_deploy(run, "production")

    assert "Bin" not in plan["diff_stat"], plan["diff_stat"]
    assert "app.py            | 1 +" in plan["diff_stat"], plan["diff_stat"]


def test_a_plan_changed_in_the_database_after_approval_is_refused_with_an_audit_row(coding_repo):
    run = merged(coding_repo)
    prepare_deploy(run, "production")
    approve_run(run, "deploy", by="bo")
    tampered = run.deploy_plan | {"target": "everything"}
    CodingRun.objects.filter(pk=run.pk).update(deploy_plan=tampered)
    run.refresh_from_db()

    with pytest.raises(DeployRefused, match="not the one approved"):
        deploy(run)

    assert deployed(coding_repo, "everything") == "" and deployed(coding_repo) == ""
    refused = Event.objects.get(kind="coding.deploy.refused")
    assert "not the one approved" in refused.summary


def test_a_target_that_moved_since_the_plan_was_approved_is_refused(coding_repo):
    run = merged(coding_repo)
    prepare_deploy(run, "production")
    approve_run(run, "deploy", by="bo")
    base = sh("git", "rev-parse", f"{run.merged_sha}~1", cwd=coding_repo.path).strip()
    sh("git", "update-ref", "refs/heads/deploy/production", base, cwd=coding_repo.path)

    with pytest.raises(DeployRefused, match="prepare and approve again"):
        deploy(run)

    assert deployed(coding_repo) == base


def test_the_steps_plan_then_wait_for_the_approval_then_deploy(coding_repo):
    run = merged(coding_repo)
    AgentFactory(slug="devops", max_concurrent_steps=5)
    payload = {"run_id": run.id, "target": "production"}
    data = {
        "agent": "devops",
        "title": f"Deploy R{run.id}",
        "steps": [
            {"kind": "deploy.prepare", "payload": payload},
            {"kind": "deploy", "payload": payload, "depends_on": [0]},
        ],
    }
    proposal = submit_proposal(data, source="human").proposal
    assert proposal.status == "pending"
    approve_proposal(proposal, actor="operator:ana")

    assert handle_one_step("w1") and handle_one_step("w1")
    prepare, gated = Step.objects.order_by("position")
    gated.refresh_from_db()
    assert prepare.status == "succeeded" and prepare.result["plan"]["to_sha"] == run.merged_sha
    assert gated.status == "blocked" and gated.blocked_code == "deploy_approval"
    assert deployed(coding_repo) == ""

    approve_run(CodingRun.objects.get(pk=run.pk), "deploy", by="bo")
    assert requeue_cleared_blockers() == 1
    assert handle_one_step("w1")

    gated.refresh_from_db()
    assert gated.status == "succeeded" and deployed(coding_repo) == run.merged_sha


def deploy_step_approved(repo, target: str, kind: str = "deploy") -> CodingRun:
    """A merged run whose plan for production has its deploy approval, and an approved
    mission of one `kind` step for `target`."""
    run = merged(repo)
    AgentFactory(slug="devops", max_concurrent_steps=5)
    prepare_deploy(run, "production")
    approve_run(run, "deploy", by="bo")
    data = {
        "agent": "devops",
        "title": f"{kind} R{run.id} to {target}",
        "steps": [{"kind": kind, "payload": {"run_id": run.id, "target": target}}],
    }
    approve_proposal(submit_proposal(data, source="human").proposal, actor="operator:ana")
    return run


def test_a_deploy_step_never_moves_a_target_other_than_the_one_it_names(coding_repo):
    """The proposal's approver was shown "deploy to staging": a standing approval of a plan for
    production must not make that step move production."""
    deploy_step_approved(coding_repo, "staging")

    assert handle_one_step("w1")

    step = Step.objects.get(kind="deploy")
    assert step.status in ("failed", "dead")
    assert "production" in step.last_error and "staging" in step.last_error
    assert deployed(coding_repo) == "" and deployed(coding_repo, "staging") == ""
    assert "staging" in Event.objects.get(kind="coding.deploy.refused").summary


def test_a_deploy_cancelled_while_its_worker_held_it_moves_no_ref(coding_repo):
    """The operator cancelled the mission while a worker held the deploy step: the step reads
    cancelled, so the target must not move under it."""
    deploy_step_approved(coding_repo, "production")
    claimed = claim_next_step("w1")
    cancel_mission(claimed.mission, actor="operator:ana")

    work_through(claimed, "w1", keep_going=lambda: False)

    assert deployed(coding_repo) == ""
    assert not Event.objects.filter(kind="coding.deployed").exists()
    assert Step.objects.get(pk=claimed.pk).status == "cancelled"
    assert Event.objects.filter(kind="step.late_write_refused", step=claimed).exists()


def test_a_retry_of_a_deploy_whose_worker_died_after_moving_the_ref_succeeds(coding_repo):
    """The ref moved, then the worker died before its answer was kept: the step waits for a
    person (a deploy is not idempotent), who retries it. The target is at the approved commit:
    the retry says deployed, not 'deploy/production is at …, not … as planned'."""
    deploy_step_approved(coding_repo, "production")
    claimed = ran_then_lost()  # the ref moved; the answer never recorded
    assert Step.objects.get(pk=claimed.pk).blocked_code == "needs_human"

    retry_step(claimed, actor="operator:ana")
    assert handle_one_step("w2")

    step = Step.objects.get(pk=claimed.pk)
    assert step.status == "succeeded" and step.result["deployed"] == deployed(coding_repo)
    assert not Event.objects.filter(kind="coding.deploy.refused").exists()
    assert Event.objects.filter(kind="coding.deployed").count() == 1


def test_a_prepare_cancelled_while_its_worker_held_it_leaves_the_approved_plan_alone(coding_repo):
    """The operator cancelled a deploy.prepare's mission while a worker held it: the step reads
    cancelled, so its plan must not replace the one a person approved (the approval would then
    approve nothing that stands, and the run's page would show a plan nobody asked for)."""
    run = deploy_step_approved(coding_repo, "staging", kind="deploy.prepare")
    claimed = claim_next_step("w1")
    cancel_mission(claimed.mission, actor="operator:ana")

    work_through(claimed, "w1", keep_going=lambda: False)

    run.refresh_from_db()
    assert run.deploy_plan["target"] == "production"
    assert Event.objects.filter(kind="coding.deploy.prepared").count() == 1
    assert Step.objects.get(pk=claimed.pk).status == "cancelled"
    assert deploy(run, "production") == run.merged_sha  # the approval still stands for it


@pytest.mark.parametrize(
    "payload", [{"run_id": "abc", "target": "production"}, {"run_id": 1, "target": "../prod"}]
)
def test_a_coding_deploy_with_a_bad_run_or_target_is_refused_at_the_intake(payload):
    """`deploy.prepare` checked its run id and target at the door, but `deploy` with a run id
    took anything: the proposal was filed (even approved) and failed only once a worker ran it."""
    from missions.schemas import ProposalInvalid

    AgentFactory(slug="devops")
    data = {"agent": "devops", "title": "Deploy", "steps": [{"kind": "deploy", "payload": payload}]}

    with pytest.raises(ProposalInvalid) as refused:
        submit_proposal(data, source="human")

    assert any("run_id" in path or "target" in path for path in refused.value.errors)
