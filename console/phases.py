"""Bootstrap phases and their gates: each phase has exit criteria read
from the database, and the next phase refuses to start until they pass (or an operator forces
it, which is recorded)."""

from datetime import timedelta

from django.db.models import Count

from console import phase_criteria as seed
from console.phase_criteria import Criterion
from memory.models import Decision, Memory, MemoryCandidate, MemoryReview, Visibility
from missions.models import AttemptOutcome, Step, StepAttempt, StepStatus, Worker
from opportunities.models import Idea, Opportunity
from opscore.db import db_now
from opscore.models import LLMCall, Policy, RunStatus, StandingOrder
from opscore.schedule_math import latest_slot

HOW = {
    "a step went queued → succeeded": "give any task (Stage → Give task, or "
    "`.venv/bin/opscore propose`) while `make run` is up; a worker runs it",
    "standing orders proved their last window": "keep `make run` up through each order's next "
    "slot, or run one now: `.venv/bin/opscore run_order NAME`; a failed run's summary says why",
    "no unexplained dead steps": "open Steps in the admin (status dead) and retry or dead-letter "
    "them with a reason",
    "a fresh worker liveness row": "start the workers: `make run` "
    "(or `.venv/bin/opscore supervise`)",
    "a lease was recovered": "prove recovery once: while a step runs, stop the worker running "
    "it (admin → Workers shows its pid); the supervisor (`make run`, or `.venv/bin/opscore "
    "supervise`) starts a new one and the lease reaper releases the step",
    "memory candidates cite resolvable evidence": "let the `*-memory-extract` orders or a "
    "roundtable run (`.venv/bin/opscore converse …`), or propose one with evidence via agentbus",
    "the promotion gate made decisions": "run the gate: `.venv/bin/opscore run_order "
    "knowledge-memory-promote` (or `memory promote ID`)",
    "prompts carried memories": "run any LLM step after a memory was promoted",
    "active memories within their caps": "run the gate again; it archives beyond the caps",
    "at least three agents created ideas or opportunities": "let the scouts run "
    "(`.venv/bin/opscore run_order devops-automation-opportunities`, …) or `agentbus create-idea`",
    "an opportunity became a real mission": "run the ranking "
    "(`.venv/bin/opscore run_order coord-opportunity-ranking`) or convert one in the admin",
    "no two active memories share a dedupe key": "supersede or merge the duplicates "
    "(`.venv/bin/opscore memory supersede OLD --by NEW --reason …`)",
}


def with_how(criterion: Criterion) -> Criterion:
    if criterion.passed or criterion.how:
        return criterion
    how = HOW.get(criterion.name, "build that phase first, or `--force` (recorded)")
    return Criterion(criterion.name, criterion.passed, criterion.detail, how)


def step_went_through() -> Criterion:
    done = StepAttempt.objects.filter(outcome=AttemptOutcome.SUCCEEDED).count()
    return Criterion("a step went queued → succeeded", done > 0, f"{done} succeeded attempt(s)")


def orders_accounted_for(phase: int) -> Criterion:
    """Each enabled order proved its last window — or owes none yet: a monthly order created
    after this month's slot has nothing to prove until next month's (that is not a failure)."""
    orders = StandingOrder.objects.filter(phase__lte=phase, enabled=True).select_related("agent")
    if not orders:
        return Criterion("standing orders proved their last window", False, "no orders exist")
    now = db_now()
    failing, not_due = [], []
    for order in orders:
        verdict, said = last_window(order, now)
        if verdict != "proved":
            (failing if verdict == "failing" else not_due).append(said)
    proved = len(orders) - len(failing) - len(not_due)
    detail = "; ".join(failing) or f"{proved} order(s) completed or no_work"
    if not_due and not failing:
        detail += f"; not due yet: {', '.join(not_due)}"
    return Criterion("standing orders proved their last window", not failing, detail)


def last_window(order: StandingOrder, now) -> tuple[str, str]:
    """("proved" | "not_due" | "failing", what to say). The last finished run proves only its
    own slot: a later one past its grace with no run at all (the system, and the gap check
    with it, were stopped) has not been proved. A run still going at that slot is let be."""
    last = order.runs.exclude(status=RunStatus.STARTED).order_by("-scheduled_for").first()
    first = order.first_slot()
    if last is None and first > now:
        return "not_due", f"{order.name} (first slot {first:%Y-%m-%d %H:%M} UTC)"
    if last is None or last.status not in (RunStatus.COMPLETED, RunStatus.NO_WORK):
        return "failing", f"{order.name}: {last.status if last else 'never ran'}"
    due = latest_slot(order.cron, order.timezone, now - timedelta(minutes=order.grace_minutes))
    if first <= due > last.scheduled_for and not order.runs.filter(scheduled_for=due).exists():
        return "failing", f"{order.name}: nothing ran its {due:%Y-%m-%d %H:%M} UTC slot"
    return "proved", ""


