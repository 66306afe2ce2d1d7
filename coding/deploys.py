"""Deploys behind their approval. `deploy.prepare` builds the plan — which commit moves the
target's ref (`deploy/<target>` in the run's repository) from where to where, the commits and
the diff — and keeps it on the run; a deploy approval is given for that plan (its digest); the
gated `deploy` recomputes the plan from git and moves the ref only when it is still exactly the
plan approved. Every refusal is an event with its reason."""

import re

from django.db import transaction

from coding.hardened_git import GitFailed, git
from coding.models import ApprovalKind, CodingApproval, CodingRun
from coding.worktrees import holding_repository
from opscore.actions import record_event

TARGET = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's empty tree: a first deploy
ABSENT = "0" * 40  # update-ref's "must not exist yet"
COMMITS_SHOWN = 50


class DeployRefused(ValueError):
    """Why this deploy may not run now; nothing was moved."""


def deployed_sha(run: CodingRun, target: str) -> str:
    try:
        return git(
            ["rev-parse", "--verify", "--quiet", f"refs/heads/deploy/{target}"], run.repository.path
        ).strip()
    except GitFailed:
        return ""


def build_plan(run: CodingRun, target: str) -> dict:
    """What deploying this run to `target` would change, from git as it stands now."""
    if not TARGET.match(target or ""):
        raise DeployRefused(f"target {target!r}: lowercase letters, digits and dashes")
    if not run.merged_sha:
        raise DeployRefused(f"R{run.id} is not merged; only a merged commit is deployed")
    path, current = run.repository.path, deployed_sha(run, target)
    span = f"{current}..{run.merged_sha}" if current else run.merged_sha
    log = git(["log", f"-n{COMMITS_SHOWN}", "--format=%H %s", span, "--"], path)
    stat = ["diff", "--stat", "--no-ext-diff", "--no-textconv", current or EMPTY_TREE]
    diff = git([*stat, run.merged_sha, "--"], path, bare=True)  # a "-diff" file is no "Bin"
    return {
        "repository": run.repository.name,
        "target": target,
        "ref": f"refs/heads/deploy/{target}",
        "from_sha": current,
        "to_sha": run.merged_sha,
        "commits": log.splitlines(),
        "diff_stat": diff.strip(),
    }


def prepare_deploy(run: CodingRun, target: str) -> dict:
    """The plan a deploy approval will be given for; a new plan leaves older approvals
    unmatched (their digest covers the plan)."""
    plan = build_plan(run, target)
    with transaction.atomic():
        CodingRun.objects.filter(pk=run.pk).update(deploy_plan=plan)
        record_event(
            "coding.deploy.prepared",
            f"R{run.id}: deploy to {target} planned ({plan['from_sha'][:10] or 'first'} → "
            f"{plan['to_sha'][:10]})",
            tags=["coding", "deploy", "plan"],
            payload={"run_id": run.id, "plan": plan},
            step_id=run.step_id,
            actor="system:coding",
        )
    run.refresh_from_db()
    return plan


def deploy(run: CodingRun, target: str = "") -> str:
    """Move the target's ref exactly as the approved plan says; the new sha. `target`: the one
    the caller was approved for (a deploy step's payload), which the plan must name. A refusal
    is an event and raises DeployRefused."""
    try:
        with holding_repository(run.repository):
            return apply_plan(run, target)
    except DeployRefused as refused:
        record_event(
            "coding.deploy.refused",
            f"R{run.id}: deploy refused",
            summary=str(refused),
            tags=["coding", "deploy", "refused"],
            payload={"run_id": run.id, "reason": str(refused), "plan": run.deploy_plan},
            step_id=run.step_id,
            actor="system:coding",
        )
        raise


def approved_plan(run: CodingRun) -> dict:
    approval = CodingApproval.objects.standing_for(run, ApprovalKind.DEPLOY).first()
    if approval is None or not run.deploy_plan:
        raise DeployRefused(f"R{run.id} has no standing deploy approval of a prepared plan")
    if not approval.still_matches:
        raise DeployRefused("the plan is not the one approved (it changed after approval)")
    return run.deploy_plan


def apply_plan(run: CodingRun, target: str = "") -> str:
    plan = approved_plan(run)
    if target and plan["target"] != target:
        raise DeployRefused(
            f"the approved plan deploys to {plan['target']}, not {target} as asked; "
            f"prepare and approve a plan for {target}"
        )
    now = build_plan(run, plan["target"])
    if now["from_sha"] == plan["to_sha"] != plan["from_sha"]:
        return plan["to_sha"]  # moved by an earlier attempt whose answer was lost with its worker
    if now != plan:
        raise DeployRefused(
            f"deploy/{plan['target']} is at {now['from_sha'][:10] or 'nothing'}, not "
            f"{plan['from_sha'][:10] or 'nothing'} as planned; prepare and approve again"
        )
    old = plan["from_sha"] or ABSENT
    git(["update-ref", plan["ref"], plan["to_sha"], old], run.repository.path)
    record_event(
        "coding.deployed",
        f"R{run.id}: deployed {plan['to_sha'][:10]} to {plan['target']}",
        tags=["coding", "deploy"],
        payload={"run_id": run.id, "plan": plan},
        step_id=run.step_id,
        actor="system:coding",
    )
    return plan["to_sha"]
