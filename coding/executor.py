"""The `dev.code_change` executor. The step owns the intent, the CodingRun the execution: the
step starts its run and then waits blocked (`coding_run`), holding no worker, while a coding
driver runs the loop. When the run comes to rest the step is woken and its agent reviews the
result, then the step ends the way the run did."""

from coding.jobs import run_for_step
from coding.models import CodingRun, RunStatus
from coding.review import apply_review, ask_reviewer, result_of
from missions.execution import LeaseLost, under_lease
from missions.executors import Blocked, Failed, Succeeded
from missions.models import StepStatus
from missions.recovery import unblock
from opscore.inputs import MalformedReply
from opscore.llm import LLMError, LLMReplyError, OverBudget

WAITING = "coding_run"


def needs_the_step(run: CodingRun) -> bool:
    """Has the run come to where its step has something to do?"""
    if run.status == RunStatus.WAITING_FOR_REVIEW:
        return not run.reviewed_at_head or run.signed_off
    return run.status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


def step_can_go_on(step) -> bool:
    run = CodingRun.objects.filter(step=step).first()
    return run is None or needs_the_step(run)


def execute_code_change(step_run):
    step = step_run.step
    try:
        run = run_for_step(step)
    except ValueError as refused:
        return Failed(str(refused), retryable=False, input_refused=True)
    if run.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        return Failed(f"coding run R{run.id} {run.status}: {run.reason}", retryable=False)
    if run.status == RunStatus.COMPLETED or (
        run.status == RunStatus.WAITING_FOR_REVIEW and run.signed_off
    ):
        return Succeeded(result=result_of(run))
    if run.status == RunStatus.WAITING_FOR_REVIEW:
        return review(run, step_run)
    return Blocked(f"waiting for coding run R{run.id} ({run.status})", code=WAITING)


def review(run: CodingRun, step_run):
    """The reviewer's word is acted on under the step's lease: one whose step was taken from
    it during the call (the mission cancelled) sent the run back for another paid pass and
    filed follow-ups and lessons in the step's name."""
    step = step_run.step
    try:
        reply = ask_reviewer(run, step)
        with under_lease(step.id, step_run.token):
            decision = apply_review(run, step, reply)
    except LeaseLost as lost:
        return Failed(str(lost), retryable=False)
    except (LLMReplyError, MalformedReply) as unusable:  # the reviewer's answer, not the lane
        return Failed(str(unusable), retryable=False, bad_reply=True)
    except (LLMError, OverBudget) as error:
        return Failed(f"the review call failed: {error}")
    except ValueError as malformed:
        return Failed(str(malformed))
    if decision == "complete":
        return Succeeded(result=result_of(run) | {"review": run.review.get("reason", "")})
    if decision == "block" or run.status == RunStatus.BLOCKED:  # or its revision was refused
        return Blocked(run.reason, code="needs_human")
    return Blocked(f"R{run.id}: revision requested; waiting for the loop", code=WAITING)


def wake_step_of(run: CodingRun) -> bool:
    """Requeue the run's step as soon as the run rests, rather than at the next sweep."""
    step = run.step
    if step is None or step.status != StepStatus.BLOCKED or step.blocked_code != WAITING:
        return False
    run.refresh_from_db()
    if not needs_the_step(run):
        return False
    unblock(step, f"coding run R{run.id} is {run.status}", actor="system:coding", tags=["coding"])
    return True
