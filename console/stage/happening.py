""" "Happening now": each event as a sentence a person reads at a glance (not its raw kind),
for the office's log — its recent backlog on load and each live moment after."""

from opscore.models import Event
from opscore.text import reveal_invisible

BACKLOG = 12
SHOWN_KINDS = ("conversation.", "step.", "proposal.", "mission.", "first_boot.")


def sentence_of(event: Event) -> str:
    """Named where they stand (⟨U+202E⟩): a step's error or a turn's words are a model's, and
    the log shows them as text, live or on load, where an override would be obeyed."""
    return reveal_invisible(_sentence(event))


def _sentence(event: Event) -> str:
    who = event.agent.display_name if event.agent_id and event.agent else "Opscore"
    kind, payload = event.kind, event.payload or {}
    work = f"“{event.mission.title}”" if event.mission_id and event.mission else "a mission"
    step_kind = event.step.kind if event.step_id and event.step else "its"
    if kind == "conversation.turn":
        return f"{who}: {payload.get('text', '')}"
    if kind == "step.succeeded":
        return f"{who} finished {_a(step_kind)} step of {work}."
    if kind in ("step.failed", "step.dead"):
        return f"{who}'s {step_kind} step of {work} failed: {event.summary or 'see the mission'}."
    if kind == "step.retrying":
        return f"{who} will retry {_a(step_kind)} step of {work}."
    if kind == "proposal.accepted":
        return f"{who} started {work}."
    if kind == "proposal.pending":
        title = event.proposal.title if event.proposal_id and event.proposal else "a proposal"
        return f"{who} asks a human to approve “{title}”."
    if kind == "mission.succeeded":
        return f"{who} completed {work}."
    if kind in ("conversation.succeeded", "conversation.failed"):
        people = ", ".join(payload.get("participants") or [])
        ended = "ended" if kind.endswith("succeeded") else "broke off"
        return f"A conversation of {people} {ended}."
    return event.title


def recent_sentences() -> list[str]:
    """The newest first, as the live log adds them."""
    events = Event.objects.select_related("agent", "mission", "step", "proposal")
    wanted = [e for e in events.order_by("-id")[: BACKLOG * 4] if e.kind.startswith(SHOWN_KINDS)]
    return [sentence_of(event) for event in wanted[:BACKLOG]]


def _a(kind: str) -> str:
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}" if kind != "its" else "a"
