"""The step kinds that put a coding run's deploy through the company loop: `deploy.prepare`
builds the plan; `deploy` with a `run_id` waits (blocked, holding no worker) for a deploy
approval of that plan, then applies it. A `deploy` without a `run_id` is the plain deploy
request it always was (missions.work_executors)."""

import dataclasses

from coding.deploys import TARGET, DeployRefused, deploy, prepare_deploy
from coding.models import ApprovalKind, CodingApproval, CodingRun
from missions.execution import LeaseLost, under_lease
from missions.executors import Blocked, Failed, Succeeded
from missions.work_executors import run_deploy
from opscore.registry import StepKind

WAITING = "deploy_approval"


def check_payload(payload: dict) -> dict[str, list[str]]:
    errors = {}
    run_id = payload.get("run_id")
    if not isinstance(run_id, int) or isinstance(run_id, bool):
        errors["run_id"] = ["the id (a number) of the coding run whose merged commit to deploy"]
    if not TARGET.match(str(payload.get("target", ""))):
        errors["target"] = ["a target: lowercase letters, digits and dashes (e.g. production)"]
    return errors


PREPARE = StepKind(
    "deploy.prepare",
    "Plan a coding run's deploy: the commits and the diff a deploy approval is given for",
    auto_approvable=False,
    check_payload=check_payload,
    claimable_outside=False,
)


def gated(plain: StepKind) -> StepKind:
    """The plain `deploy` kind, with its steps that name a coding run kept to Opscore's own
    workers: an outside runtime that claimed one could mark succeeded a deploy that never had
    its deploy approval and never moved the ref. Such a step's run id and target are checked
    at the intake, as `deploy.prepare`'s are: not first by the worker that runs it."""

    def checked(payload: dict) -> dict[str, list[str]]:
        if "run_id" in payload:
            return check_payload(payload)
        return plain.check_payload(payload) if plain.check_payload else {}

    return dataclasses.replace(plain, inside_when="run_id", check_payload=checked)


def run_of(step) -> CodingRun | None:
    run_id = step.payload.get("run_id")
    if not isinstance(run_id, int) or isinstance(run_id, bool):
        return None
    return CodingRun.objects.select_related("repository").filter(pk=run_id).first()


def execute_prepare(step_run):
    run = run_of(step_run.step)
    if run is None:
        return Failed(
            "deploy.prepare needs the run_id of a coding run", retryable=False, input_refused=True
        )
    try:  # a worker that lost the step replaces no plan: one a person approved may stand
        with under_lease(step_run.step.id, step_run.token):
            plan = prepare_deploy(run, step_run.step.payload.get("target", ""))
    except LeaseLost as lost:
        return Failed(str(lost), retryable=False)
    except DeployRefused as refused:
        return Failed(str(refused), retryable=False, input_refused=True)
    return Succeeded({"plan": plan})


def execute_deploy(step_run):
    if "run_id" not in step_run.step.payload:
        return run_deploy(step_run)
    run = run_of(step_run.step)
    if run is None:
        return Failed("no such coding run", retryable=False, input_refused=True)
    if not approval_waiting_over(step_run.step):
        return Blocked(f"waiting for a deploy approval of R{run.id}'s plan", code=WAITING)
    try:  # a worker that lost the step (its mission cancelled under it) moves nothing
        with under_lease(step_run.step.id, step_run.token):
            return deploy_for(run, step_run.step)
    except LeaseLost as lost:
        return Failed(str(lost), retryable=False)


def deploy_for(run: CodingRun, step):
    try:
        deployed = deploy(run, step.payload.get("target", ""))
        return Succeeded({"deployed": deployed, "plan": run.deploy_plan})
    except DeployRefused as refused:
        return Failed(str(refused), retryable=False, input_refused=True)


def approval_waiting_over(step) -> bool:
    """The blocker check: a deploy approval of the run's head stands (whether it still
    matches the plan is the deploy's own check, which refuses with a reason)."""
    run = run_of(step)
    return run is None or CodingApproval.objects.standing_for(run, ApprovalKind.DEPLOY).exists()
