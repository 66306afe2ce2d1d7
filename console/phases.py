"""Bootstrap phases and their gates: each phase has exit criteria read
from the database, and the next phase refuses to start until they pass (or an operator forces
it, which is recorded)."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models.functions import Now

from missions.models import AttemptOutcome, Step, StepAttempt, StepStatus, Worker
from opscore.models import RunStatus, StandingOrder


@dataclass(frozen=True)
class Criterion:
    name: str
    passed: bool
    detail: str


def step_went_through() -> Criterion:
    done = StepAttempt.objects.filter(outcome=AttemptOutcome.SUCCEEDED).count()
    return Criterion("a step went queued → succeeded", done > 0, f"{done} succeeded attempt(s)")


def orders_accounted_for(phase: int) -> Criterion:
    orders = StandingOrder.objects.filter(phase__lte=phase, enabled=True).select_related("agent")
    failing = []
    for order in orders:
        last = order.runs.exclude(status=RunStatus.STARTED).order_by("-scheduled_for").first()
        if last is None or last.status not in (RunStatus.COMPLETED, RunStatus.NO_WORK):
            failing.append(f"{order.name}: {last.status if last else 'never ran'}")
    if not orders:
        return Criterion("standing orders proved their last window", False, "no orders exist")
    detail = "; ".join(failing) or f"{len(orders)} order(s) completed or no_work"
    return Criterion("standing orders proved their last window", not failing, detail)


def dead_steps_explained() -> Criterion:
    unexplained = Step.objects.filter(status=StepStatus.DEAD, last_error="").count()
    dead = Step.objects.filter(status=StepStatus.DEAD).count()
    return Criterion(
        "no unexplained dead steps", unexplained == 0, f"{dead} dead, {unexplained} unexplained"
    )


def fresh_worker() -> Criterion:
    fresh = Worker.objects.filter(
        last_seen_at__gte=Now() - timedelta(seconds=settings.OPS_WORKER_STALE_SECONDS)
    ).count()
    return Criterion("a fresh worker liveness row", fresh > 0, f"{fresh} live worker(s)")


def lease_recovered() -> Criterion:
    lost = StepAttempt.objects.filter(outcome=AttemptOutcome.LOST).count()
    return Criterion("a lease was recovered", lost > 0, f"{lost} lost attempt(s) recovered")


GATES = {
    1: lambda: [
        step_went_through(),
        orders_accounted_for(1),
        dead_steps_explained(),
        fresh_worker(),
        lease_recovered(),
    ],
    2: lambda: [
        step_went_through(),
        orders_accounted_for(2),
        dead_steps_explained(),
        fresh_worker(),
    ],
}


def check_phase(phase: int) -> list[Criterion]:
    if phase not in GATES:
        raise ValueError(f"phase {phase} has no exit criteria yet (known: {sorted(GATES)})")
    return GATES[phase]()
