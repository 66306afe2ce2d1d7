"""Code, merge, deploy and production-config: four approvals, each a human's, each bound to the
commit it was given for. A newer commit voids them all (the rows stay, saying why), and the
merge only happens after a merge approval, with tests green on the merged head.
"""

import contextlib
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.db.models.functions import Now

from coding.actions import put_away, transition
from coding.checks import verify
from coding.diffs import binary_files, change_diff, shown_diff
from coding.hardened_git import GitFailed, git
from coding.models import ApprovalKind, CodingApproval, CodingRun, RunStatus
from coding.run_objects import publish
from coding.sandbox import Limits
from coding.switches import step_ended
from coding.walks import remove
from coding.watch import unsaid
from coding.worktrees import AUTHOR, head_of, holding_repository
from opscore import four_eyes
from opscore.actions import record_event
from opscore.four_eyes import why_not_decide
from opscore.text import ReasonRefused, checked_notes

K = ApprovalKind
NEEDS = {K.CODE: None, K.MERGE: K.CODE, K.DEPLOY: K.CODE, K.PROD_CONFIG: K.CODE}
REVIEWABLE = [RunStatus.WAITING_FOR_REVIEW, RunStatus.COMPLETED]


class ApprovalRefused(ValueError):
    """Why this approval cannot be given now; nothing was written."""


def void_other_commits(run: CodingRun, sha: str, reason: str) -> int:
    return void(CodingApproval.objects.standing().filter(run=run).exclude(sha=sha), reason)


def void(approvals, reason: str, cap: int = 500) -> int:
    """The approvals voided, saying why: masked before it is cut (a reason can quote what a
    harness wrote — a file's name in git's words — and a key cut in two is no key to the
    mask), as a run's reason is."""
    return approvals.update(voided_at=Now(), void_reason=unsaid(reason)[:cap])


def approve(
    run: CodingRun, kind: str, *, by: str, note: str = "", user=None, shown_digest=None
) -> tuple[CodingApproval, bool]:
    """Record a human's approval of exactly what they were shown (`shown_digest`: the commit,
    the test pass and the task), as the branch stands right now, if they may (`user`, when a
    person signed in). A refused attempt is an event too. False with the standing approval
    when this commit already had one of this kind for the same content: one approval per kind,
    commit and digest, so a second changes nothing and writes nothing, and the caller must not
    say it approved; one given for what the run no longer is is replaced (given_approval)."""
    try:
        return readable_approval(run, kind, by=by, note=note, user=user, shown_digest=shown_digest)
    except ApprovalRefused as refused:
        record_event(
            "coding.approval_refused",
            f"R{run.id}: {kind} approval by {by} refused",
            summary=str(refused),
            tags=["coding", "approval", "refused", str(kind)[:40]],
            payload={"run_id": run.id, "kind": kind, "reason": str(refused), "sha": run.head_sha},
            step_id=run.step_id,
            actor=f"human:{by}",
        )
        raise


def readable_approval(run, kind, **given) -> tuple[CodingApproval, bool]:
    """An approval the repository cannot answer for (the branch deleted by hand, a commit
    gone) is refused like any other, with git's reason (masked, as a run's reason is)."""
    try:
        return record_approval(run, kind, **given)
    except GitFailed as unreadable:
        why = unsaid(str(unreadable))[:1000]
        raise ApprovalRefused(f"git could not read R{run.id}'s branch or commit: {why}") from None


def record_approval(run, kind, *, by, note, user, shown_digest) -> tuple[CodingApproval, bool]:
    if kind not in K.values:
        raise ApprovalRefused(f"unknown approval kind {kind!r}; one of {', '.join(K.values)}")
    note = kept_note(note)
    check_head(run)
    refusal = why_not(run, kind) or why_not_them(run, kind, user, shown_digest)
    refusal = refusal or why_withheld(run)
    if refusal:
        raise ApprovalRefused(refusal)
    approval, given = given_approval(run, kind, by=by, note=note)
    after_code_approval(run, kind)  # compare-and-set: a completed run stays as it is
    return approval, given


