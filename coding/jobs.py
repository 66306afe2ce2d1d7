"""The `dev.code_change` step kind: the business intent of a coding job, in seed 004's shape.
It enters through the single intake like any proposal and is never auto-approved; the intake
refuses a job naming a repository that is not registered, a base ref it does not allow, or a
runner that may not touch it, before anything is written."""

import shlex
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from coding.loop import limits_for
from coding.models import RUN_COUNTERS, CodingRun, Repository
from missions.schemas import field_errors
from opscore.models import Policy, PolicyVersion
from opscore.policies import SCHEMAS, parse_policy
from opscore.registry import StepKind

KIND = "dev.code_change"
POLICY = "coding_policy"


class Criterion(BaseModel):
    """A criterion with a command is checked by running it in the worktree; plain text is on
    the reviewer's checklist."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=500)
    command: list[str] = Field(default_factory=list, max_length=50)


class Constraints(BaseModel):
    model_config = ConfigDict(extra="forbid")
    allow_merge: bool = False
    allow_deploy: bool = False
    max_changed_files: int = Field(12, ge=1, le=1000)


class Handoff(BaseModel):
    model_config = ConfigDict(extra="forbid")
    runner: str = Field("claude-code", min_length=1, max_length=40)
    mode: Literal["single-shot", "ralph-loop"] = "ralph-loop"


class DevJob(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    repo: str = Field(min_length=1, max_length=80)
    worktree_ref: str = Field("", max_length=200)
    task_kind: str = Field("change", min_length=1, max_length=40)
    summary: str = Field(min_length=1, max_length=200)
    problem_statement: str = Field(min_length=1, max_length=5000)
    acceptance_criteria: list[str | Criterion] = Field(min_length=1, max_length=20)
    constraints: Constraints = Field(default_factory=Constraints)
    handoff: Handoff = Field(default_factory=Handoff)


def parse_job(payload: dict) -> tuple[DevJob | None, dict[str, list[str]]]:
    try:
        job = DevJob.model_validate(payload)
    except ValidationError as error:
        return None, field_errors(error)
    return job, trust_zone_errors(job)


def trust_zone_errors(job: DevJob) -> dict[str, list[str]]:
    repo = Repository.objects.filter(name=job.repo).first()
    if repo is None:
        known = ", ".join(Repository.objects.values_list("name", flat=True)) or "none yet"
        return {"repo": [f"no registered repository {job.repo!r} (registered: {known})"]}
    errors = {}
    if not job.worktree_ref:  # else the repository's first base when it runs, reordered since
        allowed = ", ".join(repo.allowed_base_refs) or "none"
        errors["worktree_ref"] = [
            f"name the base branch (allowed: {allowed}): the run starts from and merges "
            "into the one its approval shows"
        ]
    elif job.worktree_ref not in repo.allowed_base_refs:
        errors["worktree_ref"] = [f"{job.worktree_ref!r} is not an allowed base of {repo.name}"]
    if job.handoff.runner not in repo.runners:
        allowed = ", ".join(repo.runners) or "none"
        errors["handoff.runner"] = [f"{job.handoff.runner} may not touch {repo.name} ({allowed})"]
    return errors


def check_payload(payload: dict) -> dict[str, list[str]]:
    return parse_job(payload)[1]


def run_for_step(step) -> CodingRun:
    """The step's one run (a rerun of the step finds it instead of starting another)."""
    existing = CodingRun.objects.filter(step=step).first()
    if existing is not None:
        return existing
    job, errors = parse_job(step.payload)
    if errors:
        raise ValueError(f"the job no longer fits its repository: {errors}")
    repo = Repository.objects.get(name=job.repo)
    task = job.model_dump(exclude={"repo", "worktree_ref", "handoff"})
    limits = limits_for(task)
    if moved := caps_moved_since_approval(step, task, limits):
        raise ValueError(moved)
    return CodingRun.objects.create(
        repository=repo,
        step=step,
        agent_id=step.agent_id,
        runner=job.handoff.runner,
        mode=job.handoff.mode,
        base_ref=job.worktree_ref,
        task=task,
        limits=limits,
    )


