"""Steps that wait on others (depends_on within a proposal, after_steps across missions):
cancelled, saying why, once what they wait for can no longer succeed; brought back when it is
retried."""

from django.db.models.functions import Now

from missions.models import STEP_ENDED_UNSUCCESSFULLY, Mission, MissionStatus, Step, StepStatus


def cancel_dependents(step: Step) -> int:
    """Steps waiting on one that can no longer succeed will never run: say so on each. A
    mission of theirs that has nothing left to run ends (another's, waiting on `step` by
    after_steps: left open, it read as work in progress for ever); `step`'s own is its
    caller's to end."""
    cancelled, frontier, missions = 0, [step.id], set()
    while frontier:
        waiting = Step.objects.filter(
            dependency_links__depends_on_id__in=frontier, status=StepStatus.QUEUED
        )
        rows = list(waiting.values_list("id", "mission_id"))
        frontier, missions = [i for i, _ in rows], missions | {m for _, m in rows}
        cancelled += waiting.update(
            status=StepStatus.CANCELLED,
            last_error=f"dependency S{step.id} ended {step.status}",
            finished_at=Now(),
            updated_at=Now(),
        )
    for mission in Mission.objects.filter(pk__in=missions - {step.mission_id}):
        mission.finalize()
    return cancelled


def cancel_dependents_of(steps: list[Step], status: str) -> int:
    """`cancel_dependents` for steps a person or the sweeper just ended together (a mission
    cancelled, or past its deadline): the steps of other missions that waited on them."""
    for step in steps:
        step.status = status
    return sum(cancel_dependents(step) for step in steps)


def cancel_behind_ended(mission: Mission, proposal) -> None:
    """A step waiting on an existing one that failed, died or was cancelled can never run:
    cancelled at once, naming it, as the steps waiting when it ended were (and a retry of it
    brings them all back). Left queued, it waited without a word for ever."""
    waited = {i for spec in proposal.proposed_steps for i in spec.get("after_steps", [])}
    ended = list(Step.objects.filter(pk__in=waited, status__in=STEP_ENDED_UNSUCCESSFULLY))
    for step in ended:
        cancel_dependents(step)
    if ended:
        mission.finalize()


def revivable_dependents(step: Step) -> list[Step]:
    """The steps a retry of `step` brings back, locked: those its end cancelled
    (`cancel_dependents`, each saying so), however far down. A retry's gate counts them
    (missions.gates.retry_refusal) before they are revived."""
    found: dict[int, Step] = {}
    frontier, why = [step.id], f"dependency S{step.id} ended "
    while frontier:
        cancelled = Step.objects.filter(
            dependency_links__depends_on_id__in=frontier,
            status=StepStatus.CANCELLED,
            last_error__startswith=why,
        ).exclude(pk__in=list(found))
        fresh = {s.id: s for s in cancelled.select_for_update(of=("self",)).only("id", "kind")}
        found |= fresh
        frontier = list(fresh)
    return list(found.values())


def revive_dependents(dependents: list[Step]) -> int:
    """A retried step may succeed after all: the steps its end cancelled (`dependents`, from
    `revivable_dependents`) wait for it again, and a mission of theirs that ended failed for
    it (another's, waiting on it by after_steps) is open again. Left cancelled, the retry was
    pointless: the mission ended failed however the retried step went."""
    ids = [s.id for s in dependents]
    failed = Mission.objects.filter(steps__in=ids, status=MissionStatus.FAILED)
    Mission.objects.filter(pk__in=failed.values("pk")).update(
        status=MissionStatus.RUNNING, finished_at=None
    )
    return Step.objects.filter(pk__in=ids).update(
        status=StepStatus.QUEUED, last_error="", finished_at=None, updated_at=Now()
    )
