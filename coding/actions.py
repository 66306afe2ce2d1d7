"""The coding lane's workflows a person or an agent starts: cancel, retry, revise. Every change
of a run's status goes through `transition`, which writes the row and its event together."""

from django.db import transaction
from django.db.models.functions import Now

from coding.gitview import store_path
from coding.hardened_git import GitFailed
from coding.models import ENDED, CodingRun, RunStatus
from coding.watch import kill_process_group, unsaid
from coding.worktrees import clean_up, lock_repository
from opscore.actions import record_event
from opscore.text import ReasonRefused, checked_notes, checked_reason


class RunRefused(ValueError):
    """An action this run's state does not allow; nothing was changed."""


def transition(
    run: CodingRun, status: str, reason: str = "", *, event_says: dict | None = None, **fields
) -> bool:
    """Move the run (compare-and-set) and say so; False when the run had already moved on.
    Inside a caller's transaction no savepoint of its own: the move writes nothing when it
    fails, and an error here fails the caller's transaction whole anyway. The reason is kept
    masked (unsaid): it may quote what a harness wrote — a link's name, its `.git` pointer,
    git's words about its files. `event_says`: more the event carries (a revision's notes)."""
    with transaction.atomic(savepoint=False):
        if not run.move(status, unsaid(reason), **fields):
            return False
        record_event(
            f"coding.run.{status}",
            f"R{run.id} {run.repository.name}: {status.replace('_', ' ')}",
            summary=run.reason[:500],
            tags=["coding", status],
            payload=event_payload(run) | (event_says or {}),
            agent_id=run.agent_id,
            step_id=run.step_id,
            mission_id=run.step.mission_id if run.step_id else None,
            actor="system:coding",
        )
    return True


def note_on(run: CodingRun, part: str, notes: list[str]) -> None:
    """What the sandbox refused or killed during a pass, each an event on the run."""
    for note in notes:
        record_event(
            "coding.run.sandbox",
            f"R{run.id} {run.repository.name}: sandbox ({part})",
            summary=note[:500],
            tags=["coding", "sandbox"],
            payload=event_payload(run) | {"part": part},
            agent_id=run.agent_id,
            step_id=run.step_id,
            actor="system:coding",
        )


def event_payload(run: CodingRun) -> dict:
    return {
        "run_id": run.id,
        "branch": run.branch or "",
        "iteration": run.iteration,
        "cost_usd": str(run.cost_usd),
        "head_sha": run.head_sha,
    }


def left_behind(run: CodingRun) -> bool:
    """Whether the run still holds anything on disk a cleanup takes: its tree or its store."""
    return bool(run.worktree_path) or store_path(run.id).is_dir()


def put_away(run: CodingRun) -> None:
    """An ended run's worktree goes (its uncommitted work saved as a patch first, its branch
    kept), so worktrees do not pile up; a retry provisions a fresh one from the branch. Its
    object store is retired with it: after its tree, or alone where the tree was set aside
    while the run waited for review (coding.duties). A run at rest but not ended keeps both
    here: this is on the run's own path, and its tree is set aside off it. `run`: as its last
    move left it. A git that refuses is said on the run, as its reason's last words."""
    if run.status not in ENDED or not left_behind(run):
        return
    try:
        clean_up(run)
    except GitFailed as stuck:
        said = unsaid(f"{run.reason}; cleanup: {stuck}")  # git's words name its files
        CodingRun.objects.filter(pk=run.pk).update(reason=said)


def cancel_run(run: CodingRun, reason: str, *, actor: str) -> CodingRun:
    """Kill the live harness's whole group, keep its diff as a patch, and end the run. The
    reason is kept as every reason is (opscore.text.checked_reason), or nothing is done."""
    try:
        reason = checked_reason(reason, needed_by="a cancel")
    except ReasonRefused as refused:
        raise RunRefused(str(refused)) from None
    if run.status in ENDED:
        raise RunRefused(f"R{run.id} has already ended ({run.status})")
    if not transition(run, RunStatus.CANCELLED, f"cancelled by {actor}: {reason}"):
        raise RunRefused(f"R{run.id} moved to {run.status} first; nothing was cancelled")
    kill_process_group(run.process_group, inside=run.worktree_path)
    if left_behind(run):  # a tree (it saves the diff first), or a store since it was set aside
        clean_up(run)
    CodingRun.objects.filter(pk=run.pk).update(process_group=None)
    run.refresh_from_db()
    return run


