"""What the cross-lane standing orders do (health check, daily digest), and the generic handler
every other order uses. The execution lane's own orders are in missions.orders."""

from datetime import timedelta

from django.db.models import Count
from django.db.models.functions import Now

from console.accountability import accountability_digest, risk_alerts
from console.typed_orders import typed_result
from missions.breaker import switched_off_kinds
from missions.goals import goal_state, listed_goals
from missions.models import (
    Artifact,
    Goal,
    Mission,
    Proposal,
    ProposalStatus,
    Publication,
    PublicationStatus,
    Step,
    StepStatus,
    Worker,
)
from missions.models.goals import figure
from opportunities.packets import window_start_id
from opscore.models import SWITCHED_OFF, Event, Policy, RunStatus
from opscore.standing_orders import PRECONDITIONS, RunResult

DAY = timedelta(hours=24)
DIGEST_GOALS = 20  # goals the daily digest lists, due first; past it, it says how many more


def health_check(order, run):
    live = Worker.objects.live().count()
    depth = Step.objects.filter(status=StepStatus.QUEUED).count()
    evidence = {
        "database": "ok",
        "live_workers": live,
        "queued_steps": depth,
        "switched_off_kinds": switched_off_kinds(),
    }
    evidence["alerts"] = risk_alerts(f"{run.local_slot():%F}")
    summary = f"database ok, {live} live worker(s), {depth} queued step(s)"
    return RunResult(RunStatus.COMPLETED, summary, evidence)


def daily_digest(order, run):
    since = Now() - timedelta(hours=24)
    missions = dict(
        Mission.objects.filter(finished_at__gte=since)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    refused = Proposal.objects.filter(status=ProposalStatus.REJECTED)
    rejected = refused.filter(created_at__gte=since).count()
    events = Event.objects.filter(id__gt=window_start_id(run.scheduled_for - DAY)).count()
    accountability = accountability_digest(run.scheduled_for - DAY, f"{run.local_slot():%F}", run)
    goals = goal_lines()
    if not missions and not rejected and not goals:
        evidence = {"events": events, "accountability_notice": accountability.id}
        return RunResult(RunStatus.NO_WORK, "nothing finished in the last 24 hours", evidence)
    lines = [
        f"Missions finished: {sum(missions.values())} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(missions.items()))})",
        f"Proposals rejected: {rejected}",
        f"Events recorded: {events}",
        posts_line(since),
        *goals,
    ]
    digest = Artifact.objects.create(
        kind="digest",
        title=f"Daily digest for {run.local_slot():%Y-%m-%d}",
        body="\n".join(lines),
        metadata={
            "missions": missions,
            "rejected": rejected,
            "goals": Goal.objects.active().count(),
        },
        standing_order_run=run,
    )
    evidence = {"artifact_id": digest.id, "accountability_notice": accountability.id}
    return RunResult(RunStatus.COMPLETED, lines[0], evidence)


def posts_line(since) -> str:
    """Posts by what became of them, in the words the Stage uses: a post that never left this
    machine reads "recorded locally, not published", never "posted"."""
    counts = dict(
        Publication.objects.filter(created_at__gte=since)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    labels = dict(PublicationStatus.choices)
    said = ", ".join(f"{n} {labels.get(status, status)}" for status, n in sorted(counts.items()))
    return f"Posts: {said or 'none'}"


def goal_lines() -> list[str]:
    """Per active goal: where its metric stands against the target, and by when."""
    goals, total = listed_goals(DIGEST_GOALS, Goal.objects.active())
    if not goals:
        return []
    lines = ["Goals:"]
    for goal in goals:
        state = goal_state(goal)
        lines.append(
            f"- G{goal.id} {goal.title}: {goal.metric} {figure(state['value'])} of "
            f"{figure(goal.target)} "
            f"({goal.get_direction_display()}, {state['progress']:.0%}, "
            f"{state['verdict']}), due {goal.due():%F}, "
            f"owner {goal.owner_id}"
        )
    if more := total - len(goals):
        lines.append(
            f"- and {more} more active goal{'s' if more > 1 else ''} (goal list shows them all)"
        )
    return lines


def _since_last_run(order, run):
    """Since the previous run that looked (a folded run did not look: its evidence waits; nor
    did a slot its agent's off switch stopped): when, and the event log position it looked
    from (None before runs recorded one)."""
    previous = (
        order.runs.filter(scheduled_for__lt=run.scheduled_for)
        .exclude(status__in=[RunStatus.MISSED, RunStatus.SKIPPED])
        .exclude(evidence__has_key="folded")
        .exclude(SWITCHED_OFF)
        .order_by("-scheduled_for")
        .first()
    )
    if previous is None:
        return order.created_at, None
    # From when the previous run looked, not its slot: what it already saw is not news again.
    since = previous.started_at or previous.scheduled_for
    return since, previous.evidence.get("checked", {}).get("after_event")


def folded_into_next(order, run) -> RunResult | None:
    """Within the interval since this order last asked its model (a run with a typed `result`),
    it does not look: whatever is new is carried by the next run after the interval (which looks
    back to the last look), so an hourly order spends neither proposals nor calls on every hour."""
    interval = Policy.objects.value("standing_order_policy").min_minutes_between_proposals
    last = (
        order.runs.filter(scheduled_for__lt=run.scheduled_for, evidence__has_key="result")
        .order_by("-scheduled_for")
        .first()
    )
    if (
        not interval
        or last is None
        or last.scheduled_for <= run.scheduled_for - timedelta(minutes=interval)
    ):
        return None
    until = last.scheduled_for + timedelta(minutes=interval)
    why = f"folded: looked at {last.scheduled_for:%H:%M}; the next look is after {until:%H:%M}"
    checked = {"interval_minutes": interval, "last_look": last.id}
    return RunResult(
        RunStatus.NO_WORK, why, {"folded": True, "last_proposal_run": last.id, "checked": checked}
    )


def ask_for_work(order, run):
    """A generic order looks at what its precondition finds and answers with one typed result
    (console.typed_orders): nothing found is `no_work` with what was checked, and no model call.
    A disabled agent's order never gets here (standing_orders.agent_disabled)."""
    folded = folded_into_next(order, run)
    if folded is not None:
        return folded
    check = PRECONDITIONS.get(order.precondition)
    if check is None:
        why = (
            f"unknown precondition {order.precondition!r}"
            if order.precondition
            else ("no precondition: a generic order needs something to look at")
        )
        return RunResult(RunStatus.FAILED, why)
    since, after_event = _since_last_run(order, run)
    looked_at = Event.objects.last_position()  # taken first: what settles meanwhile comes next
    rows = check(order, since, after_event=after_event)
    checked = {"precondition": order.precondition, "since": since.isoformat(), "rows": len(rows)}
    checked["after_event"] = looked_at
    if not rows:
        return RunResult(
            RunStatus.NO_WORK, f"{order.precondition}: nothing found", {"checked": checked}
        )
    return typed_result(order, run, rows, since, checked)


BUILTIN_HANDLERS = {
    "health_check": health_check,
    "daily_digest": daily_digest,
    "generic": ask_for_work,
}
