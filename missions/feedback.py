"""An operator rates an output: useful or not, and why. One row and one event, which the
memory lane's outcome learner reads (memory.outcomes.learn_from_feedback)."""

from django.db import transaction

from missions.models import Artifact, Feedback, Mission, Publication, Rating
from opscore.actions import record_event
from opscore.inputs import FieldErrors
from opscore.text import MAX_REASON, clean_reason

EVENT = "feedback.recorded"


class FeedbackInvalid(FieldErrors):
    """Bad feedback input: nothing was written."""


def _target(*, mission=None, artifact=None, publication=None):
    """The mission rated and the output named, from exactly one of the three ids."""
    given = {k: v for k, v in [("mission", mission), ("artifact", artifact)] if v is not None}
    given |= {"publication": publication} if publication is not None else {}
    if len(given) != 1:
        raise FeedbackInvalid({"output": ["name exactly one of mission, artifact, publication"]})
    ((field, pk),) = given.items()
    if isinstance(pk, bool) or not isinstance(pk, int) or pk < 1:
        raise FeedbackInvalid({field: ["a positive integer id"]})
    if field == "mission":
        found = Mission.objects.filter(pk=pk).first()
        return _exists(found, field, pk), None, None
    model = Artifact if field == "artifact" else Publication
    output = _exists(model.objects.select_related("step").filter(pk=pk).first(), field, pk)
    if output.step is None:
        raise FeedbackInvalid({field: [f"{field} {pk} came from no mission"]})
    mission = Mission.objects.get(pk=output.step.mission_id)
    return mission, output if field == "artifact" else None, output if field != "artifact" else None


def _exists(row, field: str, pk: int):
    if row is None:
        raise FeedbackInvalid({field: [f"no {field} {pk}"]})
    return row


def _clean(rating, reason) -> tuple[str, str]:
    errors = {}
    if rating not in Rating.values:
        errors["rating"] = [f"one of {', '.join(Rating.values)}"]
    reason = clean_reason(reason)
    if not reason:
        errors["reason"] = ["say why: a rating without a reason teaches nothing"]
    elif len(reason) > MAX_REASON:
        errors["reason"] = [f"at most {MAX_REASON} characters"]
    if errors:
        raise FeedbackInvalid(errors)
    return rating, reason


def check_feedback(*, rating, reason, **output):
    """Validate without writing: (rating, reason, mission, artifact, publication)."""
    rating, reason = _clean(rating, reason)
    return rating, reason, *_target(**output)


@transaction.atomic
def record_feedback(*, rating, reason, actor: str, **output) -> Feedback:
    rating, reason, mission, artifact, publication = check_feedback(
        rating=rating, reason=reason, **output
    )
    feedback = Feedback.objects.create(
        mission=mission,
        artifact=artifact,
        publication=publication,
        rating=rating,
        reason=reason,
        given_by=actor[:150],
    )
    record_event(
        EVENT,
        f"{feedback.output} rated {feedback.get_rating_display()} by {actor}",
        summary=reason,
        tags=["feedback", rating],
        payload={"feedback_id": feedback.id, "rating": rating, "reason": reason},
        agent_id=mission.agent_id,
        mission=mission,
        actor=actor,
    )
    return feedback
