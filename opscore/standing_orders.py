"""Standing orders: run each expected slot once and prove how it ended, or that it did not run.

A slot is claimed by inserting its row (unique on order + scheduled_for), so two firings of the
same slot never both run. A slot whose predecessor is still running is recorded `skipped`; a slot
with no row after its grace period is recorded `missed` by the gap check (never replayed, so
downtime does not cause a flood); a `started` run past its timeout becomes `failed`.
"""

import dataclasses
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Now

from opscore.actions import record_cap_hit, record_event
from opscore.db import db_now
from opscore.lanes import DROP, Pause, lane_of_handler, pause_of
from opscore.models import (
    RUN_TERMINAL,
    Agent,
    Override,
    RunStatus,
    StandingOrder,
    StandingOrderRun,
)
from opscore.models.standing_orders import FIRST_SLOT_LEEWAY
from opscore.redaction import redact, redact_text
from opscore.registry import Registry
from opscore.schedule_math import latest_slot
from opscore.switch_checks import SwitchedMidCall, asked_after_calls

log = logging.getLogger(__name__)
LOOKBACK = timedelta(hours=24)  # a new order's first look back; then its cursor's
GAP_SLOTS = 1440  # slots an order a gap check: a day of an order every minute


@dataclass(frozen=True)
class RunResult:
    status: str
    summary: str = ""
    evidence: dict = field(default_factory=dict)
    mission: object = None


Handler = Callable[[StandingOrder, StandingOrderRun], RunResult]
# What an order's `handler` names, and the precondition queries a generic order may name
# ("is there anything for this order to look at?", called with the order, the time of its last
# look and `after_event`, that look's place in the event log or None); the apps that own the
# work register them.
HANDLERS: Registry = Registry("standing-order handler")
PRECONDITIONS: Registry = Registry("standing-order precondition")
# A handler whose work is allowed longer than an order's default timeout names the least its
# runs may take (a timedelta): a backup's pg_dump has an hour (operations.backups).
DEADLINES: Registry = Registry("standing-order deadline")


def order_deadline(order: StandingOrder) -> timedelta:
    """How long a run of this order may take: its own timeout, or its handler's, the longer.
    The gap check fails a run past it, and the order's django-q2 task is given it
    (opscore.schedules): a 30-minute default, or the cluster's 10, killed a backup whose pg_dump
    was still within its hour, and left its run `started` for a later check to fail."""
    floor = DEADLINES.get(order.handler, timedelta(0))
    return max(timedelta(minutes=order.timeout_minutes), floor)


def start_run(order: StandingOrder, scheduled_for, evidence=None) -> StandingOrderRun | None:
    """Claim a slot. None if it already has a row; a `skipped` row if the last run is open.
    `evidence`: what the row says from the start (who recorded it, for a runtime's run)."""
    evidence = evidence or {}
    try:
        with transaction.atomic():
            open_run = order.runs.filter(status=RunStatus.STARTED).first()
            if open_run is not None:
                return StandingOrderRun.objects.create(
                    order=order,
                    scheduled_for=scheduled_for,
                    status=RunStatus.SKIPPED,
                    summary=f"previous run for {open_run.scheduled_for:%Y-%m-%d %H:%M} "
                    "is still running",
                    evidence=evidence,
                    finished_at=Now(),
                )
            return StandingOrderRun.objects.create(
                order=order,
                scheduled_for=scheduled_for,
                status=RunStatus.STARTED,
                evidence=evidence,
                started_at=Now(),
            )
    except IntegrityError:
        return None  # this slot already has its row: it ran (or is running) elsewhere


def finish_run(run: StandingOrderRun, result: RunResult) -> bool:
    """Close a started run; a run already closed (e.g. timed out) is left as it is. The work a
    run waits on stays named when a result names none (a timeout): its end is news later."""
    kept = {"mission": result.mission} if result.mission is not None else {}
    changed = StandingOrderRun.objects.filter(pk=run.pk, status=RunStatus.STARTED).update(
        status=result.status,
        summary=redact_text(result.summary)[:5000],
        evidence=redact(result.evidence),
        finished_at=None if result.status == RunStatus.STARTED else Now(),
        **kept,
    )
    run.refresh_from_db()
    if changed and run.status in RUN_TERMINAL:
        record_event(
            f"standing_order.{run.status}",
            f"{run.order}: {run.status}",
            summary=run.summary,
            tags=["standing_order", run.status, run.order.name],
            payload={"run_id": run.id, "scheduled_for": run.scheduled_for.isoformat()}
            | untrusted_mark(run),
            agent_id=run.order.agent_id,
            actor=f"agent:{run.order.agent_id}",
        )
    return bool(changed)


