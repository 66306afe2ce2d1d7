"""Replaying a mission: each of its model-driven steps is run again by today's executor, in the
order the record has their calls, against the recorded (or live) provider; what the executor
decides is compared with what the step recorded then. A call of any other step (a coding
review's) is named in the report as not replayed: its executor is never run again (a crawl
would fetch, a deploy would ask to deploy)."""

from types import SimpleNamespace

from missions.executors import Blocked, Failed, Succeeded
from missions.models import AttemptOutcome, Mission
from missions.work_executors import EXECUTORS, run_llm_step
from opscore.models import LLMCall
from opscore.replay import moment_of, replay

REPLAYED = sorted(kind for kind, run in EXECUTORS.items() if run is run_llm_step)
# The attempt endings a reply decided, as the executor's outcome names them (decision_of).
DECIDED = {
    AttemptOutcome.SUCCEEDED: AttemptOutcome.SUCCEEDED,
    AttemptOutcome.BLOCKED: AttemptOutcome.BLOCKED,
    AttemptOutcome.BAD_REPLY: AttemptOutcome.FAILED,
    AttemptOutcome.REFUSED: AttemptOutcome.FAILED,
}


def replay_mission(mission_id: int, *, live: bool = False, actor: str = ""):
    """Raises Mission.DoesNotExist for an unknown id; the caller reports it."""
    mission = Mission.objects.get(pk=mission_id)
    calls = LLMCall.objects.filter(step__mission=mission)
    return replay(
        "mission", mission.id, calls, lambda p: _rerun(mission, p), live=live, actor=actor
    )


def _rerun(mission: Mission, provider) -> None:
    steps = {step.id: step for step in mission.steps.select_related("agent", "mission")}
    while provider.calls:
        step = steps.get(provider.calls[0].step_id)
        if step is None or step.kind not in REPLAYED:
            kind = step.kind if step else "other missions'"
            provider.skip(f"{kind} steps do not replay")
            continue
        waiting, call = len(provider.calls), provider.calls[0]
        provider.as_it_was()
        outcome = EXECUTORS[step.kind](SimpleNamespace(step=step, token=None))  # no lease
        if len(provider.calls) == waiting:  # it asked nothing: the budget refused, or it failed
            provider.pass_over(why_no_call(outcome))
        elif not provider.next_is_for(step=step.id):
            provider.decided(decision_then(step, call), decision_of(outcome))


def why_no_call(outcome) -> str:
    """What a step that made no call this time ended with (the budget blocks it, with why)."""
    return getattr(outcome, "error", "") or getattr(outcome, "reason", "") or "no call made"


def decision_then(step, call) -> dict:
    """What the attempt that made `call` ended as, from its row. An ending no reply decided
    (cancelled while the call was out, held by a switch, lost, timed out…) is said as it was:
    said "failed", a mission cancelled mid-call read as a step its reply had failed."""
    attempts = step.attempts.order_by("-attempt_no")
    attempt = attempts.filter(started_at__lte=moment_of(call)).first() or attempts.first()
    ended = attempt.outcome if attempt else step.status
    status = DECIDED.get(ended, ended)
    if status == AttemptOutcome.SUCCEEDED:
        return {"status": "succeeded", "text": (step.result or {}).get("text")}
    return {"status": str(status)}


def decision_of(outcome) -> dict:
    if isinstance(outcome, Succeeded):
        return {"status": "succeeded", "text": outcome.result.get("text")}
    if isinstance(outcome, Blocked):
        return {"status": "blocked"}
    assert isinstance(outcome, Failed)
    return {"status": "failed"}
