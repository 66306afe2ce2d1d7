"""An approval holds for the content approved, not for whatever the row says later: a step
whose kind, agent or payload changed after approval (an edit in the database, a bug, an
attacker) is refused at execution, with an event naming both digests. Refused, not blocked:
a human's retry must not run the changed content either — they propose it again."""

from missions.executors import Failed
from opscore.actions import record_event


def refusal_if_changed(step) -> Failed | None:
    if not step.changed_since_approval:
        return None
    found = step.content_digest()
    reason = (
        f"S{step.id} {step.kind} changed since it was approved (approved content "
        f"{step.approved_digest[:12]}, now {found[:12]}); refused — propose it again"
    )
    record_event(
        "step.approval_mismatch",
        f"S{step.id} {step.kind} refused: not what was approved",
        summary=reason,
        tags=["step", "approval", "refused", step.kind],
        payload={"approved_digest": step.approved_digest, "found_digest": found},
        agent_id=step.agent_id,
        mission_id=step.mission_id,
        step=step,
        actor="system:worker",
    )
    return Failed(reason, retryable=False, input_refused=True)
