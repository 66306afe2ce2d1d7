"""One summary of the system's state, shared by `manage.py status` and GET /api/ops/status."""

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min
from django.db.models.functions import Greatest, Now

from coding.sandbox import sandbox_state
from console.health import health_snapshot, llm_spend, sweeper_state
from missions.breaker import switched_off_kinds
from missions.models import (
    Mission,
    OutboxMessage,
    Proposal,
    ProposalStatus,
    Step,
    StepStatus,
    Worker,
)
from missions.step_switches import held_by_a_switch
from opscore.models import ActionRun, ActionRunStatus, Agent, Event, Policy
from opscore.overrides import active_overrides


def _queue_depths() -> dict:
    depths: dict[str, dict[str, int]] = {status: {} for status in StepStatus.values}
    rows = Step.objects.values("status", "kind").annotate(n=Count("id")).order_by()
    for row in rows:
        depths[row["status"]][row["kind"]] = row["n"]
    return depths


def _oldest_queued_seconds(claimable: bool = False) -> float | None:
    """How long due work has waited for a worker: a step delayed into the future is not
    waiting yet, and a delayed one has waited only since it fell due. `claimable`: only the
    steps no switch holds (missions.step_switches), the figure the queue-stuck alert reads."""
    due = Min(Greatest("created_at", "run_after"))
    age = ExpressionWrapper(Now() - due, output_field=DurationField())
    queued = Step.objects.filter(status=StepStatus.QUEUED, run_after__lte=Now())
    if claimable:
        queued = queued.exclude(held_by_a_switch())
    result = queued.aggregate(age=age)["age"]
    return round(result.total_seconds(), 1) if result is not None else None


def oldest_claimable_seconds() -> float | None:
    """What the queue-stuck alert reads (console/metrics.py): a pause is no stuck queue."""
    return _oldest_queued_seconds(claimable=True)


def _rejections_today() -> dict:
    rejected = Proposal.objects.decided_today().filter(status=ProposalStatus.REJECTED)
    by_code = dict(
        rejected.values_list("rejection_code").annotate(n=Count("id")).order_by("rejection_code")
    )
    return {"total": sum(by_code.values()), "by_code": by_code}


def _workers() -> dict:
    age = ExpressionWrapper(Now() - F("last_seen_at"), output_field=DurationField())
    # What a worker runs now is whatever it holds the lease of; its liveness row only names
    # steps long enough to have been renewed.
    leased = dict(Step.objects.filter(status=StepStatus.RUNNING).values_list("lease_owner", "id"))
    live, stale = [], []
    # A worker that said it stopped is not listed: it is neither running nor a problem (the
    # admin keeps its row). One that went silent without a word stays under "stale" for good.
    for worker in Worker.objects.running().annotate(age=age).order_by("worker_id"):
        row = {
            "worker_id": worker.worker_id,
            "host": worker.host,
            "pid": worker.pid,
            "last_seen_seconds_ago": round(worker.age.total_seconds(), 1),
            "current_step": leased.get(worker.worker_id),
            "steps_run": worker.steps_run,
        }
        is_live = worker.age.total_seconds() <= settings.OPS_WORKER_STALE_SECONDS
        (live if is_live else stale).append(row)
    return {"live": live, "stale": stale}


def _last_heartbeat() -> dict | None:
    """The latest beat that ran, aged on the database's clock, with the duties that failed in
    it: a duty failing on every beat leaves the run `partial` and nothing else says so."""
    age = ExpressionWrapper(Now() - F("started_at"), output_field=DurationField())
    beats = ActionRun.objects.exclude(status=ActionRunStatus.SKIPPED).annotate(age=age)
    run = beats.order_by("-id").first()
    if run is None:
        return None
    return {
        "id": run.id,
        "status": run.status,
        "at": run.started_at.isoformat(),
        "seconds_ago": round(run.age.total_seconds(), 1),
        "failed_duties": [d.get("name") for d in run.duties if d.get("status") == "error"],
    }


def system_status() -> dict:
    missions = dict(Mission.objects.values_list("status").annotate(n=Count("id")).order_by())
    return {
        "queue": {
            "depths": _queue_depths(),
            "totals": {s: sum(k.values()) for s, k in _queue_depths().items()},
            "oldest_queued_age_seconds": _oldest_queued_seconds(),
            "oldest_claimable_age_seconds": oldest_claimable_seconds(),
        },
        "proposals": {
            "pending": Proposal.objects.filter(status=ProposalStatus.PENDING).count(),
            "rejections_today": _rejections_today(),
        },
        "missions": missions,
        "agents": {
            "enabled": list(Agent.objects.enabled().values_list("slug", flat=True)),
            "total": Agent.objects.count(),
        },
        # Where a reader of /api/ops/events starts (`?after=`): the newest settled event in
        # commit order, not the highest id, which passed an event still held by an open
        # transaction. 0 while none has settled.
        "last_event_id": Event.objects.last_position(),
        "workers": _workers(),
        "sweeper": sweeper_state(),
        "outbox": OutboxMessage.objects.waiting(),
        "switched_off_kinds": switched_off_kinds(),
        "unknown_in_policies": Policy.objects.unknown_names(),
        "overrides": active_overrides(),
        "health": health_snapshot(),
        "llm": llm_spend(),
        "last_heartbeat": _last_heartbeat(),
        "coding_sandbox": sandbox_state(),
    }
