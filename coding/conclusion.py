"""How a pass ends: its CodingIteration row written and its run moved on — round again,
failed (a cap, an escape, no progress) or to review with its commit — in one transaction, the
move in a savepoint of its own so that a move that fails still leaves the pass's row.
coding/loop.py runs the pass; this is what its outcome does to the run.
"""

from django.db import transaction

from coding.actions import transition
from coding.approvals import void_other_commits
from coding.checks import Change
from coding.hardened_git import GitFailed
from coding.models import CodingIteration, CodingRun, RunStatus
from coding.worktrees import listing, write_patch
from opscore.compiled import insert_row


def conclude(
    run, prompt, done, report, verdict, escape: str, change, stint=None, commit=None, ended=""
):
    """The pass's row written, and the run moved on, in one transaction (one commit). A proven
    change's branch moves to its review commit (`commit`, built from the index measured, so
    the row's change is the commit's) while the row is written; a commit git refuses still
    leaves the pass's row. A cancelled pass is recorded too, with no change measured. What the
    pass writes on the run's row rides on the move's UPDATE; alone only where nothing moved.
    `ended`: why the pass failed before its tests could start (an escape, what it left), which
    then never ran."""
    stop = ended or (stop_reason(run, done, escape, change) if verdict else "")
    commit = commit if verdict is not None and verdict.passed and not stop else None
    if commit is not None:
        commit.move()
    refused, going, written = None, False, False
    with transaction.atomic():
        recorded = run_fields(verdict, stint)
        try:
            record_pass(run, prompt, done, report, verdict, change, ended)
        finally:
            try:  # never left running
                sha = commit and commit.made()
            except GitFailed as error:
                refused = error
        if refused is None:
            going, written, refused = move_on(run, verdict, stop, change, sha, recorded)
        if not written:
            (row,) = CodingRun.objects.move_returning(run.pk, recorded)
            run.become(row)
        run.process_group = None
    if refused is not None:
        raise refused
    return going


def move_on(run: CodingRun, verdict, stop, change, sha, recorded: dict):
    """(go round again, `recorded` written with the move, the move's failure): the run moved
    on in a savepoint of the pass's transaction: a move that fails (a patch the disk refuses,
    a void commit) rolls back alone, so the pass's row still commits, and the failure is
    handed back to fail the run (handle_one_run says why)."""
    try:
        with transaction.atomic():
            moved = (verdict is not None or stop) and decide(
                run, verdict, stop, change, sha, recorded
            )
            return *(moved or (False, False)), None
    except Exception as error:  # re-raised by conclude once the pass's row is in
        return False, False, error


def run_fields(verdict, stint=None) -> dict:
    """What a pass writes on its run's row: the test and lint summaries, when its tests ran;
    its process group cleared (the pass's boxes are gone); the drive's time so far added
    (read back by the statement writing it)."""
    tested = {"test_summary": verdict.tests, "lint_summary": verdict.lint} if verdict else {}
    return {"process_group": None, **tested} | (stint.settle() if stint is not None else {})


def record_pass(run, prompt, done, report, verdict, change: Change, ended: str = ""):
    """One row per pass. In the caller's transaction; its INSERT compiled once. `ended`: why
    it failed before its tests (which then never ran)."""
    return insert_row(
        CodingIteration(
            run=run,
            number=run.iteration,
            prompt=prompt[:5000],
            output_summary=(report.summary or done.output)[-4000:],
            diff_hash=change.digest,
            changed_files=change.stats["changed"],
            tests_passed=verdict.passed if verdict else None,
            test_output=verdict.output if verdict else "",
            test_signature=verdict.signature if verdict and not verdict.passed else "",
            cost_usd=report.cost_usd,
            duration_ms=int(done.seconds * 1000),
            exit_status=done.exit_status,
            verdict=(report.harness_error if verdict else ended or f"cut short: {run.status}")[
                :200
            ],
        )
    )


def stop_reason(run: CodingRun, done, escape: str, change: Change) -> str:
    """Why the pass ends the run whatever its tests said; '' when nothing does."""
    changed = change.stats["changed"]
    return (
        escape
        or done.overflow
        or (done.timed_out and f"the harness ran past {done.seconds:.0f}s and was killed")
        or (changed > run.limits["max_changed_files"] and too_many(run, changed))
        or ""
    )


def decide(run: CodingRun, verdict, stop: str, change: Change, sha, recorded: dict):
    """(go round again, `recorded` written): the move, carrying the pass's run fields."""
    if stop:
        moved = transition(run, RunStatus.FAILED, stop, **recorded)
        return not moved, moved
    if verdict.passed:
        return not ready_for_review(run, change, sha, recorded), True
    stuck = no_progress(run)
    if stuck or run.mode != "ralph-loop":
        moved = transition(run, RunStatus.FAILED, stuck or verdict.output[-1500:], **recorded)
        return not moved, moved
    again = f"pass {run.iteration}: not proven yet; again"
    moved = transition(run, RunStatus.RUNNING, again, **recorded)
    return moved, moved


def too_many(run: CodingRun, changed: int) -> str:
    return f"changed-files cap: {changed} files changed, at most {run.limits['max_changed_files']}"


def no_progress(run: CodingRun) -> str:
    """The diff stopped changing, or the tests fail the same way, N passes in a row."""
    n = run.limits["no_progress_repeats"]
    last = list(run.iterations.order_by("-number")[:n])
    if len(last) < n:
        return ""
    if len({i.diff_hash for i in last}) == 1:
        return f"no progress: the diff was the same for the last {n} passes"
    if len({i.test_signature for i in last}) == 1 and last[0].test_signature:
        return f"no progress: the tests failed the same way in the last {n} passes"
    return ""


def ready_for_review(run: CodingRun, change: Change, sha: str, recorded=None) -> bool:
    """The proven change, committed on the run's branch (`sha`), goes to review; a new commit
    voids earlier approvals. The change was measured on the index the commit took whole: its
    stats and patch are the commit's against the base. `recorded`: the pass's run fields,
    written with the move (or with the patch's listing, if the run moved on first)."""
    recorded = recorded or {}
    stats = change.stats
    files = "1 file" if stats["changed"] == 1 else f"{stats['changed']} files"
    reason = f"tests passed at {sha[:10]}; {files} changed"
    patch = write_patch(run, f"review-{sha[:12]}", change.patch)
    with transaction.atomic(savepoint=False):  # the patch's ref, the voids and the move
        if run.head_sha:  # none before: no commit of the run was ever approvable
            void_other_commits(run, sha, f"superseded by commit {sha[:10]}")
        fields = {"head_sha": sha, "diff_stats": stats, "review": {}}
        fields |= {"artifact_refs": listing(patch), **recorded}
        moved = transition(run, RunStatus.WAITING_FOR_REVIEW, reason, **fields)
        if not moved:  # the patch is listed all the same
            CodingRun.objects.filter(pk=run.pk).update(artifact_refs=listing(patch), **recorded)
        return moved