def dead_steps_explained() -> Criterion:
    unexplained = Step.objects.filter(status=StepStatus.DEAD, last_error="").count()
    dead = Step.objects.filter(status=StepStatus.DEAD).count()
    return Criterion(
        "no unexplained dead steps", unexplained == 0, f"{dead} dead, {unexplained} unexplained"
    )


def fresh_worker() -> Criterion:
    fresh = Worker.objects.live().count()
    return Criterion("a fresh worker liveness row", fresh > 0, f"{fresh} live worker(s)")


def lease_recovered() -> Criterion:
    lost = StepAttempt.objects.filter(outcome=AttemptOutcome.LOST).count()
    return Criterion("a lease was recovered", lost > 0, f"{lost} lost attempt(s) recovered")


def candidates_with_evidence() -> Criterion:
    cited = MemoryCandidate.objects.exclude(evidence=[]).count()
    return Criterion("memory candidates cite resolvable evidence", cited > 0, f"{cited} cited")


def gate_decided() -> Criterion:
    decided = MemoryReview.objects.exclude(decision=Decision.SKIPPED).count()
    return Criterion("the promotion gate made decisions", decided > 0, f"{decided} decision(s)")


def memories_injected() -> Criterion:
    calls = LLMCall.objects.filter(injected__memory_ids__0__isnull=False).count()
    return Criterion("prompts carried memories", calls > 0, f"{calls} call(s) with memories")


def within_caps() -> Criterion:
    policy = Policy.objects.value("memory_policy")
    active = Memory.objects.active()
    private = active.filter(visibility=Visibility.PRIVATE)
    over = []  # what an outside runtime wrote is capped apart from the rest
    for pool, cap in (
        (private.by_runtime(False), policy.max_active_per_agent),
        (private.by_runtime(), policy.max_active_from_runtime_per_agent),
    ):
        per_agent = pool.values("agent").annotate(n=Count("id"))
        over += [row["agent"] for row in per_agent if row["n"] > cap and row["agent"] not in over]
    detail = f"over the cap: {', '.join(over)}" if over else f"{active.count()} active memories"
    return Criterion("active memories within their caps", not over, detail)


def no_duplicate_keys() -> Criterion:
    twice = (
        Memory.objects.active()
        .exclude(dedupe_key=None)
        .values("dedupe_key")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    return Criterion("no two active memories share a dedupe key", twice == 0, f"{twice} shared")


def proactive_voices() -> Criterion:
    sources = set(Opportunity.objects.values_list("source_agent", flat=True))
    sources |= set(Idea.objects.values_list("source_agent", flat=True))
    return Criterion(
        "at least three agents created ideas or opportunities",
        len(sources) >= 3,
        f"{len(sources)} agent(s): {', '.join(sorted(sources)) or 'none'}",
    )


def converted_to_work() -> Criterion:
    converted = Opportunity.objects.filter(status="converted", proposal__mission__isnull=False)
    count = converted.count()
    return Criterion("an opportunity became a real mission", count > 0, f"{count} converted")


def phase_four() -> list[Criterion]:
    return [
        candidates_with_evidence(),
        gate_decided(),
        memories_injected(),
        within_caps(),
        no_duplicate_keys(),
    ]


GATES = {
    1: lambda: [
        step_went_through(),
        orders_accounted_for(1),
        dead_steps_explained(),
        fresh_worker(),
        lease_recovered(),
        seed.digest_readable(),
        seed.held_for(1),
    ],
    2: lambda: [
        step_went_through(),
        orders_accounted_for(2),
        dead_steps_explained(),
        fresh_worker(),
        seed.every_agent_has_evidence(),
        seed.held_for(2),
    ],
    3: lambda: [
        proactive_voices(),
        converted_to_work(),
        dead_steps_explained(),
        seed.digests_not_spammy(),
        seed.held_for(3),
    ],
    4: lambda: [*phase_four(), seed.memories_in_three_roles(), seed.held_for(4)],
    5: lambda: [
        orders_accounted_for(5),
        dead_steps_explained(),
        seed.idle_idea_surfaced(),
        seed.idle_under_budget(),
        seed.vault_matches_database(),
        seed.held_for(5),
    ],
}


def check_phase(phase: int) -> list[Criterion]:
    if phase not in GATES:
        raise ValueError(f"phase {phase} has no exit criteria yet (known: {sorted(GATES)})")
    return [with_how(c) for c in GATES[phase]()]


def criteria_before(phase: int) -> list[Criterion]:
    """The previous phase's criteria; a phase not built yet is one failing criterion."""
    try:
        return check_phase(phase - 1)
    except ValueError:
        name = f"phase {phase - 1} exists"
        return [with_how(Criterion(name, False, f"phase {phase - 1} is not built yet"))]
