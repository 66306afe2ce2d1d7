"""The ralph loop as a state machine: pass after pass of the harness with the same prompt, each
followed by the repository's tests, lint and acceptance commands, until the tests prove the
change (then it waits for review) or a hard cap, the no-progress detector, an escape from the
worktree or a cancel ends it. A single-shot run is the same machine with one pass.

Every move is a compare-and-set row and an event; every pass is a CodingIteration row, written
with its run's move (coding/conclusion.py).
"""

import os
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db.models import F

from coding.actions import note_on, transition
from coding.chain import Chained, drop, release
from coding.checks import (
    Before,
    Change,
    Staging,
    escape_found,
    measured,
    start_measure,
    start_status,
    verify,
)
from coding.conclusion import conclude
from coding.hardened_git import GitFailed, git_settled
from coding.models import CodingRun, RunStatus
from coding.runners import Pass, argv_for, read_output
from coding.sandbox import HarnessMissing, Limits, Unconfined, run_boxed
from coding.spare import keep, stand_by, start_spare, take_spare
from coding.stint import Stint
from coding.switches import held_reason, step_ended, switched_off
from coding.walks import WalkStopped
from coding.worktrees import ReviewCommit, WorktreeRefused, provision
from opscore.models import Policy


def limits_for(task: dict, policy=None) -> dict:
    """The caps a run starts under (a policy change later does not move a running run's):
    `policy`'s, the coding policy in force when not given."""
    policy = policy or Policy.objects.value("coding_policy")
    wanted = (task.get("constraints") or {}).get("max_changed_files") or policy.max_changed_files
    return {
        "max_iterations": policy.max_iterations,
        "max_wall_minutes": policy.max_wall_minutes,
        "max_cost_usd": policy.max_cost_usd,
        "max_changed_files": min(int(wanted), policy.max_changed_files),
        "no_progress_repeats": policy.no_progress_repeats,
        "harness_timeout_seconds": policy.harness_timeout_seconds,
        "harness_memory_mb": policy.harness_memory_mb,
        "max_turns": policy.max_turns,
        "first_iteration": 1,
    }


def drive(run: CodingRun, spare=None) -> CodingRun:
    """Run passes until the run leaves `running`. The caller holds the run's driving lock.
    The wall-time cap counts time spent driving, not time spent waiting for a reviewer.
    Each pass's box builder starts ahead of it (coding/spare.py): the one the driver keeps
    waiting, started while the pass before (or the run before) ran its harness — or the
    first pass's while the worktree is provisioned (`spare`, the dispatcher's, started
    before the pick)."""
    spare = spare or take_spare() or start_spare()
    try:
        if not prepare(run):
            return run
        drive_passes(run, spare)
    finally:
        keep(spare)  # a pass that never launched it leaves it waiting
    return run  # as its last move left it: the caller refreshes what it reads


def drive_passes(run: CodingRun, spare) -> None:
    stint = Stint()
    try:
        for n in range(run.limits["max_iterations"] + 1):  # the cap below ends it first
            if gone := step_ended(run):  # its mission cancelled: nobody waits for a pass
                transition(run, RunStatus.CANCELLED, gone, process_group=None)
                break
            stop = run.cap_reached(stint.elapsed())  # only its driver moves a running run
            if stop:  # before its pass's launch: no group of its
                transition(run, RunStatus.FAILED, stop, process_group=None)
                break
            held = switched_off(run) if n else ""  # the first pass's: the turn's look read it
            if held:  # between passes only: one under way always finishes
                transition(run, RunStatus.BLOCKED, held_reason(run, held), process_group=None)
                break
            spare = spare if n == 0 else take_spare() or start_spare()
            stint.settled = False
            if not one_pass(run, spare, stint):
                break
            keep(spare)
    finally:
        keep(spare)
        stint.close(run)


