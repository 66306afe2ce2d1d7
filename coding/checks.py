"""What proves a pass: the repository's tests and lint and the acceptance criteria that carry
a command, each run boxed in the worktree; and whether the harness wrote anywhere but there.

A run's worktree sits alone in its own directory (`run-<id>/tree`), so a write through `..`
lands somewhere the next look finds it; a symlink out of the tree, or a change to the main
checkout, is caught the same way.
"""

import contextlib
import hashlib
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from coding.box import BOX_DIR, HOME_DIR
from coding.chain import resume
from coding.hardened_git import GitFailed, git, git_output, git_started, read_patch
from coding.links import leads_out
from coding.sandbox import HarnessMissing, Unconfined, run_boxed
from coding.walks import WalkStopped, entries, listed
from coding.watch import unsaid
from coding.worktrees import NOT_WORK

NOISE = re.compile(r"\d+(\.\d+)?s\b|0x[0-9a-f]+|/tmp/\S+")  # timings, addresses, temp paths


@dataclass(frozen=True)
class Verdict:
    passed: bool
    tests: str
    lint: str
    output: str
    signature: str  # equal for failures that look the same


def run_check(label, argv, worktree, limits, on_start=None, notes=None, chained=None):
    """(passed, what it said): one command in the box, like the harness — it runs the
    worktree's code too. `chained`: its box already in the harness's launch (coding/chain.py);
    boxed afresh when that launch is gone."""
    try:
        done = resume(chained, on_start) or run_boxed(
            argv, worktree, limits, on_start=on_start, name=label, fresh_home=True
        )
    except (HarnessMissing, Unconfined, WalkStopped) as refused:
        return False, f"{label}: {refused}"
    if notes is not None:
        notes.extend(f"{label}: {note}" for note in done.notes)
    if done.overflow:
        return False, f"{label}: {done.overflow}"
    if done.timed_out:
        return False, f"{label}: timed out after {limits.seconds:.0f}s\n{done.output[-2000:]}"
    state = "passed" if done.exit_status == 0 else f"failed ({done.exit_status})"
    return done.exit_status == 0, f"{label} {state}\n{done.output[-3000:]}"


def acceptance_commands(task: dict) -> list[tuple[str, list[str]]]:
    found = []
    for item in task.get("acceptance_criteria") or []:
        if isinstance(item, dict) and item.get("command"):
            found.append((f"acceptance: {item.get('text', '')[:80]}", list(item["command"])))
    return found


def verify(repo, task: dict, worktree: str, limits, on_start=None, notes=None, chained=None):
    """Tests, lint, then acceptance commands. No test command is no proof: never a pass.
    `on_start` hears each command's process group (a cancel kills the tests too); `notes`
    collects what the box refused or killed; `chained`: the tests' box in the harness's
    launch, if it has one."""
    if not repo.test_command:
        why = "no test command is configured: nothing proves the change"
        return Verdict(False, why, "", why, signature("no-tests"))
    tests_ok, tests = run_check(
        "tests", repo.test_command, worktree, limits, on_start, notes, chained
    )
    lint_ok, lint = (True, "no lint command") if not repo.lint_command else (False, "")
    if repo.lint_command:
        lint_ok, lint = check_after(("lint", repo.lint_command), worktree, limits, on_start, notes)
    outputs, passed = [tests, lint], tests_ok and lint_ok
    for label, argv in acceptance_commands(task) if passed else []:
        ok, said = check_after((label, argv), worktree, limits, on_start, notes)
        outputs.append(said)
        passed = passed and ok
    text = "\n".join(outputs)
    return Verdict(passed, tests[:2000], lint[:2000], text[-6000:], signature(text))


def check_after(check: tuple[str, list], worktree: str, limits, on_start, notes):
    """run_check for a check that follows another, on the change alone again: the checks before
    it ran the worktree's code (the harness's), and what they wrote is no part of the change,
    so a lint or an acceptance command reading it would judge files the commit does not hold
    (an app that greets only once its tests have run it). A worktree git cannot put back fails
    the check, saying so: it never runs on what was not put back."""
    label, argv = check
    try:
        back_to_the_change(worktree)
    except (GitFailed, OSError) as refused:
        return False, f"{label}: the worktree could not be put back to the change: {refused}"
    return run_check(label, argv, worktree, limits, on_start, notes)