def retry_run(run: CodingRun, *, actor: str) -> CodingRun:
    """A blocked, failed or cancelled run goes back in the queue, with its caps counted anew
    from this point (its iterations stay as evidence)."""
    if run.status not in (RunStatus.BLOCKED, RunStatus.FAILED, RunStatus.CANCELLED):
        raise RunRefused(f"R{run.id} is {run.status}; only blocked, failed or cancelled runs retry")
    fresh = {"first_iteration": run.iteration + 1, "cost_before": str(run.cost_usd)}
    limits = run.limits | fresh | {"active_seconds": 0}
    if not transition(run, RunStatus.QUEUED, f"retried by {actor}", limits=limits):
        raise RunRefused(f"R{run.id} moved to {run.status} first")
    CodingRun.objects.filter(pk=run.pk).update(started_at=None, finished_at=None)
    run.refresh_from_db()
    return run


def request_revision(run: CodingRun, notes: str, *, actor: str) -> bool:
    """Back into the loop with the reviewer's notes (as kept_notes kept them: whole, the next
    pass reads them all); the caps still count every pass. The run's reason quotes them; its
    event carries them whole (masked as its reason is), so the feed shows what was asked."""
    reason = f"revision requested by {actor}: {notes[:500]}"
    said = {"notes": unsaid(notes)}
    return transition(
        run, RunStatus.REVISION_REQUESTED, reason, event_says=said, revision_notes=notes
    )


def revise_run(run: CodingRun, notes: str, *, by: str) -> CodingRun:
    """A person sends a run waiting for review back for one more pass with their notes: the
    reviewer's revision, asked by a human. The pass starts from the branch as it stands, so it
    is also how a commit pushed there by hand gets tested (and then approved); it counts
    against the run's caps like any other. A refused attempt is an event too."""
    try:
        return send_back(run, notes, by=by)
    except RunRefused as refused:
        record_refusal(run, str(refused), by=by, actor=f"human:{by}")
        raise


def reviewer_revises(run: CodingRun, notes: str, *, agent: str) -> bool:
    """The reviewing agent's own revision, refused where a person's would be (at a cap above
    all: a loop whose reviewer keeps asking must still end). The refusal is the same event,
    and the run is blocked saying why, for a person to retry with fresh caps or cancel: the
    agent's step has nothing left to wait for. True when the run went back into the loop."""
    refusal = why_not_revise(run, notes)
    if not refusal:
        return request_revision(run, kept_notes(notes), actor=agent)
    with transaction.atomic():
        record_refusal(run, refusal, by=f"reviewer {agent}", actor=f"agent:{agent}")
        transition(run, RunStatus.BLOCKED, f"revision asked by reviewer {agent} refused: {refusal}")
    return False


def record_refusal(run: CodingRun, refusal: str, *, by: str, actor: str) -> None:
    record_event(
        "coding.revision_refused",
        f"R{run.id}: revision by {by} refused",
        summary=refusal,
        tags=["coding", "revision", "refused"],
        payload=event_payload(run) | {"status": run.status, "reason": refusal},
        agent_id=run.agent_id,
        step_id=run.step_id,
        actor=actor,
    )


def send_back(run: CodingRun, notes: str, *, by: str) -> CodingRun:
    """Approvals standing on the run are withdrawn with it: what they approved is being
    changed, and the pass to come is not the one their approvers saw. Under the repository's
    lock, as a merge is: a merge under way finishes first (and the run is no longer waiting),
    one not begun finds its approval void."""
    refusal = why_not_revise(run, notes)
    if refusal:
        raise RunRefused(refusal)
    with transaction.atomic():
        lock_repository(run.repository)
        if not request_revision(run, kept_notes(notes), actor=by):
            raise RunRefused(f"R{run.id} moved to {run.status} first; nothing was sent back")
        withdrawn = f"sent back for a revision by {by}"[:500]
        run.approvals.standing().update(voided_at=Now(), void_reason=withdrawn)
    return run


def why_not_revise(run: CodingRun, notes: str) -> str:
    if run.status != RunStatus.WAITING_FOR_REVIEW:
        return f"R{run.id} is {run.status}; only a run waiting for review can be sent back"
    try:
        kept_notes(notes)
    except RunRefused as refused:
        return str(refused)
    cap = run.cap_reached()
    if cap:
        return f"R{run.id} can take no more passes: {cap} (cancel and retry it for fresh caps)"
    return ""


def kept_notes(notes: str) -> str:
    """A revision's notes as the next pass reads them, by the rule every reason is kept by
    (opscore.text.checked_notes): without what hides text, required (notes of nothing but
    hidden characters are none), refused past MAX_NOTES rather than cut."""
    try:
        notes = checked_notes(notes)
    except ReasonRefused as refused:
        raise RunRefused(str(refused)) from None
    if not notes:
        raise RunRefused("a revision needs notes: say what the next pass should change or check")
    return notes
