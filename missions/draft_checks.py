"""What the intake reads of a draft besides its agents: a dependency or a goal that does not
exist (or is closed) is bad input, which raises ProposalInvalid before anything is locked or
written; a dedupe key already on file names its proposal; and what the draft cites says
whether it may run without a human (read as its proposal is built). missions/actions.py's
submit_proposal asks each.
"""

from missions.models import Goal, Proposal, Step
from missions.provenance import artifact_untrusted, event_row_untrusted, step_untrusted
from missions.schemas import ProposalDraft, ProposalInvalid
from opscore.db import db_now
from opscore.registry import STEP_KINDS


def check_after_steps(draft: ProposalDraft) -> None:
    """Bad input, not a refusal: a dependency on a step that does not exist writes nothing."""
    wanted = {i for spec in draft.steps for i in spec.after_steps}
    if not wanted:
        return
    found = set(Step.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    errors = {
        f"steps.{index}.after_steps": [f"no step {i}" for i in spec.after_steps if i not in found]
        for index, spec in enumerate(draft.steps)
        if set(spec.after_steps) - found
    }
    if errors:
        raise ProposalInvalid(errors)


def check_goal(draft: ProposalDraft) -> None:
    """Work names the goal it serves here, at the intake, and only one it can still count
    toward: active, its deadline ahead."""
    if draft.goal is None:
        return
    goal = Goal.objects.filter(pk=draft.goal).only("status", "deadline_at").first()
    if goal is None:
        raise ProposalInvalid({"goal": [f"no goal {draft.goal}"]})
    if why := goal.why_no_work_counts(db_now()):
        raise ProposalInvalid({"goal": [why]})


def cites_untrusted_content(draft: ProposalDraft, cause_event) -> str:
    """A proposal built from crawled (untrusted) content must not run without a human: an
    injected page cannot make an agent deploy or post. Its cause event, the artifacts it cites
    and the existing steps whose words it takes answer for it. Why it is untrusted, or ''."""
    if cause_event is not None:
        why = event_row_untrusted(cause_event)
        if why:
            return f"caused by event {cause_event.id}: {why}"
    cited = [s.payload.get("artifact_id") for s in draft.steps]
    for artifact_id in (a for a in cited if isinstance(a, int)):
        why = artifact_untrusted(artifact_id)
        if why:
            return f"cites {why}"
    for step_id in (i for s in draft.steps if _fed_by_steps(s.kind) for i in s.after_steps):
        why = step_untrusted(step_id)
        if why:
            return f"waits on S{step_id}: {why}"
    return ""


def _fed_by_steps(kind: str) -> bool:
    """A kind that takes a field from a step it waits for (post_tweet posts their draft)."""
    return any(field.or_from for field in STEP_KINDS[kind].fields)


def find_duplicate(draft: ProposalDraft) -> Proposal | None:
    if not draft.dedupe_key:
        return None
    return Proposal.objects.filter(dedupe_key=draft.dedupe_key).first()