def untrusted_mark(run: StandingOrderRun) -> dict:
    """A run whose evidence says its words are not Opscore's own (its model read untrusted
    rows, or an outside runtime reported it) ends in an event that says so: a trigger or a
    reaction answering it proposes work that waits for a person."""
    why = run.evidence.get("untrusted")
    return {"untrusted": why} if why else {}


def execute_run(run: StandingOrderRun) -> StandingOrderRun:
    order = run.order
    work = HANDLERS.get(order.handler)
    if work is None:
        finish_run(run, RunResult(RunStatus.FAILED, f"no handler named {order.handler!r}"))
        return run
    stopped = switched_off(order)
    if stopped is not None:
        finish_run(run, stopped)
        return run
    try:
        with asked_after_calls(lambda: switched_off(order)):
            result = work(order, run)
    except SwitchedMidCall as switched:
        result = thrown_mid_call(switched.said)
    except Exception as error:  # the run records the failure; the scheduler goes on
        log.exception("standing order %s failed", order)
        detail = "".join(traceback.format_exception_only(error)).strip()
        result = RunResult(RunStatus.FAILED, detail)
    if not finish_run(run, result):
        keep_late_result(run, result)
    return run


def switched_off(order: StandingOrder) -> RunResult | None:
    """How the run ends when a switch says the order may not work now, or None."""
    return agent_disabled(order) or held_by_pause(order)


def thrown_mid_call(stopped: RunResult) -> RunResult:
    """A switch thrown while the handler's model call was out: the run ends as the switch
    says (held for the lift, no work), naming when it was thrown; the reply was never applied."""
    said = "the switch was thrown while its model call was out; the reply was not applied"
    return dataclasses.replace(stopped, summary=f"{stopped.summary} ({said})")


def keep_late_result(run: StandingOrderRun, result: RunResult) -> None:
    """The handler finished after its run was closed: the gap check failed it past its
    deadline while a manual `run_order` (no cluster timeout) still worked. Its work happened
    (a mission, a backup): what it says is kept on the run and in an event, not dropped."""
    said = redact_text(result.summary)[:2000]
    late = {"status": result.status, "summary": said, "evidence": redact(result.evidence)}
    StandingOrderRun.objects.filter(pk=run.pk).update(
        summary=f"{run.summary}; its handler finished later: {result.status} — {said}"[:5000],
        evidence=run.evidence | {"late_result": late},
    )
    run.refresh_from_db()
    record_event(
        "standing_order.late_result",
        f"{run.order}: its handler finished after the run was {run.status}",
        summary=f"{result.status}: {said}",
        tags=["standing_order", "late_result", run.order.name],
        payload={"run_id": run.id, "mission_id": getattr(result.mission, "pk", None)},
        agent_id=run.order.agent_id,
        actor=f"agent:{run.order.agent_id}",
    )


# Orders that are the agent's own work (a model answering as the agent): the generic order and
# every lane's handlers. The others (backups, the lease reaper, the gap check, health checks,
# restore drills, digests of rows) are the house's upkeep, which an agent only owns on paper.
AGENTS_OWN = "generic"


def acts_as_agent(handler: str) -> bool:
    return handler == AGENTS_OWN or bool(lane_of_handler(handler))


def agent_disabled(order: StandingOrder) -> RunResult | None:
    """One check for every order that is the agent's own work: a disabled agent's slot is
    `no_work` saying why (and which override, if one holds the switch), and no handler runs —
    no model call, nothing kept. Read fresh: the agent may have been disabled since the order
    loaded. The house's upkeep keeps running: disabling the auditor must not stop the lease
    reaper nor disabling devops the nightly backup."""
    if not acts_as_agent(order.handler):
        return None
    agent = Agent.objects.get(pk=order.agent_id)
    if agent.enabled:
        return None
    held = Override.objects.holding(agent.slug, "enabled")
    why = Override.objects.why_disabled(agent.slug)
    # what it checked is the switch, no work: SWITCHED_OFF tells such a slot from a real look
    checked = {"agent": agent.slug, "enabled": False} | ({"override": held.id} if held else {})
    return RunResult(RunStatus.NO_WORK, why, {"checked": checked})


