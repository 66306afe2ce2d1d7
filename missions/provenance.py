"""Provenance is sticky: anything derived from outside content (a crawled page) stays
untrusted through every step, event and mission that carries it, so no conversion launders
it into trusted work. Each function says why a row is untrusted, or '' when it is not."""

from missions.models import Artifact, Comment, Mission, Proposal, Provenance, Step
from opscore.models import Event


def artifact_untrusted(artifact_id: int) -> str:
    page = Artifact.objects.filter(pk=artifact_id, provenance=Provenance.UNTRUSTED).first()
    if page is None:
        return ""
    return f"untrusted content from {page.source_url or 'outside'} (artifact {page.id})"


def proposal_untrusted(proposal_id: int | None) -> str:
    if proposal_id is None:
        return ""
    proposal = Proposal.objects.filter(pk=proposal_id, untrusted=True).first()
    if proposal is None:
        return ""
    return proposal.untrusted_reason or f"P{proposal.id} was built from untrusted content"


def step_untrusted(step_id: int) -> str:
    page = Artifact.objects.filter(step_id=step_id, provenance=Provenance.UNTRUSTED).first()
    if page is not None:
        return artifact_untrusted(page.id)
    step = Step.objects.filter(pk=step_id).select_related("mission").first()
    return proposal_untrusted(step.mission.proposal_id) if step else ""


def mission_untrusted(mission_id: int) -> str:
    mission = Mission.objects.filter(pk=mission_id).first()
    return proposal_untrusted(mission.proposal_id) if mission else ""


def event_untrusted(event_id: int) -> str:
    event = Event.objects.filter(pk=event_id).first()
    return event_row_untrusted(event) if event is not None else ""


def event_row_untrusted(event: Event) -> str:
    """For a row in hand: events are append-only, so the one read earlier is still the truth."""
    if event.actor == "agentbus":
        return f"event {event.id} came from an outside runtime (agent bus)"
    said = event.payload.get("untrusted")  # True, or why (a string)
    if said:
        return f"event {event.id} reports untrusted content" + (
            f": {said}" if isinstance(said, str) else ""
        )
    if event.step_id:
        return step_untrusted(event.step_id)
    if event.mission_id:  # mission.failed/succeeded name the mission alone
        return mission_untrusted(event.mission_id)
    return proposal_untrusted(event.proposal_id)


def comment_untrusted(comment_id: int) -> str:
    """Thread text is untrusted whoever wrote it: an operator typed it, or an agent answered
    what an operator typed."""
    comment = Comment.objects.filter(pk=comment_id).first()
    if comment is None:
        return ""
    return f"thread text T{comment.id} by {comment.actor} on {comment.thread}"


BUILTIN = {
    "artifact": artifact_untrusted,
    "step": step_untrusted,
    "mission": mission_untrusted,
    "event": event_untrusted,
    "comment": comment_untrusted,
}
