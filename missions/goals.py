"""Goals' workflows: add, revise and close a goal, measure it, and sample its progress.

Each change is one transaction with its version row and its event. The CLI, the API, the
admin and the Stage call these; nothing else writes a goal.
"""

from datetime import timedelta

from django.db import transaction
from django.db.models import Count, F, Max, Q

from missions.goal_metrics import measure
from missions.goal_schemas import GoalInvalid, parse_terms
from missions.models import Goal, GoalScope, GoalSnapshot, GoalVersion, Mission
from opscore.actions import record_cap_hit, record_event
from opscore.db import db_now
from opscore.models import Agent
from opscore.text import MAX_REASON, clean_reason

SNAPSHOT_EVERY = timedelta(hours=1)
SNAPSHOT_BATCH = 100
LISTED = 200  # goals `goal list` and GET /api/ops/goals show; past it, they say how many more


def _reason(reason) -> str:
    reason = clean_reason(reason)
    if not reason:
        raise GoalInvalid({"reason": ["a reason is required"]})
    if len(reason) > MAX_REASON:
        raise GoalInvalid({"reason": [f"at most {MAX_REASON} characters"]})
    return reason


def is_agent(slug: str) -> bool:
    return Agent.objects.filter(slug=slug).exists()


def _owner(slug: str) -> Agent:
    owner = Agent.objects.filter(slug=slug).first()
    if owner is None:
        raise GoalInvalid({"owner": [f"unknown agent {slug!r}"]})
    return owner


def _version(goal: Goal, old, actor: str, reason: str) -> None:
    GoalVersion.objects.create(
        goal=goal,
        version=goal.version,
        old_value=old,
        new_value=goal.terms(),
        changed_by=actor,
        reason=reason,
    )


def _event(goal: Goal, verb: str, actor: str, payload: dict, summary: str = "") -> None:
    record_event(
        f"goal.{verb}",
        f"Goal G{goal.id} {verb}: {goal.title}",
        summary=summary,
        tags=["goal", verb],
        payload={"goal_id": goal.id, "version": goal.version} | payload,
        agent_id=goal.owner_id,
        actor=actor,
    )


@transaction.atomic
def add_goal(data, *, actor: str) -> Goal:
    terms, deadline = parse_terms(data, db_now(), is_agent=is_agent)
    goal = Goal.objects.create(
        title=terms.title,
        why=terms.why,
        metric=terms.metric,
        scope=terms.scope,
        target=terms.target,
        direction=terms.direction,
        owner=_owner(terms.owner),
        deadline_at=deadline,
        created_by=actor,
    )
    goal.refresh_from_db(fields=["starts_at", "created_at"])
    _version(goal, None, actor, "added")
    _event(goal, "added", actor, goal.terms())
    return goal


def locked_goal(goal_id) -> Goal:
    goal = Goal.objects.select_for_update().filter(pk=goal_id).first()
    if goal is None:
        raise GoalInvalid({"goal": [f"no goal {goal_id}"]})
    return goal


def revised_since(goal_id, seen_version) -> str:
    """Why terms read at `seen_version` are out of date, or ''. A form posts every term it
    showed, so saved after another revision it put back what that one changed. The row stays
    locked to the end of the caller's transaction: no revision slips in before its save."""
    goal = locked_goal(goal_id)
    if seen_version == goal.version:
        return ""
    if seen_version is None:
        return f"this form does not say which version of G{goal.id} it showed: reload it"
    last = goal.versions.first()
    return (
        f"G{goal.id} was revised since this form was opened (v{seen_version} → v{goal.version}"
        f" by {last.changed_by}: {last.reason}): nothing was saved; reload it to see the terms"
    )


@transaction.atomic
def revise_goal(goal_id: int, changes: dict, *, actor: str, reason: str) -> Goal:
    """A new version of an active goal's terms; its progress keeps counting from its start."""
    reason = _reason(reason)
    goal = locked_goal(goal_id)
    if not goal.is_active:
        raise GoalInvalid({"goal": [f"G{goal.id} is closed; add a new goal instead"]})
    changes, now = changes if isinstance(changes, dict) else {}, db_now()
    if "deadline" not in changes and goal.deadline_at <= now:  # not "the deadline you gave"
        passed = f"G{goal.id}'s deadline ({goal.deadline_at:%Y-%m-%d %H:%M} UTC) has passed"
        raise GoalInvalid({"deadline": [f"{passed}: revise it with a new one, or close it"]})
    old = goal.terms()
    merged = {k: v for k, v in old.items() if k != "deadline_at"} | {"deadline": goal.deadline_at}
    terms, deadline = parse_terms(merged | changes, now, is_agent=is_agent)
    for field in ("title", "why", "metric", "scope", "target", "direction"):
        setattr(goal, field, getattr(terms, field))
    goal.deadline_at = deadline
    goal.owner = _owner(terms.owner)
    goal.unchanged = goal.terms() == old  # what every interface's answer says (unchanged)
    if goal.unchanged:  # no new version; the request and its reason still a row
        _event(goal, "unchanged", actor, {"asked": sorted(changes)}, reason)
        return goal
    goal.version += 1
    goal.save()
    _version(goal, old, actor, reason)
    _event(goal, "revised", actor, {"old": old, "new": goal.terms()}, reason)
    return goal