def held_by_pause(order: StandingOrder) -> RunResult | None:
    pause = pause_of(lane_of_handler(order.handler))
    return held_or_dropped(pause) if pause is not None else None


def held_or_dropped(pause: Pause) -> RunResult:
    """A slot of a paused lane's order: held until the pause ends (queue), or skipped (drop)."""
    evidence = {"lane": pause.lane, "mode": pause.mode, "override": pause.override_id}
    if pause.mode == DROP:
        return RunResult(RunStatus.SKIPPED, f"dropped: {pause.why}", evidence)
    why = f"held: {pause.why}; runs when the pause ends"
    return RunResult(RunStatus.BLOCKED, why, evidence | {"held_by_lane": pause.lane})


def held_runs():
    return StandingOrderRun.objects.filter(
        status=RunStatus.BLOCKED, evidence__has_key="held_by_lane"
    ).select_related("order", "order__agent")


def release_held_runs(lane: str) -> int:
    """When a lane's pause ends, each order's held slots fold into its latest one, which a
    timer then runs (`opscore.tasks.run_held_orders`, every minute): the order looks back to
    its last real look, so nothing the pause held is lost, and a long pause is no flood."""
    folded = 0
    held = list(
        held_runs().filter(evidence__held_by_lane=lane).order_by("order_id", "-scheduled_for")
    )
    for run in held:
        latest = next(r for r in held if r.order_id == run.order_id)
        if run is not latest:
            note = f"folded into the held slot {latest.scheduled_for:%Y-%m-%d %H:%M}"
            folded += StandingOrderRun.objects.filter(pk=run.pk, status=RunStatus.BLOCKED).update(
                status=RunStatus.SKIPPED, summary=f"{run.summary}; {note}"[:5000]
            )
    return folded


def run_held_orders(deadline: float = 0, limit: int = 20) -> dict:
    """Each held slot whose lane runs again is run now, oldest first (at most `limit` a call;
    `deadline` is time.monotonic(), 0 none). The slots of lanes still paused are left out of
    the query, not out of the cap: behind a long pause's slots, a lane whose pause had ended
    waited for that other pause to end too. A call cut short leaves a row of what waits."""
    held = held_runs()
    lanes = set(held.order_by().values_list("evidence__held_by_lane", flat=True).distinct())
    runnable = held.exclude(evidence__held_by_lane__in=[x for x in lanes if pause_of(x)])
    batch = list(runnable.order_by("scheduled_for", "id")[: limit + 1])
    ran, looked_at = [], 0
    for run in batch[:limit]:
        looked_at += 1
        if pause_of(run.evidence["held_by_lane"]) is None and reopen(run):
            ran.append(execute_run(run).id)
        if deadline and time.monotonic() > deadline:
            break
    if len(batch) > looked_at:
        record_cap_hit("run_held_orders", limit, runnable.count(), actor="system:standing-orders")
    return {"ran": ran}


def reopen(run: StandingOrderRun) -> bool:
    """A held slot back to `started`, unless something else moved it since it was read."""
    reopened = StandingOrderRun.objects.filter(pk=run.pk, status=RunStatus.BLOCKED).update(
        status=RunStatus.STARTED, started_at=Now(), finished_at=None
    )
    if reopened:
        run.refresh_from_db()
    return bool(reopened)


def fire(order: StandingOrder, now=None) -> StandingOrderRun | None:
    """Run the order's latest due slot, if nobody has."""
    now = now or db_now()
    slot = latest_slot(order.cron, order.timezone, now + timedelta(seconds=1))
    if slot < order.created_at - FIRST_SLOT_LEEWAY:
        return None  # the first slot due is the first one after the order was created
    if now > slot + timedelta(minutes=order.grace_minutes):
        # Fired late (downtime, a stuck timer): past its grace a slot is missed, never run
        # late, whichever process gets to it first — this one or the gap check.
        record_missed_slots(order, now)
        return order.runs.filter(scheduled_for=slot).first()
    run = start_run(order, slot)
    if run is None or run.status != RunStatus.STARTED:
        return run
    return execute_run(run)