def prepare(run: CodingRun) -> bool:
    """The run's worktree, or the run failed saying why. A run that fails here launched
    nothing: the group its start recorded (the spare's, coding/driver.py) is cleared."""
    if run.runner not in run.repository.runners:
        why = f"runner {run.runner} may not touch this repo"
        return not transition(run, RunStatus.FAILED, why, process_group=None)
    try:
        provision(run)
    except (WorktreeRefused, GitFailed) as refused:
        transition(run, RunStatus.FAILED, str(refused), process_group=None)
        return False
    return True


def prompt_for(run: CodingRun) -> str:
    """The same prompt every pass (the plan is the job's); a reviewer's notes are appended."""
    task = run.task
    criteria = [
        c["text"] if isinstance(c, dict) else str(c) for c in task.get("acceptance_criteria") or []
    ]
    lines = [
        f"Task ({task.get('task_kind', 'change')}): {task.get('summary', '')}",
        f"Problem: {task.get('problem_statement', '')}",
        "Acceptance criteria:",
        *[f"- {c}" for c in criteria],
        f"Change at most {run.limits['max_changed_files']} files. Do not merge or deploy.",
        "The repository's tests decide when this is done.",
    ]
    if run.revision_notes:
        lines.append(f"Reviewer's notes for this revision: {run.revision_notes}")
    return "\n".join(lines)


def harness_env() -> dict:
    return {k: os.environ[k] for k in settings.OPS_CODING_PASS_ENV if k in os.environ}


def one_pass(run: CodingRun, spare=None, stint: Stint | None = None) -> bool:
    """One harness pass and its checks; True when the loop should go round again. The tests'
    box follows the harness's in the same launch (coding/chain.py), `spare`'s if given. The
    change, staged (and what it leaves out cleared) before the tests start, is measured and
    its review commit built while they run."""
    prompt, tests, measuring, commit = prompt_for(run), chained_tests(run), None, None
    try:
        try:
            ran = run_harness(run, prompt, tests, spare)
            if ran is None:
                return False
            done, report, escape, moved, uncleared = ran
            ended = (escape or done.overflow) if moved else ""  # fails whatever tests say
            testing = moved and not ended  # no byte, no command: nothing of it runs again
            if testing:  # staged and cleared (coding/checks.py's Staging)
                if uncleared is not None:
                    raise uncleared  # the tests never run on what it did not clear
                release(tests)  # looked: the tests' command may start, their box is built
            measuring = start_measure(run.worktree_path, run.base_sha) if testing else None
            commit = ReviewCommit(run.worktree_path, review_message(run)) if testing else None
            verdict = run_checks(run, tests) if testing else None
            change = measured(measuring) if verdict else NO_CHANGE
        finally:
            drop(tests)  # a pass that ends before its tests takes their box with it
            git_settled(measuring)  # never left running
            if commit is not None:
                commit.settle()
        return conclude(run, prompt, done, report, verdict, escape, change, stint, commit, ended)
    finally:
        if commit is not None:
            commit.close()  # its move's git, if nothing told it to move: never left waiting


def chained_tests(run: CodingRun) -> Chained | None:
    command = run.repository.test_command
    return Chained("tests", list(command), Limits.from_caps(run.limits)) if command else None


