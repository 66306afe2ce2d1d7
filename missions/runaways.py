"""Runaway detectors (a heartbeat duty): the loop feeding on itself is stopped by an Override
row whose reason names the evidence, and the override's event is the alert.

- ping-pong: two agents' reactions and triggers proposing work for each other, both ways;
- an agent waking itself: work caused by its own events;
- a reaction storm: more reactions a minute than the policy allows (pauses the lane);
- the same proposal title repeating: pauses the rule or pair that keeps proposing it, or,
  when a person or the API sends it, raises the alert alone.
"""

from datetime import timedelta

from django.db.models import Count
from django.db.models.functions import Now

from missions.models import Proposal, ProposalSource, Reaction, TriggerRule
from missions.override_kinds import SYSTEM, pair_of
from opscore.actions import record_event
from opscore.models import Event, Policy
from opscore.overrides import OverrideRefused, apply_override, in_force

ACTOR = "system:runaway-detector"
LOOP_SOURCES = [ProposalSource.REACTION, ProposalSource.TRIGGER]


def detect_runaways(deadline: float = 0) -> dict:
    policy = Policy.objects.value("runaway_policy")
    if not policy.enabled:
        return {"enabled": False}
    window = Now() - timedelta(minutes=policy.window_minutes)
    recent = Proposal.objects.filter(created_at__gte=window)
    paused = [
        *loop_pairs(recent, policy),
        *storm(policy),
        *repeated_titles(recent, policy),
    ]
    return {"paused": [p for p in paused if p]}


def pause(kind: str, target: str, reason: str, policy) -> str | None:
    if in_force(kind, target) is not None:
        return None
    try:
        row = apply_override(
            kind, target, reason=reason, actor=ACTOR, expires=f"{policy.pause_minutes}m"
        )
    except OverrideRefused:
        return None
    return f"{kind} {row.target} (override {row.id})"


def loop_pairs(recent, policy) -> list:
    rows = (
        recent.filter(source__in=LOOP_SOURCES, cause_event__agent__isnull=False)
        .values("cause_event__agent_id", "agent_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {(r["cause_event__agent_id"], r["agent_id"]): r["n"] for r in rows}
    found = []
    for (cause, agent), n in counts.items():
        if cause == agent and n >= policy.self_wake:
            why = f"{agent} woke itself {n} times in {policy.window_minutes} min"
            found.append(pause("pause_pair", pair_of(agent, agent), why, policy))
        back = counts.get((agent, cause), 0)
        if cause < agent and min(n, back) >= policy.ping_pong_each_way:
            why = (
                f"ping-pong: {cause}→{agent} {n} and {agent}→{cause} {back} proposals "
                f"in {policy.window_minutes} min"
            )
            found.append(pause("pause_pair", pair_of(cause, agent), why, policy))
    return found


def storm(policy) -> list:
    last_minute = Reaction.objects.filter(created_at__gte=Now() - timedelta(minutes=1))
    count = last_minute.count()
    if count < policy.reactions_per_minute:
        return []
    newest = list(last_minute.order_by("-id").values_list("id", flat=True)[:5])
    why = (
        f"reaction storm: {count} reactions in the last minute (threshold "
        f"{policy.reactions_per_minute}); latest {newest}"
    )
    return [pause("pause_lane", "reactions", why, policy)]


def repeated_titles(recent, policy) -> list:
    rows = (
        recent.values("agent_id", "title")
        .annotate(n=Count("id"))
        .filter(n__gte=policy.repeated_title)
        .order_by()
    )
    found = []
    for row in rows:
        found.append(stop_repeats(recent.filter(**row_filter(row)), row, policy))
    return found


def row_filter(row: dict) -> dict:
    return {"agent_id": row["agent_id"], "title": row["title"]}


def stop_repeats(proposals, row: dict, policy) -> str | None:
    latest = proposals.select_related("cause_event").order_by("-id").first()
    why = (
        f"the same proposal {row['title'][:80]!r} by {row['agent_id']} {row['n']} times in "
        f"{policy.window_minutes} min (latest P{latest.id})"
    )
    kind, _, ref = latest.cause_ref.partition(":")
    if kind == "trigger_rule" and ref.isdigit():
        rule = TriggerRule.objects.filter(pk=int(ref)).first()
        if rule is not None:
            return pause("pause_rule", rule.name, why, policy)
    if latest.source == ProposalSource.REACTION and latest.cause_event is not None:
        cause = latest.cause_event.agent_id or SYSTEM
        return pause("pause_pair", pair_of(cause, latest.agent_id), why, policy)
    if Event.objects.filter(kind="runaway.detected", payload__proposal=latest.id).exists():
        return None  # said once per proposal: an alert that repeats every beat is noise
    record_event(
        "runaway.detected",
        why,
        tags=["alert", "runaway"],
        actor=ACTOR,
        agent_id=latest.agent_id,
        payload={"proposal": latest.id},
    )
    return None