def given_approval(run: CodingRun, kind: str, *, by: str, note: str) -> tuple[CodingApproval, bool]:
    """The approval of this commit as the run is now: the one standing when it was given for
    the same digest (nothing written), else a new one, replacing (voiding, its row kept) one
    given for what the run no longer is, so a changed run can be approved again."""
    digest = run.approval_digest(kind)
    with transaction.atomic():
        standing = CodingApproval.objects.standing_for(run, kind).select_for_update()
        stale = standing.exclude(content_digest="").exclude(content_digest=digest).first()
        if stale:
            why = f"replaced by {by}'s: the run changed since (task, harness, caps or checks)"
            void(CodingApproval.objects.filter(pk=stale.pk), why)
        approval, given = CodingApproval.objects.get_or_create(
            run=run,
            kind=kind,
            sha=run.head_sha,
            voided_at=None,
            defaults={
                "approved_by": by[:150],
                "note": note,
                "content_digest": digest,
                "test_run": run.last_test_run(),
            },
        )
        if given:  # a second approval of the same content changes nothing, so says nothing
            record_event(
                f"coding.approved.{kind}",
                f"R{run.id}: {kind} approved at {run.head_sha[:10]} by {by}",
                tags=["coding", "approval", kind],
                payload={"run_id": run.id, "sha": run.head_sha, "kind": kind, "note": note}
                | {"digest": digest, "test_run": approval.test_run_id}
                | {"replaces": stale.id if stale else None},
                step_id=run.step_id,
                actor=f"human:{by}",
            )
    return approval, given


def kept_note(note: str) -> str:
    """An approver's note (optional), kept whole on the approval and its event, or refused
    before anything is written (opscore.text.checked_notes): never cut."""
    try:
        return checked_notes(note, field="note")
    except ReasonRefused as refused:
        raise ApprovalRefused(str(refused)) from None


def already_approved(approval: CodingApproval) -> str:
    """What a second approval of the same commit answers: who gave the one that stands."""
    return (
        f"R{approval.run_id}: {approval.kind} was already approved at {approval.sha[:10]} by "
        f"{approval.approved_by}; nothing changed"
    )


def why_not_them(run: CodingRun, kind: str, user, shown_digest) -> str:
    """Four eyes (the permission for this kind, and not the run's author), and the content
    the approver saw still being the content."""
    if user is not None:
        why = why_not_decide(user, four_eyes.DECISIONS[kind], author=run.author)
        if why:
            return why
    if shown_digest is not None and shown_digest != run.approval_digest(kind):
        return f"R{run.id} changed after it was shown to you; reload and review it again"
    return ""


def why_withheld(run: CodingRun) -> str:
    """The diff an approver reads masks each secret the change quotes ([redacted]), and an
    approval binds the commit, which still holds it: approving would approve what nobody was
    shown. So such a change is not approvable; a revision takes the secret out."""
    diff = change_diff(run.repository.path, run.base_sha, run.head_sha)
    if unsaid(diff) == diff:
        return ""
    return (
        f"R{run.id}'s change quotes a secret, shown to you as [redacted]: an approval would "
        "approve what you were not shown; send it back for a revision that takes it out "
        f"(`coding revise {run.id} --notes …`, or the admin's Revise action)"
    )


def shown_binaries(run: CodingRun) -> list[dict]:
    """The change's binary files, each with its size and blob id, as the diff lists them
    after its last line: git prints none of their bytes, and an approval approves them all."""
    found = binary_files(run.repository.path, run.base_sha, run.head_sha)
    return [binary | {"path": unsaid(binary["path"])} for binary in found]