def revised(goal_id: int, changes: dict, *, actor: str, reason: str) -> dict:
    """revise_goal, answered as the CLI and the API answer it: the goal, and whether the
    revision changed nothing (a retried call, the terms in force typed again), which read as
    a revision otherwise."""
    goal = revise_goal(goal_id, changes, actor=actor, reason=reason)
    return goal_state(goal) | {"unchanged": goal.unchanged}


def unchanged_note(goal_id: int, version: int) -> str:
    return f"unchanged: G{goal_id} v{version} already has these terms (the reason is kept)"


@transaction.atomic
def close_goal(goal_id: int, *, actor: str, reason: str) -> Goal:
    """Measured one last time (up to the deadline, if it has passed) and judged met or not."""
    reason = _reason(reason)
    goal = locked_goal(goal_id)
    if not goal.is_active:
        raise GoalInvalid({"goal": [f"G{goal.id} is already closed"]})
    value = current_value(goal)
    goal.close(value=value, actor=actor, reason=reason)
    GoalSnapshot.objects.create(goal=goal, value=value)
    _event(goal, "closed", actor, {"met": goal.met, "value": value, "target": goal.target}, reason)
    return goal


def current_value(goal: Goal, now=None) -> float:
    """The metric from the goal's start to now, or to its deadline once that has passed."""
    until = min(now or db_now(), goal.deadline_at)
    serving = goal.id if goal.scope == GoalScope.GOAL else None
    return measure(goal.metric, goal.starts_at, until, serving)


def snapshot_goals(deadline: float | None = None) -> dict:
    """The heartbeat's duty: each active goal not sampled within SNAPSHOT_EVERY gets a point, and
    one past its deadline one last point (not one an hour until someone closes it).
    Cheap: one query per goal that is due, at most SNAPSHOT_BATCH a beat; past it, the duty's
    row says how many are `left` for the next beat, and a `sweep.capped` row says so too."""
    cutoff = db_now() - SNAPSHOT_EVERY
    due = (
        Goal.objects.active()
        .annotate(last=Max("snapshots__taken_at"))
        # Sampled since its deadline, its value (counted to the deadline) holds: no more rows.
        .filter(Q(last__isnull=True) | Q(last__lt=cutoff) & Q(last__lt=F("deadline_at")))
        .order_by("id")
    )
    batch = list(due[: SNAPSHOT_BATCH + 1])
    for goal in batch[:SNAPSHOT_BATCH]:
        GoalSnapshot.objects.create(goal=goal, value=current_value(goal))
    if len(batch) <= SNAPSHOT_BATCH:
        return {"snapshots": len(batch)}
    left = due.count()  # sampled are not due
    record_cap_hit("snapshot_goals", SNAPSHOT_BATCH, left, actor="system:heartbeat")
    return {"snapshots": SNAPSHOT_BATCH, "left": left}


def goal_state(goal: Goal, *, value: float | None = None) -> dict:
    """The goal as every interface shows it: terms, progress now, and where it stands."""
    now = db_now()
    if value is None:
        value = goal.final_value if not goal.is_active else current_value(goal, now)
    return {
        "id": goal.id,
        "version": goal.version,
        "status": goal.status,
        **goal.terms(),
        "starts_at": goal.starts_at.isoformat(),
        "due": goal.due().isoformat(),
        "value": value,
        "progress": round(goal.progress(value), 4),
        "on_target": goal.is_met_by(value),
        "verdict": goal.verdict(value, now),
        "met": goal.met,
        "closed_at": goal.closed_at.isoformat() if goal.closed_at else None,
        "close_reason": goal.close_reason,
    }


def listed_goals(limit: int | None = None, goals=None) -> tuple[list[Goal], int]:
    """The first `limit` goals (LISTED; active first, by deadline) and how many there are in
    all, for a list cut short to say so."""
    limit = LISTED if limit is None else limit
    goals = (Goal.objects.all() if goals is None else goals).select_related("owner")
    shown = list(goals[:limit])
    return shown, len(shown) if len(shown) < limit else goals.count()


def missions_under(goal: Goal):
    return Mission.objects.filter(proposal__goal=goal).select_related("agent").order_by("-id")


def mission_counts(goal: Goal) -> dict:
    rows = missions_under(goal).values_list("status").annotate(n=Count("id")).order_by()
    return dict(rows)


def measure_changed(goal: Goal) -> GoalVersion | None:
    """The latest version that changed what the goal measures (its metric or scope)."""
    revisions = goal.versions.filter(old_value__isnull=False).order_by("-version")
    for version in revisions:
        if any(version.old_value.get(k) != version.new_value.get(k) for k in ("metric", "scope")):
            return version
    return None


def measured_snapshots(goal: Goal):
    """The snapshots taken in the goal's measure as it stands: those from before its metric or
    scope changed count something else (dollars on a line of publications)."""
    changed = measure_changed(goal)
    snapshots = goal.snapshots.all()
    return snapshots.filter(taken_at__gte=changed.changed_at) if changed else snapshots


def goal_detail(goal: Goal) -> dict:
    """goal_state plus what sits under it: missions by status, versions, recent snapshots."""
    versions = goal.versions.values("version", "changed_by", "reason", "changed_at")
    snapshots = measured_snapshots(goal).order_by("-taken_at").values("value", "taken_at")[:50]
    missions = missions_under(goal).values("id", "title", "status", "agent_id")[:50]
    return goal_state(goal) | {
        "missions_by_status": mission_counts(goal),
        "missions": list(missions),
        "versions": list(versions),
        "snapshots": list(snapshots),
    }
