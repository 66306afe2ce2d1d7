"""The execution lane's standing orders: recover expired leases, account for every expected run
(closing the runs whose mission ended), and raise work that waited too long. Registered from
MissionsConfig.ready()."""

from datetime import timedelta

from django.db.models import F, Q
from django.db.models.functions import Least, Now

from missions.models import MISSION_TERMINAL, MissionStatus, Step, StepStatus
from missions.recovery import reap_expired_leases
from opscore.actions import record_cap_hit
from opscore.models import RunStatus, StandingOrderRun
from opscore.standing_orders import RunResult, check_gaps, finish_run, keep_late_result

WAITING_TOO_LONG = timedelta(minutes=30)


def close_finished_missions(limit: int = 100) -> int:
    """Runs waiting on the work they asked for close when that mission ends: at most `limit`
    a pass, oldest slot first; a pass cut short leaves a row naming how many still wait. A
    run the gap check failed past its deadline while its mission still worked is told how the
    mission ended, as a late result (opscore.standing_orders.keep_late_result), once."""
    closed = 0
    outlived = Q(status=RunStatus.FAILED, evidence__has_key="waiting_on_mission") & ~Q(
        evidence__has_key="late_result"
    )
    waiting = StandingOrderRun.objects.filter(
        Q(status=RunStatus.STARTED) | outlived, mission__status__in=MISSION_TERMINAL
    )
    oldest = waiting.select_related("mission", "order").order_by("scheduled_for", "id")
    batch = list(oldest[: limit + 1])
    for run in batch[:limit]:
        done = run.mission.status == MissionStatus.SUCCEEDED
        result = RunResult(
            RunStatus.COMPLETED if done else RunStatus.FAILED,
            f"mission M{run.mission_id} {run.mission.status}",
            run.evidence,
            run.mission,
        )
        if run.status == RunStatus.STARTED:
            closed += finish_run(run, result)
        else:
            keep_late_result(run, result)
            closed += 1
    if len(batch) > limit:
        record_cap_hit("close_finished_missions", limit, waiting.count(), actor="system:gap_check")
    return closed


def lease_reaper(order, run):
    counts = reap_expired_leases()
    if not any(counts.values()):
        return RunResult(RunStatus.NO_WORK, "no expired leases", counts)
    recovered = counts["requeued"] + counts["dead"] + counts["blocked"]
    left = f"; {counts['deferred']} more wait for the next run" if "deferred" in counts else ""
    return RunResult(RunStatus.COMPLETED, f"recovered {recovered} step(s){left}", counts)


def gap_check(order, run):
    counts = {"closed": close_finished_missions()} | check_gaps()
    if not any(counts.values()):
        return RunResult(RunStatus.NO_WORK, "every expected run is accounted for", counts)
    return RunResult(RunStatus.COMPLETED, "recorded gaps and closed runs", counts)


def backlog_rebalance(order, run):
    """Queued work that has waited too long moves up, so nothing starves behind new work."""
    stale = Step.objects.filter(
        status=StepStatus.QUEUED, run_after__lte=Now(), created_at__lt=Now() - WAITING_TOO_LONG
    )
    bumped = stale.update(priority=Least(F("priority") + 10, 1000), updated_at=Now())
    blocked = Step.objects.filter(status=StepStatus.BLOCKED).count()
    evidence = {"bumped": bumped, "blocked_waiting": blocked}
    if not bumped:
        return RunResult(RunStatus.NO_WORK, "no queued work waited too long", evidence)
    return RunResult(RunStatus.COMPLETED, f"raised the priority of {bumped} step(s)", evidence)


HANDLERS = {
    "lease_reaper": lease_reaper,
    "gap_check": gap_check,
    "backlog_rebalance": backlog_rebalance,
}