def signature(output: str) -> str:
    return hashlib.sha256(NOISE.sub("", output).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Change:
    """A pass's change against the run's base: its hash, its stats and its patch."""

    digest: str
    stats: dict
    patch: str


DIFF_STATS = ["diff", "--no-ext-diff", "--no-textconv", "--numstat", "--binary", "-p"]


def diff_stats(text: str) -> tuple[dict, str]:
    """A DIFF_STATS output as (files, insertions and deletions; the patch)."""
    # The patch starts at a line starting "diff --git ", never inside a row: a row starts with
    # its counts, and a name with a newline in it is quoted. (A name may well hold
    # "diff --git " itself, to cut the rows short and hide files from the changed-files cap.)
    cut = ("\n" + text).find("\ndiff --git ")
    rows, patch = (text, "") if cut < 0 else (text[:cut], text[cut:])
    files, added, removed = [], 0, 0
    for row in filter(None, rows.splitlines()):
        plus, minus, name = row.split("\t", 2)
        files.append(unsaid(name))  # a name is the harness's text: its key, if it wrote it
        added += int(plus) if plus.isdigit() else 0
        removed += int(minus) if minus.isdigit() else 0
    stats = {"files": files[:200], "changed": len(files), "insertions": added}
    return stats | {"deletions": removed}, patch


STAGE = ["add", "--all", "--", ".", *NOT_WORK]


class Staging:
    """Everything the harness left, staged (`git add`) as soon as its box is gone, while the
    driver writes the pass's row and looks for an escape, then what that leaves out cleared
    (UNSTAGED) as soon as the add is done, by a thread that waits for it: both before the
    tests' command starts. The index is the driver's (the box mounts the git directory
    read-only), so from then on the change measured and committed is the tree the tests ran
    on, whatever they write. The harness cannot move HEAD either, so within a run the diff's
    hash changes exactly when the harness's work does — what the no-progress detector
    compares. The clearing runs whether or not the pass goes on to its tests: what it removes
    is never staged, so neither a pass's patch nor an ended run's saved state holds it."""

    def __init__(self, worktree: str):
        self.refused: Exception | None = None  # the add's: the pass fails
        self.uncleared: Exception | None = None  # the clearing's: its tests may not start
        self.worktree, self.clearing = worktree, None
        try:
            self.started = git_started(STAGE, worktree)
        except (GitFailed, OSError) as refused:  # a tampered `.git`, a tree a cancel took
            self.started, self.refused = None, refused
            return
        self.clearing = threading.Thread(target=self.stage_then_clear, daemon=True)
        self.clearing.start()

    def stage_then_clear(self) -> None:
        started, self.started = self.started, None
        try:
            git_output(started)
        except GitFailed as refused:
            self.refused = refused
            return
        try:
            leave_only_the_change(self.worktree)
        except (GitFailed, OSError) as refused:
            self.uncleared = refused

    def done(self) -> Exception | None:
        """Waited for (it is never left running); what the add's git refused, if it did. What
        the clearing's refused (`uncleared`) matters only to a pass going on to its tests."""
        if self.clearing is not None:
            self.clearing.join()
        return self.refused


# Untracked files, ignored or not (-x); a repository nested in an ignored folder too (-ff).
UNSTAGED = ["clean", "-ffdxq", "--", "."]


def leave_only_the_change(worktree: str) -> None:
    """What the harness left that its change leaves out — files the repository's .gitignore
    names, bytecode and caches (NOT_WORK): never staged, so never in the diff a reviewer reads
    nor in the review commit — removed once it is all staged, before the tests start, so that
    they run on the change under review, as a merge's tests (a fresh checkout) will. Left in
    place, bytecode for a module its change never touched runs in that module's place, and an
    ignored file is read like any other. A git refusing it fails the run: the tests never run
    on what it did not clear."""
    git(UNSTAGED, worktree)


# Every staged file written afresh from the index, whatever the worktree holds in its place (a
# link, a folder, a file changed or gone): git's checkout writes no path through a link. No
# `--index`: the index, the change itself, is read, never written.
RESTAGED = ["checkout-index", "--all", "--force"]


def back_to_the_change(worktree: str) -> None:
    """The worktree as the staged change holds it, and nothing else: what is not staged goes
    (UNSTAGED), then every staged file is written again from the index."""
    leave_only_the_change(worktree)
    git(RESTAGED, worktree)


def start_measure(worktree: str, base: str):
    """The staged change against the base, from one diff of the index, started: it runs while
    the tests do (they cannot touch the index). measured() reads it; None where the worktree
    is gone (a cancel took it). Measured bare: every change counted as text, whatever the
    repository's or the harness's .gitattributes say (real binaries still count as "-")."""
    with contextlib.suppress(OSError):
        return git_started([*DIFF_STATS, "--cached", base, "--"], worktree, bare=True)
    return None


def measured(started) -> Change:
    if started is None:
        raise GitFailed("the worktree was gone before its change could be measured")
    text = read_patch(started)  # PatchTooBig, the run's failure, past PATCH_BYTES
    stats, patch = diff_stats(text)
    return Change(hashlib.sha256(text.encode()).hexdigest()[:16], stats, patch)


STATUS = ["status", "--porcelain", "--untracked-files=all"]


def outside_state(worktree: Path, repo_path: str, status=None) -> dict:
    """What sits beside the worktree (it should be alone) and the main checkout's status
    (`status`: that git, started already by start_status())."""
    jail = worktree.parent
    text = git_output(status) if status else None  # waited for whatever follows
    if not worktree.exists():  # cleaned up by a cancel: nothing left to judge
        return {}
    mine = {worktree.name, BOX_DIR, HOME_DIR}  # the box's own files and HOME
    try:
        beside = [name for name in listed(jail) if name not in mine]
        siblings = [name for name in listed(jail.parent) if not name.startswith("run-")]
    except WalkStopped as stopped:  # no box writes there: only an unconfined run could
        return {"stopped": str(stopped)}
    text = git(STATUS, repo_path) if text is None else text
    return {"beside": beside, "siblings": siblings, "main_checkout": text}


class Before:
    """The escape look's "before": the main checkout's git status, read with what sits beside
    the worktree just before the harness's command starts. `building`: a spare builds the
    box once it has its spec, and the go waits for that anyway, so the status starts in the
    look itself, while the box is built (the harness's go no longer waits for the one and
    then the other); otherwise it starts at once and runs while the spec is made and the
    launch recorded. close(): a status the look never read (the box never got that far),
    waited for."""

    def __init__(self, worktree: Path, repo_path: str, building: bool = False):
        self.worktree, self.repo_path, self.state = worktree, repo_path, {}
        self.status = None if building else start_status(repo_path)

    def look(self) -> None:
        status, self.status = self.status or start_status(self.repo_path), None
        self.state = outside_state(self.worktree, self.repo_path, status)

    def close(self) -> None:
        status, self.status = self.status, None
        if status is not None:
            with contextlib.suppress(GitFailed):
                git_output(status)


def start_status(repo_path: str):
    """The main checkout's status, started: the driver writes the pass's row meanwhile (the
    harness's box is gone, nothing of it can change what git reads)."""
    return git_started(STATUS, repo_path)


def escape_found(worktree: Path, repo_path: str, before: dict, status=None) -> str:
    """'' when the pass stayed inside its worktree; otherwise what it touched outside."""
    after = outside_state(worktree, repo_path, status)
    if "stopped" in after:
        return f"the driver's look around its worktree stopped: {after['stopped']}"
    if not after or not before or "stopped" in before:
        return ""
    for key, label in [
        ("beside", "beside its worktree"),
        ("siblings", "in the worktrees directory"),
        ("main_checkout", "in the main checkout"),
    ]:
        if after[key] != before[key]:
            return f"the harness wrote outside its worktree ({label}): {str(after[key])[:300]}"
    return left_in_worktree(worktree)


def left_in_worktree(worktree: Path) -> str:
    """A link the harness left pointing out of its worktree (here or in any checkout of it,
    coding/links.py), or a repository it nested in it, or why the look stopped (a bounded
    walk, coding/walks.py); '' when there is none. A nested
    repository is staged as a gitlink: the diff a reviewer reads shows its commit's id, never
    its files, yet the tests would run on them (a package in it shadows a module the change
    never touched), and a merge's checkout holds an empty folder in its place."""
    pointer = os.path.join(worktree, ".git")
    try:
        for entry in entries([worktree], skip=frozenset([".git"])):
            path = Path(entry.path)
            if entry.name == ".git" and entry.path != pointer:
                where = path.parent.relative_to(worktree)
                return f"the harness left a repository nested in its worktree: {where}"
            if entry.is_symlink() and leads_out(str(worktree), entry.path):
                where = path.relative_to(worktree)
                return f"the harness left a symlink pointing outside its worktree: {where}"
    except WalkStopped as stopped:
        return f"the driver's look for links out of its worktree stopped: {stopped}"
    return ""