def caps_moved_since_approval(step, task: dict, limits: dict) -> str:
    """Why the job may not start: the caps the coding policy gives it now are not the ones it
    gave when the job was approved (its mission keeps the version then in force), raised or
    lowered. Refused, not re-read: the job is proposed again, under the caps it will run
    with. '' when no cap of it moved."""
    then = step.mission.policy_versions.get(POLICY)
    if then == Policy.objects.versions_in_force([POLICY]).get(POLICY):
        return ""
    row = PolicyVersion.objects.filter(policy_id=POLICY, version=then).first()
    approved = limits_for(task, parse_policy(POLICY, row.new_value) if row else SCHEMAS[POLICY]())
    moved = [f"{k} {approved[k]} → {v}" for k, v in limits.items() if approved.get(k) != v]
    if not moved:
        return ""
    return (
        f"the coding policy changed since this job was approved, and with it its caps "
        f"({'; '.join(moved)}): it does not run under caps nobody approved it with; "
        "propose it again"
    )


def caps_preview(payload: dict) -> str:
    """What an approver of the job reads beside its payload (the Stage's card, the admin, the
    CLI, the API's previews), and its proposal's digest binds: the harness and the caps its
    run will start under, the coding policy's in force now, which its mission keeps — a job
    approved is refused at its start if they moved since (caps_moved_since_approval)."""
    try:
        job = DevJob.model_validate(payload)
    except ValidationError:
        return ""  # the intake refuses it by field
    task = job.model_dump(exclude={"repo", "worktree_ref", "handoff"})
    caps = {k: v for k, v in limits_for(task).items() if k not in RUN_COUNTERS}
    version = Policy.objects.versions_in_force([POLICY]).get(POLICY)
    policy = f"{POLICY} v{version}" if version else f"{POLICY} (defaults)"
    head = f"runs as {job.handoff.runner} ({job.handoff.mode}) under the caps of {policy}:"
    return "\n".join([head, *(f"  {k} {v}" for k, v in caps.items())])


def default_base(name: str) -> str:
    """The first allowed base of the repository `name` ('' for one not registered, which the
    intake refuses by name)."""
    repo = Repository.objects.filter(name=name).first()
    return (repo.allowed_base_refs or [""])[0] if repo else ""


def criterion(text: str) -> dict | str:
    """`"tests pass"` is checklist text; `"greets=python check.py"` also runs a command."""
    if "=" not in text:
        return text
    label, argv = text.split("=", 1)
    return {"text": label.strip() or argv, "command": shlex.split(argv)}


def job_proposal(opts: dict) -> dict:
    """`coding submit`'s job. Without --base, the repository's default base, written into the
    job the approver reads (the intake refuses a job naming none)."""
    criteria = [*opts["accept"], *(criterion(c) for c in opts.get("accept_command") or [])]
    payload = {
        "repo": opts["repo"],
        "worktree_ref": opts.get("base") or default_base(opts["repo"]),
        "task_kind": opts.get("task_kind") or "change",
        "summary": opts["summary"],
        "problem_statement": opts["problem"],
        "acceptance_criteria": criteria,
        "constraints": {
            "allow_merge": bool(opts.get("allow_merge")),
            "allow_deploy": False,
            "max_changed_files": opts.get("max_changed_files") or 12,
        },
        "handoff": {"runner": opts.get("runner") or "command", "mode": opts.get("mode")},
    }
    return {
        "agent": opts["agent"],
        "title": f"Code change: {opts['summary']}"[:200],
        "steps": [{"kind": KIND, "payload": payload, "agent": opts["agent"]}],
    }


STEP_KIND = StepKind(
    KIND,
    "A code change by a coding harness in its own git worktree (never auto-approved)",
    auto_approvable=False,
    check_payload=check_payload,
    claimable_outside=False,
)
