"""The switches that hold a coding run between its passes, as they hold a queued one from
starting (coding/driver.py's turn, CodingRun.objects.startable()): the coding lane paused, in
either mode, or the run's agent disabled or drained. A pass under way always finishes; the
run is blocked saying which switch, and queued again when its override is lifted."""

from coding.actions import transition
from coding.models import CodingRun, RunStatus
from missions.models import MissionStatus, Step, StepStatus
from opscore.lanes import pause_of
from opscore.models import Agent, Override

AGENT_OFF = {"enabled": "disabled", "draining": "draining"}
GONE = [StepStatus.CANCELLED, StepStatus.FAILED, StepStatus.DEAD]
MISSION_GONE = [MissionStatus.CANCELLED, MissionStatus.TIMED_OUT]


def switched_off(run: CodingRun) -> str:
    """Why the run may not launch its next pass, naming the switch; '' when nothing holds it."""
    pause = pause_of("coding")
    if pause is not None:
        return pause.why
    if run.agent_id is None:
        return ""
    enabled, draining = Agent.objects.values_list("enabled", "draining").get(pk=run.agent_id)
    for switch, off in (("enabled", not enabled), ("draining", draining)):
        if off:
            row = Override.objects.holding(run.agent_id, switch)
            by = f"override {row.id}: {row.reason}" if row else "its agent's switch"
            return f"agent {run.agent_id} {AGENT_OFF[switch]} by {by}"
    return ""


def step_ended(run: CodingRun) -> str:
    """Why the run's step no longer waits for it ('' while it does): cancelled with its
    mission, failed or dead-lettered, or its mission cancelled or timed out after the step
    was done. Its next pass would spend harness time and model money on work nobody wants,
    its end could wake no step, and an approval or a merge of it would land what nobody
    wants any more."""
    if run.step_id is None:
        return ""
    status, mission, mission_status = (
        Step.objects.filter(pk=run.step_id).values_list("status", "mission_id", "mission__status")
    ).get()
    if status in GONE:
        return f"its step S{run.step_id} was {status}: M{mission} {mission_status}"
    if mission_status in MISSION_GONE:
        return f"its mission M{mission} was {mission_status} (step S{run.step_id} {status})"
    return ""


def held_reason(run: CodingRun, why: str) -> str:
    """The blocked run's reason: the switch, and how it goes on (release_held below)."""
    goes_on = f"queued again once it is lifted (or `coding retry {run.id}`)"
    return f"held before pass {run.iteration + 1}: {why}; {goes_on}"


def release_held(row: Override) -> int:
    """The runs `row` held between their passes go back in the queue once it is lifted or
    expires; they start again when nothing else holds them (the driver's turn, startable()).
    Their caps go on counting: a person's retry, not a lift, starts them afresh. A held run's
    reason is its only mark: one whose words were masked keeps waiting for that retry."""
    held = CodingRun.objects.select_related("repository").filter(
        status=RunStatus.BLOCKED,
        reason__startswith="held before pass ",
        reason__contains=f" by override {row.id}: ",
    )
    why = f"released: override {row.id} {row.status}"
    return sum(transition(run, RunStatus.QUEUED, why) for run in held)
