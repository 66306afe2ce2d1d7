"""Provenance is sticky: anything derived from outside content (a crawled page) stays
untrusted through every step, event and mission that carries it, so no conversion launders
it into trusted work. Each function says why a row is untrusted, or '' when it is not."""

from missions.models import (
    Artifact,
    Comment,
    ContentMetric,
    Mission,
    Proposal,
    Provenance,
    Publication,
    Step,
    StepAttempt,
)
from missions.step_kinds import runs_inside
from opscore.models import Event, LLMCall, Runtime
from opscore.registry import Registry

# What else makes a step's words not Opscore's own, registered by the lane that knows (the
# memory lane: its prompt carried a memory learned from outside words): step id -> why, or ''.
STEP_TAINTS: Registry = Registry("step taint")
FAR_END_KINDS = frozenset({"crawl"})  # step kinds whose result and error quote a server's answer
OUTSIDE_RUNTIME = "agentbus"  # the cause_ref of work enqueued through the agent bus, `agentbus:…`


def runtime_lease_owner(agent: str, name: str) -> str:
    """Whom an outside runtime's claim names as its lease owner (and its attempt's worker):
    never an Opscore worker's `host:pid`, and read back by step_untrusted."""
    return f"runtime:{agent}:{name}"


def artifact_untrusted(artifact_id: int) -> str:
    """A page from outside, or what a step of untrusted work wrote (a model's words on an
    injected topic): the step answers for its artifacts."""
    fields = ("provenance", "source_url", "step_id")
    artifact = Artifact.objects.filter(pk=artifact_id).only(*fields).first()
    if artifact is None:
        return ""
    if artifact.provenance == Provenance.UNTRUSTED:
        return f"untrusted content from {artifact.source_url or 'outside'} (artifact {artifact.id})"
    why = step_untrusted(artifact.step_id) if artifact.step_id else ""
    return f"artifact {artifact.id} was written by untrusted work: {why}" if why else ""


def proposal_untrusted(proposal_id: int | None) -> str:
    """An outside runtime's work for its own agent may run unreviewed, but its words (title,
    payload) and what its runtime reports back stay the runtime's: nothing derived from them
    is trusted."""
    if proposal_id is None:
        return ""
    fields = ("untrusted", "untrusted_reason", "cause_ref")
    proposal = Proposal.objects.filter(pk=proposal_id).only(*fields).first()
    if proposal is None:
        return ""
    if proposal.untrusted:
        return proposal.untrusted_reason or f"P{proposal.id} was built from untrusted content"
    if proposal.cause_ref.split(":", 1)[0] == OUTSIDE_RUNTIME:
        return f"P{proposal.id} came from an outside runtime ({proposal.cause_ref})"
    return ""


def step_untrusted(step_id: int) -> str:
    page = Artifact.objects.filter(step_id=step_id, provenance=Provenance.UNTRUSTED).first()
    if page is not None:
        return artifact_untrusted(page.id)
    step = Step.objects.filter(pk=step_id).select_related("mission", "agent").first()
    if step is None:
        return ""
    if step.agent.runtime == Runtime.EXTERNAL and not runs_inside(step.kind, step.payload):
        # only its runtime claims it: the result or error it holds is that runtime's report
        return f"S{step.id} is run by {step.agent_id}'s outside runtime"
    return (
        ran_outside(step)
        or fetched(step)
        or proposal_untrusted(step.mission.proposal_id)
        or heard(step.id)
        or step_tainted(step.id)
    )


def ran_outside(step: Step) -> str:
    """An attempt an outside runtime claimed: what it reported stays that runtime's word after
    its agent is taken back in (runtime: internal), which the agent's runtime alone forgot."""
    runtime = runtime_lease_owner(step.agent_id, "")
    if StepAttempt.objects.filter(step=step, worker_id__startswith=runtime).exists():
        return f"S{step.id} was run by {step.agent_id}'s outside runtime"
    return ""


def fetched(step: Step) -> str:
    """A step that asked a server outside reports what it answered: a failed crawl's error
    names the URL the page redirected to (its words, chosen by the page) and whatever its far
    end said, with no untrusted artifact to say so."""
    if step.kind in FAR_END_KINDS and step.attempt_count:
        return f"S{step.id} is a {step.kind}: what it reports is what a server outside answered"
    return ""


def heard(step_id: int) -> str:
    """Text a person typed that the step's prompt carried: a remark or an answer on the
    mission's thread (comment_untrusted) or an operator's note on the mission. It is untrusted
    whoever typed it, and the step wrote those words at one remove, as an agent's reply to
    them is. Its calls record the ids (LLMCall.injected)."""
    carried = LLMCall.objects.filter(step_id=step_id).values_list("injected", flat=True)
    carried = [r for r in carried if isinstance(r, dict)]
    if comment := first_id(carried, "thread_comment_ids"):
        return f"S{step_id}'s prompt carried thread text T{comment}"
    note_id = first_id(carried, "mission_note_ids")
    note = Event.objects.filter(pk=note_id).only("actor", "mission_id").first() if note_id else None
    if note is None:
        return ""
    return (
        f"S{step_id}'s prompt carried {note.actor}'s note on M{note.mission_id} (event {note.id})"
    )


def first_id(injected: list[dict], key: str) -> int | None:
    return min((i for r in injected for i in r.get(key) or [] if isinstance(i, int)), default=None)


def step_tainted(step_id: int) -> str:
    """A step of trusted work whose model read untrusted words (a memory learned from a
    crawled page, in its prompt) wrote them into its result: what it wrote is not ours."""
    for check in STEP_TAINTS.values():
        why = check(step_id)
        if why:
            return why
    return ""


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


def attempt_untrusted(attempt_id: int) -> str:
    """An attempt's error is its step's report (an outside runtime's own words, for one it
    runs): what cites the attempt answers for its step, as what cites the step does."""
    step_id = StepAttempt.objects.filter(pk=attempt_id).values_list("step_id", flat=True).first()
    why = step_untrusted(step_id) if step_id else ""
    return f"attempt {attempt_id}: {why}" if why else ""


def publication_untrusted(publication_id: int | None) -> str:
    """A post's words are those of the step that posted them, and of the work it was part of."""
    step_id = (
        Publication.objects.filter(pk=publication_id).values_list("step_id", flat=True).first()
    )
    why = step_untrusted(step_id) if step_id else ""
    return f"publication {publication_id}: {why}" if why else ""


def metric_untrusted(metric_id: int) -> str:
    """A measurement is numbers, but what learns from it quotes the post it measured."""
    measured = ContentMetric.objects.filter(pk=metric_id).values_list("publication_id", flat=True)
    return publication_untrusted(measured.first())


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
    "attempt": attempt_untrusted,
    "publication": publication_untrusted,
    "metric": metric_untrusted,
}