def shown_for_approval(run: CodingRun) -> dict:
    """What a terminal's approver reads before `coding approve … --digest`, as the admin's run
    page shows it: the task, the harness and caps it runs under, the commit's whole diff (each
    secret masked), the last pass's tests, and per kind the digest binding an approval to
    exactly that, or why it can't be given now."""
    if not (run.base_sha and run.head_sha):
        raise ApprovalRefused(f"R{run.id} has no commit to approve yet ({run.status})")
    tests, withheld = run.last_test_run(), why_withheld(run)
    return {
        "base_sha": run.base_sha,
        "task": run.task,
        "harness": {"runner": run.runner, "mode": run.mode},
        "caps": run.caps,
        "checks": {"tests": run.repository.test_command, "lint": run.repository.lint_command},
        "deploy_plan": run.deploy_plan or None,
        "diff": shown_diff(run.repository.path, run.base_sha, run.head_sha),
        "binary_files": shown_binaries(run),
        "test_run": tests.id if tests else None,
        "tests": tests.test_output if tests else "",
        "digests": {kind: run.approval_digest(kind) for kind in K.values},
        "why_not": {kind: why_not(run, kind) or withheld for kind in K.values},
    }


def check_head(run: CodingRun) -> None:
    """A commit someone pushed to the branch since review voids what was approved, and is
    itself approvable only once a pass has tested it: the run keeps the commit its last pass
    tested (the one an approval would be paired with, and the one a merge merges)."""
    if not run.branch or not run.head_sha:
        raise ApprovalRefused(f"R{run.id} has no commit to approve yet ({run.status})")
    now = head_of(run.repository, run.branch)
    if now != run.head_sha:
        void_other_commits(run, now, f"the branch moved to {now[:10]} after review")
        raise ApprovalRefused(
            f"the branch moved to {now[:10]} since {run.head_sha[:10]} was tested and "
            "reviewed; earlier approvals are void, and no pass has tested it, so it cannot be "
            f"approved until one does: send the run back for a revision pass (`coding revise "
            f"{run.id} --notes …`, or the admin's Revise action on R{run.id})"
        )


def why_not(run: CodingRun, kind: str) -> str:
    if run.status not in REVIEWABLE:
        return f"R{run.id} is {run.status}; approvals are for runs waiting for review"
    if gone := step_ended(run):
        return f"R{run.id} is no longer wanted: {gone}; nothing of it can be approved"
    if missing := why_not_standing_on(run, kind):
        return missing
    allowed = {K.MERGE: "allow_merge", K.DEPLOY: "allow_deploy"}.get(kind)
    if allowed and not run.constraints.get(allowed):
        return f"this job's constraints say {allowed}: false"
    if kind == K.MERGE and run.merged_sha:
        return f"R{run.id} is already merged ({run.merged_sha[:10]})"
    if kind == K.DEPLOY and not run.deploy_plan:
        return "prepare the deploy first (deploy.prepare): a deploy approval approves its plan"
    return ""


def why_not_standing_on(run: CodingRun, kind: str) -> str:
    """A merge, deploy or production-config approval stands on the run's code approval, and
    only while the run is still what that approval was given for (its digest: task, harness,
    caps, tests and commands): a stale code approval lets nothing through. '' when it may."""
    needed = NEEDS[kind]
    if not needed:
        return ""
    standing = CodingApproval.objects.standing_for(run, needed).first()
    if standing is None:
        return f"a {kind} approval needs a standing {needed} approval of {run.head_sha[:10]}"
    if standing.content_digest and standing.content_digest != run.approval_digest(needed):
        return (
            f"the {needed} approval of {run.head_sha[:10]} by {standing.approved_by} was given "
            "for what the run no longer is (its task, harness, caps, tests or commands changed "
            f"since): approve the {needed} again first"
        )
    return ""


def after_code_approval(run: CodingRun, kind: str) -> None:
    """A job that may not merge ends at the code approval: its branch stays for a human, its
    worktree and object store go as any ended run's."""
    if kind == K.CODE and not run.constraints.get("allow_merge"):
        kept = f"code approved at {run.head_sha[:10]}; branch {run.branch} kept (no merge allowed)"
        if transition(run, RunStatus.COMPLETED, kept):
            put_away(run)  # it has ended: nothing of it stays live


def merge_ready():
    """Runs with a standing merge approval of their head that are not merged yet."""
    approved = CodingApproval.objects.standing().filter(kind=K.MERGE, run=OuterRef("pk"))
    runs = CodingRun.objects.filter(status=RunStatus.WAITING_FOR_REVIEW, merged_sha="")
    return runs.filter(Exists(approved))  # a semi-join: no DISTINCT over every column


