"""Operators' ratings as evidence: each rating joins the one candidate (then memory) for its
agent, step kinds and verdict, so "operators found these digests useful" is one memory citing
every rating behind it (a later rating merges in as evidence), and each candidate says the
tally when it was written — counted, not re-told per rating."""

from collections import Counter

from memory.models import MemoryType
from memory.outcomes import merge_into_candidate
from missions.models import Feedback, Rating


def tally(agent: str) -> dict[str, int]:
    """Ratings of this agent's outputs, useful and not useful: each person's latest opinion of
    each output once. A rating sent twice (a double click) is two rows but one opinion, and a
    person who changed their mind counts as they now think."""
    opinions = (
        Feedback.objects.filter(mission__agent_id=agent)
        .order_by("mission_id", "artifact_id", "publication_id", "given_by", "-id")
        .distinct("mission_id", "artifact_id", "publication_id", "given_by")
        .values_list("rating", flat=True)
    )
    return dict.fromkeys(Rating.values, 0) | Counter(opinions)


def feedback_candidate(feedback: Feedback) -> dict:
    mission = feedback.mission
    kinds = "+".join(dict.fromkeys(mission.steps.order_by("id").values_list("kind", flat=True)))
    counts = tally(mission.agent_id)
    verdict = "useful" if feedback.useful else "not useful"
    title = f"Operators find {kinds or 'this work'} {verdict}"
    body = (
        f"As of rating F{feedback.id}, operators had rated my outputs {counts['useful']} time(s) "
        f"useful and {counts['not_useful']} time(s) not useful. This one, on {feedback.output} "
        f"('{mission.title[:120]}'): {verdict} because {feedback.reason}"
    )
    return {
        "agent": mission.agent_id,
        "kind": MemoryType.STRATEGY if feedback.useful else MemoryType.LESSON,
        "title": title[:200],
        "body": body[:2000],
        "confidence": 0.65,
        "tags": ["operator-feedback", feedback.rating, *kinds.split("+")][:10],
        "evidence": [
            {"type": "feedback", "id": feedback.id},
            {"type": "mission", "id": mission.id},
        ],
        "dedupe_key": f"feedback-{feedback.rating}:{mission.agent_id}:{kinds}"[:200],
        "source_ref": f"feedback:{feedback.id}",
    }


def learn_from_feedback(feedback_id: int) -> str:
    """One rating into its candidate: 'known', 'added' (to a waiting candidate), 'proposed'."""
    feedback = Feedback.objects.select_related("mission").filter(pk=feedback_id).first()
    if feedback is None:
        return "missing"
    return merge_into_candidate(feedback_candidate(feedback), refresh_body=True)