def run_harness(run: CodingRun, prompt: str, tests: Chained | None = None, spare=None):
    """(finished, report, escape, moved on to its tests, what its clearing refused) — or None
    when the harness is missing (the run blocks).
    The run's process group stays recorded while its tests' box is still to come."""
    caps, worktree = run.limits, Path(run.worktree_path)
    budget = float(Decimal(str(caps["max_cost_usd"])) - run.spent_usd)
    before = Before(worktree, run.repository.path, building=spare is not None)
    try:
        argv = argv_for(run.runner, Pass(prompt, caps["max_turns"], budget))
        egress = (
            settings.OPS_CODING_EGRESS if run.runner in settings.OPS_CODING_EGRESS_RUNNERS else []
        )
        done = run_boxed(
            argv,
            str(worktree),
            Limits.from_caps(caps),
            harness_env(),
            remember_group(run),
            egress=egress,
            then=[tests] if tests else (),
            spare=spare,
            ready=before.look,
            meanwhile=stand_by,  # the next pass's box builder starts while this one runs
        )
    except (HarnessMissing, Unconfined) as refused:  # nothing launched
        transition(run, RunStatus.BLOCKED, str(refused), process_group=None)
        return None
    except WalkStopped as stopped:  # what the last pass left, too much to hand over
        why = f"the driver's walk of its worktree stopped: {stopped}"
        transition(run, RunStatus.FAILED, why, process_group=None)
        return None
    finally:
        before.close()
    note_on(run, "harness", done.notes)
    report = read_output(run.runner, done.stream())
    escape, moved, uncleared = look_after(run, prompt, report, tests, worktree, before.state)
    return done, report, escape, moved, uncleared


def look_after(run: CodingRun, prompt, report, tests, worktree: Path, before: dict):
    """(escape, moved on to its tests, what the clearing refused): the pass counted, the escape
    look, and everything the harness left staged, then what that leaves out cleared — the
    look's git, the staging and the clearing run while the row is written (the harness's box
    is gone, nothing of it can change what they read). A worktree git refuses fails the pass
    once it is counted; a clearing refused fails it where it goes on to its tests."""
    status, staging = start_status(run.repository.path), Staging(run.worktree_path)
    try:
        try:
            moved = count_pass(run, prompt, report, tests)
        except BaseException:
            git_settled(status)  # waited for, never left running
            raise
        escape = escape_found(worktree, run.repository.path, before, status)
    finally:
        refused = staging.done()
    if refused is not None and moved:
        raise refused
    return escape, moved, staging.uncleared


def count_pass(run: CodingRun, prompt: str, report, tests) -> bool:
    """The pass counted and its cost kept, before anything else is looked at, and the run on
    to its tests in the same statement; whether it moved. A run someone else moved on (a
    cancel) has its pass counted all the same."""
    counted = harness_row(prompt, report, tests)
    reason = f"pass {run.iteration + 1} ran"  # only its driver counts a running run's passes
    if transition(run, RunStatus.WAITING_FOR_TESTS, reason, **counted):
        return True
    (row,) = CodingRun.objects.move_returning(run.pk, counted)
    run.become(row)
    return False


def harness_row(prompt: str, report, tests) -> dict:
    return {
        "process_group": F("process_group") if tests and tests.process else None,
        "iteration": F("iteration") + 1,
        "cost_usd": F("cost_usd") + report.cost_usd,
        "external_session_id": report.session_id or F("external_session_id"),
        "prompt_input": prompt,
        "result_summary": report.summary or F("result_summary"),
    }


def run_checks(run: CodingRun, tests: Chained | None = None):
    """The verdict, or None when the run was cancelled while its tests ran. The status is
    read, not written: the pass's row clears the process group with the rest."""
    limits, notes = Limits.from_caps(run.limits), []
    verdict = verify(
        run.repository, run.task, run.worktree_path, limits, remember_group(run), notes, tests
    )
    note_on(run, "checks", notes)
    status = CodingRun.objects.status_of(run.pk)
    if status != RunStatus.WAITING_FOR_TESTS:
        run.refresh_from_db()  # moved by someone else: as they left it
        return None
    return verdict


def remember_group(run: CodingRun):
    def remember(pid: int) -> None:
        if run.process_group == pid:  # the tests' box, in the launch the harness's row names
            return
        CodingRun.objects.filter(pk=run.pk).update(process_group=pid)
        run.process_group = pid

    return remember


NO_CHANGE = Change("", {"changed": 0}, "")


def review_message(run: CodingRun) -> str:
    return f"R{run.id}: {run.task.get('summary', 'change')[:60]}"