def merge(run: CodingRun) -> str:
    """Merge the approved head into the base branch of the local repository, in a scratch
    worktree, and move the base only if the tests pass on the merged head. '' when refused.
    The repository stays locked throughout (nobody provisions from a base about to move), but
    no transaction stays open while the tests run."""
    with holding_repository(run.repository):
        approval = CodingApproval.objects.standing_for(run, K.MERGE).first()
        if approval is None:
            return ""
        if gone := step_ended(run):
            refuse_merge(run, f"{gone}; nobody wants it merged any more")
            return ""
        if not approval.still_matches:
            refuse_merge(
                run,
                "the run changed since the merge was approved (task, harness, caps, tests or "
                "commands)",
            )
            return ""
        if stale := why_not_standing_on(run, K.MERGE):
            refuse_merge(run, stale)
            return ""
        base = f"refs/heads/{run.base_ref}"
        old = git(["rev-parse", "--verify", "--end-of-options", base], run.repository.path)
        merged, why = merge_in_scratch(run, old.strip())
        if not merged:
            refuse_merge(run, why)
            return ""
        publish(run.id, run.repository.path)  # the base's history from now on
        move_base(run, old.strip(), merged)
    transition(
        run, RunStatus.COMPLETED, f"merged into {run.base_ref} at {merged[:10]}", merged_sha=merged
    )
    return merged


def merge_in_scratch(run: CodingRun, old: str) -> tuple[str, str]:
    scratch = Path(tempfile.mkdtemp(prefix=f"merge-{run.id}-", dir=scratch_root()))
    try:
        return merged_head(run, scratch / "tree", old)
    finally:
        with contextlib.suppress(GitFailed):
            git(["worktree", "remove", "--force", "--", str(scratch / "tree")], run.repository.path)
        remove(scratch)  # however deep its tests left it: a recursive removal ran out of stack
        git(["worktree", "prune"], run.repository.path)


def refuse_merge(run: CodingRun, why: str) -> None:
    """The merge approval is spent (a human must look again); the run keeps waiting. The
    transition's event says why."""
    why = unsaid(why)
    void(CodingApproval.objects.standing_for(run, K.MERGE), f"merge refused: {why[:300]}")
    transition(run, RunStatus.WAITING_FOR_REVIEW, f"merge refused: {why[:1500]}")


def scratch_root() -> Path:
    root = Path(settings.OPS_CODING_DIR) / "merges"
    root.mkdir(parents=True, exist_ok=True)
    return root


def merged_head(run: CodingRun, tree: Path, old: str) -> tuple[str, str]:
    repo = run.repository
    git(["worktree", "add", "--detach", "--", str(tree), old], repo.path)
    try:
        message = f"Merge {run.branch} (R{run.id}, approved)"
        git([*AUTHOR, "merge", "--no-ff", "--no-edit", "-m", message, run.head_sha], tree)
    except GitFailed as conflict:
        return "", f"it does not merge cleanly into {run.base_ref}: {conflict}"
    verdict = verify(repo, {}, str(tree), Limits.from_caps(run.limits))
    if not verdict.passed:
        return "", f"tests failed on the merged head: {verdict.output[-1000:]}"
    return git(["rev-parse", "HEAD"], tree).strip(), ""


def move_base(run: CodingRun, old: str, merged: str) -> None:
    """Fast-forward the base: in the main checkout when it has the base checked out (its files
    follow), else by a compare-and-swap of the ref."""
    repo = run.repository
    try:
        current = git(["symbolic-ref", "--quiet", "HEAD"], repo.path).strip()
    except GitFailed:  # a detached main checkout
        current = ""
    if current == f"refs/heads/{run.base_ref}":
        git(["merge", "--ff-only", "--quiet", merged], repo.path)
    else:
        git(["update-ref", f"refs/heads/{run.base_ref}", merged, old], repo.path)