def check_gaps(now=None, limit: int = GAP_SLOTS) -> dict:
    """Record every expected slot past its grace with no row as `missed` (at most `limit` an
    order a call), and every run still `started` past its timeout as `failed`. Slots are
    judged against the fixed schedule."""
    now = now or db_now()
    counts = {"missed": 0, "timed_out": 0}
    for order in StandingOrder.objects.filter(enabled=True).select_related("agent"):
        counts["missed"] += record_missed_slots(order, now, limit)
    # a disabled order owes nothing: enabled again, it is looked back over as a new one is
    disabled = StandingOrder.objects.filter(enabled=False, gaps_checked_until__isnull=False)
    disabled.update(gaps_checked_until=None)
    # Every order's, enabled or not: a run whose process died just before its order was
    # turned off would otherwise read `started` for ever.
    open_runs = StandingOrderRun.objects.filter(status=RunStatus.STARTED).select_related("order")
    for run in open_runs:
        deadline = order_deadline(run.order)
        if run.started_at and run.started_at < now - deadline:
            minutes = int(deadline.total_seconds() // 60)
            counts["timed_out"] += finish_run(
                run, RunResult(RunStatus.FAILED, f"timed out after {minutes} min", waited_on(run))
            )
    return counts


def waited_on(run: StandingOrderRun) -> dict:
    """What a run timed out with: its evidence, and the mission it was waiting on, whose end
    is still told to it when it comes (missions.orders.close_finished_missions)."""
    return run.evidence | ({"waiting_on_mission": run.mission_id} if run.mission_id else {})


def unrun_slots(order: StandingOrder, since, now) -> list:
    """Slots of `order` in (since, now - grace] that have no run row: missed, whether or not
    the gap check has recorded them yet (it runs only while the system does)."""
    since = max(order.created_at, since)
    until = now - timedelta(minutes=order.grace_minutes)
    due = order.expected_slots(since, until)
    runs = order.runs.filter(scheduled_for__gt=since, scheduled_for__lte=until)
    have = set(runs.values_list("scheduled_for", flat=True))
    return [slot for slot in due if slot not in have]


def record_missed_slots(order: StandingOrder, now, limit: int = GAP_SLOTS) -> int:
    """Each slot past its grace since the order's cursor with no row becomes `missed` (looked
    at first: since its creation, at most LOOKBACK back). At most `limit` slots a call: the
    cursor stops at the last one looked at, so the next call goes on from there, and a call
    cut short leaves a row saying how many wait."""
    since = max(order.created_at, order.gaps_checked_until or now - LOOKBACK)
    until = now - timedelta(minutes=order.grace_minutes)
    due = order.expected_slots(since, until, limit + 1)
    if len(due) > limit:
        due = due[:limit]
        waiting = len(order.expected_slots(due[-1], until))
        record_cap_hit(f"check_gaps:{order}", limit, waiting, actor="system:gap_check")
    # written when a slot was looked at (or on the first look), not on every call of a minute
    checked = due[-1] if due else (until if order.gaps_checked_until is None else None)
    if checked is not None:
        moved = Q(gaps_checked_until__isnull=True) | Q(gaps_checked_until__lt=checked)
        StandingOrder.objects.filter(moved, pk=order.pk).update(gaps_checked_until=checked)
    return record_missing(order, due, now)


def record_missing(order: StandingOrder, due: list, now) -> int:
    have = set(order.runs.filter(scheduled_for__in=due).values_list("scheduled_for", flat=True))
    missing = [slot for slot in due if slot not in have]
    if not missing:
        return 0
    StandingOrderRun.objects.bulk_create(
        [
            StandingOrderRun(
                order=order,
                scheduled_for=slot,
                status=RunStatus.MISSED,
                summary="no run started within the grace period",
                finished_at=now,
            )
            for slot in missing
        ],
        ignore_conflicts=True,
    )
    record_event(
        "standing_order.missed",
        f"{order}: {len(missing)} slot(s) did not run",
        tags=["standing_order", "missed", order.name],
        payload={"slots": [s.isoformat() for s in missing[:20]]},
        agent_id=order.agent_id,
        actor="system:gap_check",
    )
    return len(missing)
