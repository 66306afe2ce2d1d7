"""What an operator does to a run from the admin or the CLI — one function each, so both
surfaces do exactly the same thing."""

from coding.actions import cancel_run, retry_run, revise_run
from coding.approvals import approve
from coding.executor import wake_step_of
from coding.models import CodingRun


def cancel(run: CodingRun, reason: str, *, actor: str) -> CodingRun:
    run = cancel_run(run, reason, actor=actor)
    wake_step_of(run)  # its step fails now, not at the next sweep
    return run


def retry(run: CodingRun, *, actor: str) -> CodingRun:
    return retry_run(run, actor=actor)


def revise(run: CodingRun, notes: str, *, by: str) -> CodingRun:
    return revise_run(run, notes, by=by)


def approve_run(run: CodingRun, kind: str, *, by: str, note: str = "", **seen):
    """`seen`: the signed-in `user` and the `shown_digest` of the page they approved from.
    False with the approval that already stood for this commit (nothing was written)."""
    approval, given = approve(run, kind, by=by, note=note, **seen)
    run.refresh_from_db()
    wake_step_of(run)  # a code approval before the agent's review completes the step too
    return approval, given
